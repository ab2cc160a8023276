"""Every entry point as the README's exit-code table states it: a usage error (invoke's own parser included)
is one line on stderr and exit 2; `invoke verify --list` and `--torch-timeout`; `invoke provision --host`
cannot add lines to the ad-hoc inventory (security review F16)."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent


def _argv(words):
    """A README command (`invoke verify`, `xpu-ops status`, `python -m checks`, `bin/setup`) as argv here."""
    head, rest = words[0], words[1:]
    if head == "invoke":
        return [sys.executable, "-m", "invoke", *rest]
    if head == "python":
        return [sys.executable, *rest]
    if head == "bin/setup":
        return [str(ROOT / "bin" / "setup"), *rest]
    return [str(BIN / head), *rest]


def _run(argv, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPU_MANAGER_", "XPU_OPS_"))}
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(env, PYTHONPATH=str(ROOT)), **kw)


def readme_table():
    """{entry point: {"0": ..., "1": ..., "2": ..., "other": ...}} from the README's exit-code table."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| entry point | 0 | 1 | 2 |"))
    table = {}
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip("|").split("|")]
        for cmd in re.findall(r"`([^`]+)`", cells[0]):
            table[cmd] = dict(zip(("0", "1", "2", "other"), cells[1:]))
    return table


def test_the_table_covers_every_console_script_and_task():
    table = readme_table()
    pyproject = (ROOT / "pyproject.toml").read_text()
    scripts = re.findall(r"^(\S+) = \"[\w.]+:main\"$", pyproject.split("[project.scripts]")[1], re.M)
    assert scripts and all(any(cmd.split()[0] == s for cmd in table) for s in scripts)
    tasks = ("verify", "provision", "status", "metrics", "serve", "render-compose")
    assert all("invoke " + t in table for t in tasks)
    assert all("usage" in row["2"] or "unknown option" in row["2"] for row in table.values())


@pytest.mark.parametrize("cmd", sorted(readme_table()))
def test_a_typo_exits_2_with_one_line_everywhere(cmd):
    r = _run(_argv(cmd.split()) + ["--no-such-flag"])
    assert r.returncode == 2, (cmd, r.returncode, r.stderr)
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr and "--no-such-flag" in r.stderr


@pytest.mark.parametrize("args", [("verify", "--timeout"), ("provision", "--host"), ("no-such-task",),
                                  ("metrics", "--device-id"), ("verify", "--json", "--nope", "x"),
                                  ("--bogus", "verify"), ("-z", "verify"), ("--bogus",)])
def test_invoke_parse_errors_are_usage_errors(args):
    r = _run(_argv(["invoke", *args]))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith("invoke: error: ")


def test_invoke_verify_list_lists_the_checks():
    r = _run(_argv(["invoke", "verify", "--list"]))
    ids = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
    assert r.returncode == 0 and "Available tasks" not in r.stdout
    assert {"pci.gpu", "kernel.driver", "torch.xpu"} <= set(ids)


def test_invoke_verify_takes_torch_timeout():
    import json

    r = _run(_argv(["invoke", "verify", "--only", "torch.xpu", "--torch-timeout", "0.01", "--json"]))
    assert r.returncode in (0, 1), r.stderr
    torch = json.loads(r.stdout)["checks"][0]
    assert "did not finish within" in torch["detail"]        # the probe got 0.01 s, not the default 60


@pytest.mark.parametrize("spec", [
    "x\n[all:vars]\nansible_ssh_common_args=-oProxyCommand=id\nz=@gpu1",   # the review's reproduction
    "root@gpu1 ansible_ssh_common_args=-oProxyCommand=id",
    "-oProxyCommand=id",
    "root@gpu1:22\tansible_become_exe=id",
])
def test_provision_host_cannot_inject_inventory_lines(spec):
    r = _run(_argv(["invoke", "provision", "--host", spec]))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, (r.returncode, r.stderr)
    assert "cannot read host" in r.stderr


def test_adhoc_inventory_of_a_good_spec_is_one_host_line():
    import tasks

    text = tasks._adhoc_inventory("ops@gpu07.example:2222")
    assert text.splitlines() == ["[adhoc]", "ops@gpu07.example:2222 ansible_host=gpu07.example ansible_user=ops "
                                            "ansible_port=2222"]
