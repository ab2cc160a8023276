"""`invoke provision` ends by running verify (playbooks/verify.yml) on the hosts it provisioned: real host.

One Debian 12 systemd host (no GPU) gets the full default provision (Debian's Intel packages from the
archive) plus XPU Manager 1.x with REST through the test-built stand-in .deb (tests/test_provision.py),
with --diff and a known REST password. Asserted:

* verify ran on the host after provisioning: the checks zipapp (xpu_ops.zipapp) ran there from stdin
  with python3 only, its JSON report is on the control host, the XPU Manager checks logged in over TLS
  with the REST password (a 0600 temp file on the host, removed after);
* the host has no GPU, so pci.gpu fails: the host is failed with the failed check named, the fleet
  summary and the per-host summary say so, and `invoke provision` exits 1 (provisioned, checks fail)
  rather than ansible's 2;
* a re-run reports changed=0 (verify changes nothing);
* the REST password appears nowhere: not in what invoke and Ansible printed (also at -vvv), not in the
  --diff output, not in the reports and summaries on the control host, not in a file left on the host.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import testhosts as th
from tests.support.pypi_standin import Index, build_index
from tests.support.standin_deb import build_standin_deb

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
SECRET = "Verify-0nly-Kn0wn-Passw0rd-7"


def rest_pins(line):
    import yaml
    return yaml.safe_load((REPO / "roles/xpumanager/vars/main.yml").read_text())[
        "__xpumanager_rest_requirements_of_line"][line]


def provision(h, *args, tmp, env_extra=None):
    summary = tmp / f"summary-{time.monotonic_ns()}.json"
    env = {**os.environ, "XPU_OPS_SUMMARY_JSON": str(summary), "ANSIBLE_NOCOLOR": "1", **(env_extra or {})}
    cmd = [sys.executable, "-m", "invoke", "provision", "--host", h.spec, "--key", str(h.key),
           "--no-host-key-check", *args]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return r.returncode, r.stdout + r.stderr, data, took


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("provision-verify")


@pytest.mark.no_gpu
def test_provision_runs_verify_with_rest_and_leaks_no_secret(systemd_host, tmp, record_property, request):
    h = systemd_host(wait="system")
    deb = build_standin_deb(tmp)
    port = th.pick_port()                                   # the REST port (the host shares our network)
    reports = tmp / "reports"
    args = ["-e", "xpumanager_line=1.2", "-e", "xpumanager_source=local", "-e", f"xpumanager_deb_path={deb}",
            "-e", "xpumanager_rest_enabled=true", "-e", f"xpumanager_rest_password={SECRET}",
            "-e", f"xpumanager_rest_port={port}", "-e", f"xpu_ops_report_dir={reports}", "--diff"]
    index = Index(build_index(tmp / "index", rest_pins("1.2")))         # REST's pinned packages, stand-ins
    args += ["-e", f"xpumanager_rest_index_url={index.__enter__()}"]
    request.addfinalizer(lambda: index.__exit__(None, None, None))

    rc1, out1, data1, first = provision(h, *args, tmp=tmp)
    (entry,) = data1["hosts"].values()
    assert entry["stats"]["changed"] > 0, out1[-6000:]
    # provisioning went through; verify failed the host for the missing GPU only, and said so
    assert rc1 == 1, out1[-6000:]
    assert entry["stats"]["failures"] == 1, out1[-6000:]
    v = entry["roles"]["verify"]
    assert v["failed"] == ["pci.gpu"], v
    assert "no Intel GPU" in v["line"] and v["report"] == str(reports / f"{h.spec}.json")
    assert "TASK [Fleet summary]" in out1 and f"{h.spec}: NOT OK:" in out1
    assert "provisioned, verify NOT OK" in out1 and "verify: NOT OK" in out1
    assert f"verify found failing checks on {h.spec} (exit 1)" in out1

    report = json.loads((reports / f"{h.spec}.json").read_text())
    status = {c["id"]: c["status"] for c in report["checks"]}
    assert report["ok"] is False and status["pci.gpu"] == "fail"
    assert status["userspace"] == "pass"                    # the driver role's packages, seen by the checks
    assert status["xpum.service"] == "pass" and status["xpum.api"] == "pass", report["checks"]
    assert "torch.xpu" not in status                        # skipped: no pytorch_xpu asked for
    assert report["environment"]["hostname"] == h.name      # it ran on the host, not here

    # the re-run changes nothing (verify included), at -vvv so every module argument is printed
    rc2, out2, data2, second = provision(h, *args, "-vvv", tmp=tmp)
    (entry2,) = data2["hosts"].values()
    assert rc2 == 1 and entry2["stats"]["changed"] == 0, out2[-6000:]
    timings = {"first_run_s": round(first, 1), "rerun_s": round(second, 1)}
    record_property("provision_verify_timings", timings)
    print(f"\nprovision + verify (REST, --diff): first {timings['first_run_s']} s, re-run {timings['rerun_s']} s")

    # no secret anywhere: output (with --diff, and -vvv), summaries, reports, files left on the host
    assert "--- before" in out1 or "+++ after" in out1          # the diff was really printed
    for text in (out1, out2, json.dumps(data1), json.dumps(data2)):
        assert SECRET not in text
    for f in reports.iterdir():
        assert SECRET.encode() not in f.read_bytes(), f
    left = h.exec(f"grep -rlF -- '{SECRET}' /tmp /var/tmp /root /etc /usr/lib/xpum 2>/dev/null; "
                  "ls /tmp /var/tmp | grep -c 'xpu-ops-verify\\|xpu-ops-checks' || true")
    assert left.stdout.split() == ["0"], left.stdout
