"""Invoke tasks: a thin face over the checks, ansible-playbook and the HTTP service.

Each task turns options into one call; the logic lives in the `checks` package,
the roles and the playbooks, where tests reach it directly.
"""
import os
import sys

from invoke import task

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable


def _q(s):
    import shlex
    return shlex.quote(str(s))


@task(
    help={
        "root": "read /sys, /dev, /proc, /etc, /lib, /usr under this directory (default /)",
        "json": "print the report as one JSON object",
        "junit": "also write a JUnit XML report to this file",
        "user": "whose access to check (default: the invoking user)",
        "xpum_url": "XPU Manager URL (else $XPU_MANAGER_URL, else the upstream defaults)",
        "ca_file": "CA certificate to verify the XPU Manager's TLS certificate",
        "insecure": "do not verify the XPU Manager's TLS certificate",
        "credentials_file": "file with XPU Manager credentials (user:password or KEY=VALUE lines)",
        "python": "interpreter whose PyTorch to probe (default: this one)",
        "only": "comma-separated check ids to run",
        "skip": "comma-separated check ids to skip",
        "timeout": "seconds for each slow probe (HTTP, torch child)",
    },
)
def verify(c, root=None, json=False, junit=None, user=None, xpum_url=None, ca_file=None, insecure=False,
           credentials_file=None, python=None, only=None, skip=None, timeout=None):
    """Check this machine's Intel GPU stack and say what to fix (exit 0 ok, 1 failed, 2 usage)."""
    args = [PY, "-m", "checks"]
    for flag, val in (("--root", root), ("--junit", junit), ("--user", user), ("--xpum-url", xpum_url),
                      ("--ca-file", ca_file), ("--credentials-file", credentials_file),
                      ("--python", python), ("--only", only), ("--skip", skip), ("--timeout", timeout)):
        if val is not None:
            args += [flag, str(val)]
    if json:
        args.append("--json")
    if insecure:
        args.append("--insecure")
    r = c.run(" ".join(_q(a) for a in args), warn=True, pty=False, env={"PYTHONPATH": HERE})
    sys.exit(r.exited)


@task(help={"hosts": "also run the tests that build real test hosts (default: yes)"})
def test(c, hosts=True):
    """Run the test suite: lint, fast unit tests first, then tests on real test hosts."""
    with c.cd(HERE):
        c.run(f"{_q(PY)} -m ruff check checks tests tasks.py")
        c.run(f"{_q(PY)} -m pytest -q -m 'not hosts'")
        if hosts:
            r = c.run(f"{_q(PY)} -m pytest -q -m hosts", warn=True)
            if r.exited not in (0, 5):  # 5 = no test collected
                sys.exit(r.exited)
