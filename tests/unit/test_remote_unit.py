"""xpu_ops.remote without test hosts: host specs, inventories (through ansible-inventory), the ssh
command line, and a real run on this machine through the local connection (same wrapper, no ssh)."""
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from xpu_ops import remote

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("spec, want", [
    ("host", (None, "host", None)),
    ("root@10.0.0.5", ("root", "10.0.0.5", None)),
    ("ops@gpu-01.example:2222", ("ops", "gpu-01.example", 2222)),
    ("[::1]:22", (None, "::1", 22)),
    ("me@[fe80::1]", ("me", "fe80::1", None)),
])
def test_parse_spec(spec, want):
    t = remote.parse_spec(spec)
    assert (t.user, t.host, t.port) == want and t.name == spec and t.label == spec


@pytest.mark.parametrize("spec", ["", "root@", "a b", "host:x", "host:70000", "@host", "a@b@c"])
def test_parse_spec_rejects(spec):
    with pytest.raises(remote.UsageError):
        remote.parse_spec(spec)


def test_ssh_command_quotes_one_string_for_the_login_shell():
    t = remote.Target(name="h", host="127.0.0.1", user="root", port=2222, key="/k", ssh_args=["-o", "A=b"])
    cmd = remote.ssh_command(t, ["python3", "--json", "--only", "a b;$(x)"])
    assert cmd[:1] == ["ssh"] and "BatchMode=yes" in cmd
    i = cmd.index("--")
    assert cmd[i + 1] == "127.0.0.1" and len(cmd) == i + 3
    assert cmd[cmd.index("-p") + 1] == "2222" and cmd[cmd.index("-l") + 1] == "root" and "A=b" in cmd
    words = shlex.split(cmd[-1])
    assert words[:2] == ["sh", "-c"] and words[2] == remote.REMOTE_SH
    assert words[3:] == ["xpu-ops-verify", "python3", "--json", "--only", "a b;$(x)"]


def test_inventory_targets(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text(
        "[gpu]\n"
        "a ansible_host=127.0.0.1 ansible_port=2201 ansible_user=ops ansible_ssh_private_key_file=~/k "
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no' ansible_python_interpreter=/usr/bin/py3\n"
        "b ansible_host=127.0.0.2\n"
        "[other]\n"
        "c ansible_connection=local ansible_python_interpreter=auto_silent\n"
        "[gpu:vars]\n"
        "ansible_ssh_extra_args='-o ConnectTimeout=5'\n")
    a, b = remote.inventory_targets(str(inv), "gpu")
    assert (a.name, a.host, a.port, a.user, a.python) == ("a", "127.0.0.1", 2201, "ops", "/usr/bin/py3")
    assert a.key == str(Path("~/k").expanduser())
    assert a.ssh_args == ["-o", "StrictHostKeyChecking=no", "-o", "ConnectTimeout=5"]
    assert a.label == "a (ops@127.0.0.1:2201)"
    assert (b.host, b.port, b.user, b.python) == ("127.0.0.2", None, None, "python3")
    (c,) = remote.inventory_targets(str(inv), "c")
    assert c.connection == "local" and c.python == "python3"
    assert [t.name for t in remote.inventory_targets(str(inv))] == ["a", "b", "c"]
    with pytest.raises(remote.UsageError, match="no host matches 'nosuch'"):
        remote.inventory_targets(str(inv), "nosuch")
    with pytest.raises(remote.UsageError, match="no such file"):
        remote.inventory_targets(str(tmp_path / "missing.ini"))


def test_templated_inventory_value_is_refused(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("h ansible_host='{{ lookup(\"env\", \"H\") }}'\n")
    with pytest.raises(remote.UsageError, match="is a template"):
        remote.inventory_targets(str(inv))


def test_local_connection_runs_the_zipapp_here(tmp_path):
    """The wrapper script and the zipapp for real, without ssh: a report of this machine comes back."""
    from xpu_ops import zipapp
    t = remote.Target(name="here", connection="local", python=sys.executable)
    out = remote.run_target(t, zipapp.stdin_bytes(zipapp.build()), ["--only", "platform"], timeout=120)
    assert out.error is None and out.exit == 0, out
    assert [c["id"] for c in out.report["checks"]] == ["platform"]
    missing = remote.run_target(remote.Target(name="here", connection="local", python="no-such-python3"),
                                b"", [], timeout=60)
    assert missing.report is None and "no no-such-python3 on the host" in missing.error


def test_cli_usage_errors_are_one_line():
    for args in ([], ["--host", "x", "--bogus"], ["--host", "x", "--key", "/nonexistent/key"]):
        r = subprocess.run([sys.executable, "-m", "xpu_ops.remote", *args], cwd=REPO, capture_output=True,
                           text=True, timeout=60)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert lines[0].startswith("xpu-ops verify: error: ")
        assert r.stdout == ""


def test_json_of_a_fleet_names_each_host(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"here ansible_connection=local ansible_python_interpreter={sys.executable}\n"
                   "gone ansible_host=127.0.0.1 ansible_port=1\n")
    r = subprocess.run([sys.executable, "-m", "xpu_ops.remote", "--inventory", str(inv), "--json",
                        "--only", "platform"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] is False and set(data["hosts"]) == {"here", "gone"}
    assert data["hosts"]["here"]["ok"] is True
    assert "Connection refused" in data["hosts"]["gone"]["error"]


def test_remote_verify_starts_without_the_monitor_or_http_libraries():
    """`invoke verify --host` imports the control side only: not xpu_ops.monitor, httpx, FastAPI."""
    code = ("import sys, xpu_ops.remote, xpu_ops.fleet, xpu_ops.zipapp, xpu_ops.inventory\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('httpx', 'prometheus_client', 'fastapi', 'uvicorn') or m == 'xpu_ops.monitor'))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-c", "import xpu_ops; print(xpu_ops.XPUMonitorService.__module__)"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "xpu_ops.monitor", r.stderr          # still there on first use
