"""Fleet verify without test hosts: hosts on the local connection (the zipapp runs here), a closed port, a
port that accepts and never speaks; the report dict, grouping by cause, the JSON Schema, JUnit against an
XSD, the Prometheus file through prometheus_client's parser, progress on a terminal, exit codes."""
import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xpu_ops import fleet as F
from xpu_ops import remote

from tests.support.fleet_formats import parse_prometheus, validate_json, validate_junit
from tests.support.xpum_standins import SilentListener

REPO = Path(__file__).resolve().parents[2]
def run_remote(*args, timeout=120, **kw):
    env = {**os.environ, "NO_COLOR": "1"}
    kw = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw}
    return subprocess.run([sys.executable, "-m", "xpu_ops.remote", *map(str, args)], cwd=REPO, env=env,
                          text=True, timeout=timeout, **kw)


# ------------------------------------------------------------------------------------ report dict

def _outcome(name, checks=None, error=None, kind=None, host_name=None):
    t = remote.Target(name=name, host="10.0.0.%d" % (sum(map(ord, name)) % 200 + 1), user="root", port=22)
    if error:
        return remote.Outcome(target=t, error=error.format(addr=t.host), kind=kind, seconds=0.5)
    rep = {"ok": not any(s == "fail" for _, s, _, _ in checks),
           "summary": {k: sum(s == k for _, s, _, _ in checks) for k in ("pass", "warn", "fail", "skip")},
           "environment": {"hostname": host_name or name}, "gpus": [],
           "checks": [{"id": cid, "status": s, "title": cid, "detail": d, "remedy": r, "evidence": {}}
                      for cid, s, d, r in checks]}
    return remote.Outcome(target=t, report=rep, exit=0 if rep["ok"] else 1, seconds=0.4)


def _fleet():
    outs = []
    for i in range(12):
        name = "gpu%02d" % i
        outs.append(_outcome(name, [
            ("platform", "pass", "Debian 12", ""),
            ("dri.access", "fail", "user ops is not in group render of /dev/dri/renderD128",
             "sudo usermod -aG render ops   # on %s, then log in again" % name)]))
    outs.append(_outcome("gpu12", [("platform", "pass", "Debian 12", ""),
                                   ("dri.access", "pass", "ops can open /dev/dri/renderD128", "")]))
    outs.append(_outcome("gpu13", [("platform", "warn", "Ubuntu 20.04 is not supported", "upgrade"),
                                   ("dri.access", "pass", "ops can open /dev/dri/renderD128", "")]))
    outs.append(_outcome("down1", error="ssh: connect to host {addr} port 22: Connection refused", kind="refused"))
    outs.append(_outcome("down2", error="ssh: connect to host {addr} port 22: Connection refused", kind="refused"))
    outs.append(_outcome("slow", error="no answer within 5 s (raise --host-timeout?)", kind="timeout"))
    return F.fleet_report(outs, ["platform", "dri.access"], 1000.0, 1004.5)


def test_report_groups_causes_and_counts():
    f = _fleet()
    validate_json(f)
    assert f["ok"] is False and F.exit_code(f) == 1
    assert f["summary"] == {"hosts": 17, "ok": 2, "fail": 12, "unreachable": 3,
                            "unreachable_by_kind": {"refused": 2, "timeout": 1},
                            "checks": {"pass": 15, "warn": 1, "fail": 12, "skip": 0, "unreachable": 6}}
    first = f["causes"][0]     # unreachable first, the biggest group first
    assert (first["status"], first["error_kind"], first["count"]) == ("unreachable", "refused", 2)
    # the first host's own words, never a literal placeholder ("{host} port {port}" read as a formatting slip)
    down1 = _outcome("down1", error="x", kind="refused").target.host
    assert first["detail"] == f"ssh: connect to host {down1} port 22: Connection refused"
    assert first["hosts"] == ["down1", "down2"]
    render = next(c for c in f["causes"] if c["check"] == "dri.access")
    assert render["count"] == 12 and render["hosts"] == ["gpu%02d" % i for i in range(12)]
    assert render["remedy"] == "sudo usermod -aG render ops   # on gpu00, then log in again"
    warn = next(c for c in f["causes"] if c["status"] == "warn")
    assert warn["hosts"] == ["gpu13"] and warn["remedy"] == "upgrade"      # one host: its own words
    assert f["hosts"]["slow"]["results"]["platform"]["status"] == "unreachable"
    text = F.render_fleet_text(f)
    assert "12 hosts: dri.access: user ops is not in group render of /dev/dri/renderD128" in text
    assert "hosts: gpu00, gpu01, gpu02, gpu03, gpu04, gpu05, gpu06, gpu07, ... (+4 more)" in text
    assert "> sudo usermod -aG render ops   # on gpu00, then log in again" in text
    assert "(as on gpu00)" in text and "(as on down1)" in text
    assert "{host}" not in text and "{port}" not in text
    assert "UNREACHABLE (timeout): no answer within 5 s" in text
    assert text.rstrip().splitlines()[-1] == (
        "17 hosts: 2 ok, 12 failed, 3 unreachable (refused 2, timeout 1); checks: 15 pass, 1 warn, 12 fail, "
        "0 skip; 4.5 s: NOT OK")
    row = next(x for x in text.splitlines() if x.startswith("gpu13 "))
    assert row.split() == ["gpu13", "WARN", "pass"]


def test_normalize_keeps_words_that_only_contain_the_host_name():
    assert F._normalize("no GPU here (host here-2 is up)", ["here"]) == "no GPU {host} (host here-2 is up)"
    assert F._normalize("ssh gpu1.example:2222 failed", ["gpu1.example"]) == "ssh {host}:{port} failed"


def test_prometheus_text_and_atomic_write(tmp_path):
    f = _fleet()
    path = tmp_path / "xpu_ops.prom"
    path.write_text("old\n")
    F.write_atomic(str(path), F.render_prometheus(f))
    m = parse_prometheus(path.read_text())
    assert m[("xpu_ops_check_status", (("check", "dri.access"), ("host", "gpu00")))] == 2
    assert m[("xpu_ops_check_status", (("check", "platform"), ("host", "gpu13")))] == 1
    assert m[("xpu_ops_check_status", (("check", "platform"), ("host", "slow")))] == 4
    assert m[("xpu_ops_host_up", (("host", "down1"), ("reason", "refused")))] == 0
    assert m[("xpu_ops_host_up", (("host", "gpu12"), ("reason", "")))] == 1
    assert m[("xpu_ops_last_run_timestamp_seconds", ())] == 1004.5
    assert m[("xpu_ops_fleet_ok", ())] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xpu_ops.prom"]     # no temp file left
    assert (path.stat().st_mode & 0o777) == 0o644


def test_junit_has_a_testcase_per_host_and_check(tmp_path):
    path = tmp_path / "fleet.xml"
    path.write_text(F.render_fleet_junit(_fleet()))
    root = validate_junit(path)
    suites = {s.get("hostname"): s for s in root.iter("testsuite")}
    assert len(suites) == 17 and all(len(s.findall("testcase")) == 2 for s in suites.values())
    case = suites["gpu00"].find("testcase[@name='dri.access']")
    assert case.get("classname") == "xpu-ops.gpu00" and case.find("failure") is not None
    err = suites["slow"].find("testcase[@name='platform']/error")
    assert err.get("type") == "timeout" and "no answer within 5 s" in err.get("message")
    assert root.get("failures") == "12" and root.get("errors") == "6"


class _Tty:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_only_on_a_terminal():
    out = _Tty()
    p = F.Progress(3, stream=out)
    for o in (_outcome("a", [("platform", "pass", "", "")]), _outcome("b", error="x", kind="refused"),
              _outcome("c", [("platform", "fail", "", "")])):
        p(o)
    p.close()
    assert "verify: 0/3 hosts done" in out.text
    assert "verify: 3/3 hosts done (1 failed, 1 unreachable)" in out.text
    assert out.text.endswith("\r")
    quiet = _Tty()
    quiet.isatty = lambda: False
    F.Progress(3, stream=quiet)(_outcome("a", [("platform", "pass", "", "")]))
    assert quiet.text == ""


# ------------------------------------------------------------------------------------ for real, no test hosts

@pytest.fixture
def fleet_inventory(tmp_path):
    """Two hosts on the local connection, one without python3, a closed port and one that never speaks."""
    silent = SilentListener(max_seconds=60).start()
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    inv = tmp_path / "fleet.ini"
    inv.write_text(
        "[gpu]\n"
        f"here-1 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        f"here-2 ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        "nopython ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n"
        "[down]\n"
        f"closed ansible_host=127.0.0.1 ansible_port={closed}\n"
        f"hangs ansible_host=127.0.0.1 ansible_port={silent.port}\n"
        "[all:vars]\n"
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n")
    yield inv
    silent.stop()


def test_fleet_of_local_and_broken_hosts(fleet_inventory, tmp_path):
    junit, prom = tmp_path / "out" / "fleet.xml", tmp_path / "out" / "xpu_ops.prom"
    junit.parent.mkdir()
    t0 = time.monotonic()
    r = run_remote("--inventory", fleet_inventory, "--only", "platform,pci.gpu", "--timeout", "4", "--forks", "5",
                   "--json", "--junit", junit, "--prometheus", prom)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert took < 30, took                     # the hanging host is cut at 4 s; the others do not wait
    f = json.loads(r.stdout)
    validate_json(f)
    h = f["hosts"]
    assert list(h) == ["closed", "hangs", "here-1", "here-2", "nopython"]
    assert (h["closed"]["status"], h["closed"]["error_kind"]) == ("unreachable", "refused")
    assert (h["hangs"]["status"], h["hangs"]["error_kind"]) == ("unreachable", "timeout")
    assert h["hangs"]["seconds"] >= 3.9
    assert (h["nopython"]["status"], h["nopython"]["error_kind"]) == ("unreachable", "no_python")
    for name in ("here-1", "here-2"):
        assert h[name]["status"] == "fail" and h[name]["results"]["platform"]["status"] == "pass"
        assert h[name]["results"]["pci.gpu"]["status"] == "fail"
    gpu = next(c for c in f["causes"] if c["check"] == "pci.gpu")
    assert gpu["hosts"] == ["here-1", "here-2"]
    root = validate_junit(junit)
    assert len(list(root.iter("testcase"))) == 10
    m = parse_prometheus(prom.read_text())
    assert m[("xpu_ops_check_status", (("check", "pci.gpu"), ("host", "here-1")))] == 2
    assert m[("xpu_ops_check_status", (("check", "platform"), ("host", "hangs")))] == 4
    assert sorted(p.name for p in prom.parent.iterdir()) == ["fleet.xml", "xpu_ops.prom"]
    # --limit narrows the inventory; the report stays a fleet report for one host.
    r = run_remote("--inventory", fleet_inventory, "--limit", "gpu:!nopython", "--only", "platform", "--json")
    assert r.returncode == 0, r.stderr
    f = json.loads(r.stdout)
    validate_json(f)
    assert list(f["hosts"]) == ["here-1", "here-2"] and f["ok"] is True


def test_text_report_and_progress_on_a_terminal(fleet_inventory):
    master, slave = pty.openpty()
    try:
        r = run_remote("--inventory", fleet_inventory, "--limit", "gpu:closed", "--only", "platform",
                       stderr=slave)
        os.close(slave)
        slave = None
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    err = err.decode()
    assert r.returncode == 1
    assert "verify: 0/4 hosts done" in err and "verify: 4/4 hosts done (0 failed, 2 unreachable)" in err
    lines = r.stdout.splitlines()
    assert lines[0] == "xpu-ops fleet verify: 4 hosts, 1 check"
    assert lines[2].split() == ["host", "platform"]
    assert lines[3].split(None, 1) == ["closed", lines[3].split(None, 1)[1]]
    assert lines[3].split(None, 1)[1].startswith("UNREACHABLE (refused): ssh: connect to host 127.0.0.1 port")
    assert lines[4].split() == ["here-1", "pass"]
    assert lines[-1].startswith("4 hosts: 2 ok, 0 failed, 2 unreachable (no_python 1, refused 1)")


def test_no_progress_without_a_terminal(fleet_inventory):
    r = run_remote("--inventory", fleet_inventory, "--limit", "here-*", "--only", "platform")
    assert r.returncode == 0, r.stderr
    assert "hosts done" not in r.stderr and r.stderr == ""


@pytest.mark.parametrize("args, says", [
    (["--forks", "0"], "--forks must be 1 or more"),
    (["--timeout", "0"], "the host timeout must be more than 0 s"),
    (["--only", "nosuch"], "unknown check id 'nosuch'"),
    (["--limit", "nosuchgroup"], "no host matches"),
    (["--prometheus", "/nonexistent/dir/x.prom"], "no such folder"),
])
def test_usage_errors_exit_2_with_one_line(fleet_inventory, args, says):
    r = run_remote("--inventory", fleet_inventory, *args)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert r.returncode == 2 and len(lines) == 1 and says in lines[0], r.stderr
    assert r.stdout == ""


def test_limit_needs_inventory():
    r = run_remote("--host", "root@127.0.0.1:1", "--limit", "x")
    assert r.returncode == 2 and "--limit needs --inventory" in r.stderr
