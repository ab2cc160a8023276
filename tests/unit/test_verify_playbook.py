"""playbooks/verify.yml on this machine (Ansible's local connection, no become): the checks run the way
`invoke verify --host` runs them (python3 -E -s -c LOADER, the zipapp on stdin, from memory), the report is
kept on the control host, a host whose checks cannot run is failed with the reason."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from xpu_ops import zipapp

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))


def run_playbook(tmp_path, *extra):
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "XPU_OPS_SUMMARY_JSON": str(tmp_path / "summary.json")}
    return subprocess.run([PLAYBOOK, str(REPO / "playbooks" / "verify.yml"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "xpu_ops_become=false",
                           "-e", "xpu_ops_report_dir=%s" % (tmp_path / "reports"), "-v", *extra],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)


def pyz_files():
    return {p for d in ("/tmp", "/var/tmp") for p in Path(d).glob("*.pyz")}


def test_checks_run_from_stdin_and_the_report_is_kept(tmp_path):
    before = pyz_files()
    r = run_playbook(tmp_path, "-e", json.dumps({"xpu_ops_verify_args": "--only platform"}))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    report = json.loads((tmp_path / "reports" / "localhost.json").read_text())
    assert [(c["id"], c["status"]) for c in report["checks"]] == [("platform", "pass")]
    assert report["environment"]["hostname"] == socket.gethostname()
    assert "localhost: OK: 1 passed, 0 failed" in out                          # the fleet summary
    # the command the host ran: python3, the loader, the checks' options; no file of the checks anywhere
    run = out[out.index("TASK [Run the checks (python3, the zipapp on stdin"):]
    run = run[:run.index("TASK [", 10)]
    assert json.dumps(zipapp.LOADER) in run and "--json" in run
    assert ".pyz" not in run and "/var/tmp" not in run
    assert pyz_files() <= before


def test_checks_that_cannot_run_fail_the_host_with_the_reason(tmp_path):
    r = run_playbook(tmp_path, "-e", json.dumps({"xpu_ops_verify_args": ["--only", "nosuch"]}))
    out = r.stdout + r.stderr
    assert r.returncode == 2, out[-4000:]
    assert "localhost: NOT VERIFIED: the checks could not run (exit 2): " \
           "xpu-ops verify: error: unknown check id 'nosuch'" in out
    assert not (tmp_path / "reports" / "localhost.json").exists()
