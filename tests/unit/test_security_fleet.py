"""Fleet verify against hosts that answer with a broken or hostile report (security review F8, F14): the
host stand-in is tests/support/hostile_host.py on the local connection, beside a healthy host."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.fleet_formats import parse_prometheus, validate_json, validate_junit

REPO = Path(__file__).resolve().parents[2]
HOSTILE = REPO / "tests" / "support" / "hostile_host.py"
UNSAFE = "\x1b\x07\x9b\x00\x0c"


def _interpreter(tmp_path, mode):
    p = tmp_path / ("py-" + mode)
    p.write_text('#!/bin/sh\nexec %s %s %s "$@"\n' % (sys.executable, HOSTILE, mode))
    p.chmod(0o755)
    return p


def _remote(*args):
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "xpu_ops.remote", *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def inventory(tmp_path):
    inv = tmp_path / "fleet.ini"
    inv.write_text("".join(
        "%s ansible_connection=local ansible_python_interpreter=%s\n" % (name, py) for name, py in (
            ("bogus", _interpreter(tmp_path, "bogus-status")), ("escapes", _interpreter(tmp_path, "escapes")),
            ("notreport", _interpreter(tmp_path, "not-a-report")), ("good", sys.executable))))
    return inv


def test_f8_a_bad_report_is_that_hosts_error_and_the_fleet_still_reports(inventory, tmp_path):
    junit, prom = tmp_path / "fleet.xml", tmp_path / "xpu_ops.prom"
    r = _remote("--inventory", inventory, "--only", "platform", "--json", "--junit", junit, "--prometheus", prom)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    f = json.loads(r.stdout)
    validate_json(f)
    h = f["hosts"]
    assert h["good"]["status"] == "ok" and h["good"]["results"]["platform"]["status"] == "pass"
    assert h["escapes"]["status"] == "ok"                     # well-formed: kept, its text made safe
    for name, says in (("bogus", "check platform has status 'bogus'"), ("notreport", "no JSON report")):
        assert (h[name]["status"], h[name]["error_kind"]) == ("unreachable", "error"), h[name]
        assert says in h[name]["error"], h[name]["error"]
    validate_junit(junit)
    m = parse_prometheus(prom.read_text())
    assert m[("xpu_ops_check_status", (("check", "platform"), ("host", "good")))] == 0
    assert m[("xpu_ops_check_status", (("check", "platform"), ("host", "bogus")))] == 4


def test_f8_one_hosts_bad_report_alone(inventory):
    r = _remote("--inventory", inventory, "--host", "bogus", "--only", "platform")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().endswith("the checks' report is not valid: check platform has status 'bogus' "
                                     "(not one of pass/warn/fail/skip)"), r.stderr


def test_f14_a_hosts_escapes_reach_neither_terminal_nor_files(inventory, tmp_path):
    junit = tmp_path / "fleet.xml"
    r = _remote("--inventory", inventory, "--only", "platform", "--junit", junit)
    for out in (r.stdout, r.stderr, junit.read_text()):
        assert not any(ch in out for ch in UNSAFE), repr(out[:400])
    assert "escapes: warning: \\x1b]0;owned\\x07" in r.stderr          # shown, not obeyed
    validate_junit(junit)
    one = _remote("--inventory", inventory, "--host", "escapes", "--only", "platform", "--junit", junit)
    assert one.returncode == 0, one.stderr
    for out in (one.stdout, one.stderr, junit.read_text()):
        assert not any(ch in out for ch in UNSAFE), repr(out[:400])
    assert "Debian 12 \\x1b]0;owned\\x07" in one.stdout


def test_f8_a_host_that_floods_stdout_is_cut_off(tmp_path):
    inv = tmp_path / "flood.ini"
    inv.write_text("flood ansible_connection=local ansible_python_interpreter=%s\n"
                   "good ansible_connection=local ansible_python_interpreter=%s\n"
                   % (_interpreter(tmp_path, "flood"), sys.executable))
    r = _remote("--inventory", inv, "--only", "platform", "--json", "--timeout", "60")
    f = json.loads(r.stdout)
    assert f["hosts"]["flood"]["error"] == "the host sent more than 16 MiB on stdout: cut off", f["hosts"]["flood"]
    assert f["hosts"]["flood"]["seconds"] < 30 and f["hosts"]["good"]["status"] == "ok"
