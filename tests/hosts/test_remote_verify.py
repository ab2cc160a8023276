"""`invoke verify --host`: the checks shipped as a zipapp over one SSH connection to a real systemd
host that has python3 and nothing else, the report rendered here. The host has no GPU, so the
report fails on pci.gpu; a host that cannot be verified gives exit 2 and one line."""
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support import testhosts as th
from tests.support.verify_run import run_invoke

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
ERROR = "xpu-ops verify: error: "


def invoke_verify(*args, timeout=180, label="remote verify"):
    return run_invoke("verify", *args, timeout=timeout, label=label)


def one_error_line(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(ERROR), r.stderr
    assert r.stdout.strip() == ""
    return lines[0]


def host_args(h, key=None):
    return ["--host", h.spec, "--key", key or h.key, "--no-host-key-check"]


@pytest.fixture(scope="module")
def host(systemd_host):
    h = systemd_host()
    # Only python3: none of the toolkit's dependencies is installed there.
    assert h.exec("python3 -c 'import httpx'").returncode != 0
    assert h.exec("python3 -c 'import prometheus_client'").returncode != 0
    return h


@pytest.mark.no_gpu
def test_text_report_fails_on_no_gpu(host):
    host.exec("touch /run/xpu-ops-test-mark", check=True)
    r = invoke_verify(*host_args(host))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert r.stdout.startswith(f"xpu-ops verify: {host.spec}\n")
    gpu = next(x for x in r.stdout.splitlines() if " pci.gpu " in x)
    assert gpu.split()[0] == "FAIL" and "no Intel GPU" in gpu
    assert "NOT OK" in r.stdout.splitlines()[-1]
    assert "podman container" in r.stdout          # the platform check ran there, not here
    # The checks ran from memory: no file was written where a temp copy could have gone.
    left = host.exec("find /tmp /var/tmp /root /dev/shm -newer /run/xpu-ops-test-mark ! -type d")
    assert left.returncode == 0 and left.stdout.strip() == "", left.stdout


@pytest.mark.no_gpu
def test_json_report_is_the_local_shape(host):
    r = invoke_verify(*host_args(host), "--json", label="remote verify --json")
    assert r.returncode == 1, r.stderr
    rep = json.loads(r.stdout)
    assert set(rep) >= {"ok", "summary", "environment", "gpus", "checks"}
    assert rep["ok"] is False and rep["gpus"] == []
    assert set(rep["summary"]) == {"pass", "warn", "fail", "skip"}
    assert rep["summary"]["fail"] == sum(c["status"] == "fail" for c in rep["checks"]) >= 1
    for c in rep["checks"]:
        assert set(c) >= {"id", "status", "title", "detail", "remedy", "evidence"}
    gpu = next(c for c in rep["checks"] if c["id"] == "pci.gpu")
    assert gpu["status"] == "fail" and "no Intel GPU" in gpu["detail"]
    assert rep["environment"]["hostname"] == host.name
    try:
        import jsonschema
        from test_scenarios import REPORT_SCHEMA
    except ImportError:
        return
    jsonschema.validate(rep, REPORT_SCHEMA)


def test_junit_is_written_here(host, tmp_path):
    out = tmp_path / "verify.xml"
    r = invoke_verify(*host_args(host), "--junit", out, "--only", "platform,pci.gpu", label="remote --junit")
    assert r.returncode == 1, r.stderr
    suite = ET.parse(out).getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"platform", "pci.gpu"}
    assert cases["pci.gpu"].find("failure") is not None and cases["platform"].find("failure") is None


def test_options_reach_the_checks_there(host):
    r = invoke_verify(*host_args(host), "--only", "platform", "--json", label="remote --only platform")
    assert r.returncode == 0, r.stderr
    assert [c["id"] for c in json.loads(r.stdout)["checks"]] == ["platform"]
    r = invoke_verify(*host_args(host), "--only", "nosuch", label="remote --only nosuch")
    assert "unknown check id 'nosuch'" in one_error_line(r)


def test_inventory_name_and_fleet(host, systemd_host, tmp_path):
    inv = th.write_inventory(tmp_path / "hosts.ini", [host])
    r = invoke_verify("--inventory", inv, "--host", host.name, "--json", label="remote verify via inventory")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["environment"]["hostname"] == host.name
    # A group: every host is verified; one that cannot be reached is one line, and the exit is 1.
    other = systemd_host()
    dead = th.pick_port()
    inv.write_text(inv.read_text().replace("[testhosts]\n", f"[testhosts]\n{other.inventory_line()}\n"
                                           f"gone ansible_host=127.0.0.1 ansible_port={dead}\n"))
    r = invoke_verify("--inventory", inv, "--host", "testhosts", "--only", "platform,pci.gpu",
                      "--no-host-key-check", label="remote verify, 3 hosts")
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.startswith("xpu-ops fleet verify: 3 hosts, 2 checks\n")      # one fleet report
    assert "1 unreachable (refused 1)" in r.stdout.splitlines()[-1]
    errors = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(errors) == 1 and errors[0].startswith(ERROR + f"gone (127.0.0.1:{dead}): ssh: ")


def test_unreachable_port_is_one_line_exit_2(host):
    port = th.pick_port()
    line = one_error_line(invoke_verify("--host", f"root@127.0.0.1:{port}", "--key", host.key,
                                        "--no-host-key-check", label="unreachable"))
    assert f"root@127.0.0.1:{port}" in line and "Connection refused" in line


def test_refused_key_and_unknown_host_key(host, tmp_path):
    other_key = th.make_key(tmp_path / "other")
    line = one_error_line(invoke_verify(*host_args(host, key=other_key), label="wrong key"))
    assert "Permission denied" in line and "--key" in line
    line = one_error_line(invoke_verify("--host", host.spec, "--key", host.key, label="unknown host key"))
    assert "Host key verification failed" in line and "--no-host-key-check" in line
    assert f"ssh-keyscan -p {host.port} 127.0.0.1 >> ~/.ssh/known_hosts" in line


def test_bad_host_spec_is_a_usage_error():
    line = one_error_line(invoke_verify("--host", "root@", label="bad spec"))
    assert "cannot read host 'root@'" in line


def test_host_without_python3(fresh_systemd_host):
    h = fresh_systemd_host()
    h.exec("mkdir -p /root/no-python && mv /usr/bin/python3* /root/no-python/", check=True)
    line = one_error_line(invoke_verify(*host_args(h), label="no python3"))
    assert "no python3 on the host" in line


def test_host_that_does_not_answer_times_out(host):
    host.exec("printf '#!/bin/sh\\nexec sleep 60\\n' > /usr/local/bin/slowpy", check=True)
    host.exec("chmod +x /usr/local/bin/slowpy", check=True)
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "xpu_ops.remote", *map(str, host_args(host)),
                        "--interpreter", "/usr/local/bin/slowpy", "--host-timeout", "3"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 20
    assert "no answer within 3 s" in one_error_line(r)


def test_kernel_log_and_levelzero_run_there(host):
    """The new checks run on the host from memory: --kernel-log names a file there (the xe engine-reset format
    of drivers/gpu/drm/xe/xe_guc_submit.c, see tests/unit/test_kernel_log.py); Level Zero is not asked on a
    host without an Intel GPU; a missing --kernel-log file there is one line, exit 2."""
    host.exec("printf '%s\\n' 'xe 0000:03:00.0: [drm] GT0: Engine reset: engine_class=ccs, logical_mask: 0x1, "
              "guc_id=4' > /root/k.log", check=True)
    r = invoke_verify(*host_args(host), "--only", "kernel.log,levelzero", "--kernel-log", "/root/k.log", "--json",
                      label="remote --kernel-log")
    assert r.returncode == 0, r.stderr
    checks = {c["id"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["kernel.log"]["status"] == "warn"
    assert "0000:03:00.0: 1 engine reset(s)" in checks["kernel.log"]["detail"]
    assert checks["kernel.log"]["evidence"]["source"] == "/root/k.log"
    assert checks["levelzero"]["status"] == "skip" and "no Intel GPU" in checks["levelzero"]["detail"]
    r = invoke_verify(*host_args(host), "--only", "kernel.log", "--kernel-log", "/root/nope.log",
                      label="remote --kernel-log missing")
    assert "--kernel-log /root/nope.log: no such file" in one_error_line(r)


def invoke_provision(*args, timeout=300, label="provision"):
    return run_invoke("provision", *args, timeout=timeout, label=label)


def test_provision_unknown_host_key_names_ssh_keyscan(host):
    # ansible's UNREACHABLE line, then the hint verify gives (known_hosts kept out of the way)
    r = invoke_provision("--host", host.spec, "--key", host.key, "--check", "--extra-vars",
                         '{"ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null"}',
                         label="provision, unknown key")
    assert r.returncode == 4 and "Host key verification failed" in r.stdout, (r.returncode, r.stdout[-2000:])
    assert f"ssh-keyscan -p {host.port} 127.0.0.1 >> ~/.ssh/known_hosts" in r.stderr
    assert "--no-host-key-check" in r.stderr


def test_provision_check_without_python3_apt_says_what_to_do(host):
    where = host.exec("python3 -c 'import apt_pkg; print(apt_pkg.__file__)'", check=True).stdout.strip()
    host.exec(["mv", where, "/root/apt_pkg.hidden"], check=True)      # as on a fresh minimal host
    try:
        r = invoke_provision("--host", host.spec, "--key", host.key, "--no-host-key-check", "--check",
                             label="provision --check, no python3-apt")
    finally:
        host.exec(["mv", "/root/apt_pkg.hidden", where], check=True)
    assert r.returncode == 2
    assert "--check needs python3-apt on " in r.stdout and "sudo apt-get install python3-apt" in r.stdout
    assert "Could not detect a supported package manager" not in r.stdout
    assert "must be installed to use check mode" not in r.stdout
