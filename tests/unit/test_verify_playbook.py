"""playbooks/verify.yml on this machine (Ansible's local connection, no become): the checks run the way
`invoke verify --host` runs them (python3 -E -s -c LOADER, the zipapp on stdin, from memory), the report is
kept on the control host, a host whose checks cannot run is failed with the reason."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

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


RACER = r'''
import os, sys, time
marker_dir, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
payload = "import os\nopen(%r, 'w').write('payload ran as uid=%%d' %% os.getuid())\n" % (marker_dir + "/PWNED",)
mine = []
started = time.time() - 1
for p in ("/var/tmp/xpu-ops-checks.pyz", "/tmp/xpu-ops-checks.pyz"):     # the old fixed path, and its twin
    try:
        with open(p, "x") as f:
            f.write(payload)
        os.chmod(p, 0o666)
        mine.append(p)
    except OSError:
        pass
print("ready", *mine, flush=True)
seen = set()
while time.monotonic() < deadline and not os.path.exists(marker_dir + "/stop"):
    for d in ("/tmp", "/var/tmp"):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            if p in mine or p in seen or "xpu" not in n.lower() or n.startswith("xpu-ops-f1-"):
                continue
            seen.add(p)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if st.st_uid == 0 and st.st_mtime >= started and os.access(p, os.W_OK):   # ours, this run: noted only
                print("writable", p, flush=True)
    time.sleep(0.005)
'''


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_f1_an_unprivileged_racer_never_gets_its_code_run(tmp_path):
    """Security review F1: a local user pre-creates the fixed path the checks were once copied to (and
    watches /tmp and /var/tmp for anything of ours it could rewrite) while the playbook runs as root."""
    marker_dir = tempfile.mkdtemp(prefix="xpu-ops-f1-")
    os.chmod(marker_dir, 0o777)
    racer = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                              RACER, marker_dir, "240"], stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        ready = racer.stdout.readline().split()
        assert ready[:1] == ["ready"]
        r = run_playbook(tmp_path, "-e", json.dumps({"xpu_ops_verify_args": "--only platform"}))
        open(os.path.join(marker_dir, "stop"), "w").close()
        noted, _ = racer.communicate(timeout=30)
        assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
        assert not os.path.exists(os.path.join(marker_dir, "PWNED"))
        assert "writable" not in noted, noted
        report = json.loads((tmp_path / "reports" / "localhost.json").read_text())
        assert [(c["id"], c["status"]) for c in report["checks"]] == [("platform", "pass")]
        for p in ready[1:]:                                        # untouched by the playbook
            assert os.stat(p).st_uid == 65534 and "PWNED" in Path(p).read_text()
    finally:
        if racer.poll() is None:
            racer.kill()
        for p in ready[1:] if "ready" in locals() else ():
            os.unlink(p)
        shutil.rmtree(marker_dir)
