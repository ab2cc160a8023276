"""Run one `python -m checks SUBCOMMAND` on hosts over SSH, from the checks zipapp on stdin (nothing written there).

The operate commands (diag, bundle) use it as verify does (``xpu_ops.remote``): the same targets (--host, or an
Ansible inventory and pattern), the same ssh options and the same loader; what comes back is the raw stdout,
stderr and exit code, which each command reads its own way.
"""
from __future__ import annotations

import argparse
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from checks.foreign import clean
from xpu_ops import remote
from xpu_ops.inventory import UsageError  # noqa: F401  (re-exported for the commands)


# What we keep of a host's answer: diag's report is kilobytes, bundle's tarball (logs, sysfs text, package lists)
# megabytes. A host that sends more is cut off, as verify cuts one off at remote.MAX_STDOUT.
MAX_STDOUT = 256 << 20


@dataclass
class Ran:
    target: object
    code: int = 2
    stdout: bytes = b""
    stderr: str = ""
    error: str | None = None       # why the host could not run it at all (one line)
    seconds: float = 0.0


def add_target_options(p):
    p.add_argument("--host", help="[user@]host[:port], or with --inventory a host, group or pattern")
    p.add_argument("--inventory", help="Ansible inventory file")
    p.add_argument("--key", help="SSH private key (overrides the inventory's)")
    p.add_argument("--no-host-key-check", action="store_true",
                   help="do not check the SSH host key (throw-away test hosts only)")
    p.add_argument("--limit", help="with --inventory: only hosts matching this Ansible pattern too")
    p.add_argument("--forks", type=int, default=8, help="hosts at once (default 8)")
    p.add_argument("--host-timeout", type=float, default=3600.0, help="seconds for each host (default 3600)")
    p.add_argument("--interpreter", help="python on the target (default python3)")


def targets(a):
    """The targets of --host/--inventory (remote's own rules and errors)."""
    ns = argparse.Namespace(host=a.host, inventory=a.inventory, key=a.key, no_host_key_check=a.no_host_key_check,
                            limit=a.limit, forks=a.forks, timeout=None, ssh_args="", interpreter=a.interpreter)
    return remote.targets_of(ns)


def run_one(t, payload, argv, timeout) -> Ran:
    out = Ran(target=t)
    cmd = remote.ssh_command(t, [t.python, *argv])
    t0 = time.monotonic()
    try:
        r = remote._run_capped(cmd, payload, timeout, max_stdout=MAX_STDOUT)
    except subprocess.TimeoutExpired:
        out.error = "no answer within %g s (raise --host-timeout?)" % timeout
        return out
    except OSError as e:
        out.error = "cannot run %s: %s" % (cmd[0], e.strerror or e)
        return out
    out.seconds = time.monotonic() - t0
    if r.cut:
        out.error = "the host sent more than %d MiB on %s: cut off" % (
            (MAX_STDOUT if r.cut == "stdout" else remote.MAX_STDERR) >> 20, r.cut)
        return out
    # a host's stderr is foreign text: terminal escapes never reach our terminal (F14)
    out.code, out.stdout, out.stderr = r.returncode, r.stdout, clean(r.stderr.decode("utf-8", "replace"))
    last = remote._last_line(out.stderr)
    if r.returncode == remote.RC_SSH and t.connection == "ssh":
        out.error = "ssh: %s%s" % (last.removeprefix("ssh: ") or "connection failed", remote._ssh_hint(last, t))
    elif r.returncode == remote.RC_NO_PYTHON:
        out.error = last or "no python3 on the host"
    return out


def run_all(tgts, argv, timeout, forks=8) -> list:
    """Run `checks ARGV` on every target (forks at once); one Ran each, in the targets' order."""
    from xpu_ops import zipapp as Z
    payload = Z.stdin_bytes(Z.build())
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(tgts)))) as pool:
        return list(pool.map(lambda t: run_one(t, payload, argv, timeout), tgts))
