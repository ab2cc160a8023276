"""invoke provision on a real Debian 12 host (systemd as PID 1, sshd on 127.0.0.1), asserted with testinfra.

One host goes through the whole life: wrong variables rejected before any change, --check on the
fresh host, a real provision (Debian's own Intel packages from the archive), a re-run with
changed=0, a secret grep over everything printed, and uninstall. Timings of the first run and
the re-run go to .cache/provision-timings.json (and the test report).
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.pypi_standin import Index, build_index
from tests.support.standin_deb import build_standin_deb

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
REST_VENV = "/opt/xpu-ops/xpum-rest"                # roles/xpumanager's default venv for REST's packages
SECRET = "Kn0wn-rest-Passw0rd-4-grep"          # a REST password that must never appear in any output
USERSPACE = ["intel-opencl-icd", "libze1", "libigdgmm12", "clinfo", "intel-gpu-tools", "vainfo",
             "intel-media-va-driver-non-free"]
FIRMWARE = ["firmware-misc-nonfree"]
EXTRA = ["-e", "intel_gpu_driver_media_nonfree=true", "-e", "intel_gpu_driver_firmware=install",
         "-e", '{"intel_gpu_driver_users": ["gpuuser"]}',
         "-e", '{"intel_gpu_driver_modprobe_options": {"i915": "enable_guc=3"}}',
         "-e", f"xpumanager_rest_password={SECRET}"]


@pytest.fixture(scope="module")
def host(systemd_host):
    """One Debian 12 systemd host for the whole life cycle (tests/conftest.py)."""
    return systemd_host(wait="system")


def rest_pins(line):
    """The role's pins of upstream's rest/requirements.txt for a line (roles/xpumanager/vars/main.yml)."""
    import yaml
    return yaml.safe_load((REPO / "roles/xpumanager/vars/main.yml").read_text())[
        "__xpumanager_rest_requirements_of_line"][line]


def run(h, *args, tmp, check_rc=0):
    """invoke provision against the host; returns (rc, output, summary dict, seconds)."""
    summary = tmp / f"summary-{time.monotonic_ns()}.json"
    env = {**os.environ, "XPU_OPS_SUMMARY_JSON": str(summary), "ANSIBLE_NOCOLOR": "1"}
    cmd = [sys.executable, "-m", "invoke", "provision", "--no-verify", "--host", f"{h.user}@{h.address}:{h.port}",
           "--key", str(h.key), "--no-host-key-check", *args]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    data = json.loads(summary.read_text()) if summary.exists() else {}
    if check_rc is not None:
        assert r.returncode == check_rc, out[-8000:]
    return r.returncode, out, data, took


def stats(data):
    (entry,) = data["hosts"].values()
    return entry["stats"]


def infra(h, tmp):
    import testinfra
    cfg = tmp / "ssh_config"
    cfg.write_text(f"Host th\n  HostName {h.address}\n  Port {h.port}\n  User {h.user}\n  IdentityFile {h.key}\n"
                   "  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
                   "  LogLevel ERROR\n  BatchMode yes\n")
    return testinfra.get_host("ssh://th", ssh_config=str(cfg))


def untouched(h):
    r = h.exec("ls /etc/apt/sources.list.d/; dpkg-query -W -f='${Status}\\n' clinfo 2>&1; "
               "ls /etc/modprobe.d/intel-gpu.conf 2>&1")
    assert "xpu-ops-debian.sources" not in r.stdout
    assert "install ok installed" not in r.stdout
    assert "No such file" in r.stdout


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("provision")


@pytest.fixture(scope="module")
def outputs():
    return []


def test_wrong_variables_rejected_before_any_change(host, tmp, outputs):
    host.exec("id gpuuser >/dev/null 2>&1 || useradd -m gpuuser", check=True)
    cases = [
        (["-e", "intel_gpu_driver_state=sometimes"], "intel_gpu_driver_state must be one of"),
        (["-e", "xpumanager_rest_port=seventy"], "xpumanager_rest_port"),
        (["-e", "xpumanager_line=1.9"], "xpumanager_line must be one of"),
        (["-e", "intel_gpu_driver_mirror=ftp:/nowhere"], "must be an http(s):// or file:// URL"),
        (["-e", '{"intel_gpu_driver_package_versions": {"clinfo": "latest!"}}'], "is not a Debian version string"),
        (["-e", '{"intel_gpu_driver_gpu_families": ["voodoo"]}'], "unknown GPU family 'voodoo'"),
        (["-e", '{"intel_gpu_driver_users": ["nosuchuser"]}'],
         "user 'nosuchuser' in intel_gpu_driver_users does not exist"),
        # bookworm's runtime 22.43 predates Arc B (compute-runtime 24.48: production BMG/LNL support)
        (["-e", '{"intel_gpu_driver_gpu_families": ["arc-b"]}'],
         "arc-b need a newer compute runtime than Debian-12's own (22.43"),
    ]
    for args, message in cases:
        rc, out, _, _ = run(host, *args, tmp=tmp, check_rc=None)
        outputs.append(out)
        assert rc != 0, out[-4000:]
        assert message in out, out[-4000:]
        untouched(host)


def test_debian12_with_a_gpu_newer_than_bookworm_plans_backports(host, tmp, outputs):
    # firmware-intel-graphics (20250410) and the 6.12 kernel come from bookworm-backports
    # (packages.debian.org/bookworm-backports/firmware-intel-graphics), not firmware-misc-nonfree (20230210)
    rc, out, _, _ = run(host, "--check", "-e", '{"intel_gpu_driver_gpu_families": ["arc-b"]}',
                        "-e", "intel_gpu_driver_compute=false", "-e", "intel_gpu_driver_firmware=install",
                        "-e", "xpumanager_line=none", tmp=tmp)
    outputs.append(out)
    assert "item=bookworm-backports" in out, out[-4000:]
    untouched(host)


def test_check_mode_on_fresh_host(host, tmp, outputs):
    rc, out, data, took = run(host, "--check", "--diff", *EXTRA, tmp=tmp)
    outputs.append(out)
    assert stats(data)["failures"] == 0
    untouched(host)


def test_provision_then_rerun_changes_nothing(host, tmp, outputs, record_property):
    _, out1, data1, first = run(host, *EXTRA, tmp=tmp)
    outputs.append(out1)
    assert stats(data1)["changed"] > 0
    _, out2, data2, second = run(host, *EXTRA, tmp=tmp)
    outputs.append(out2)
    assert stats(data2)["changed"] == 0, out2[-6000:]
    assert "xpu-ops summary" in out2 and "driver: present on Debian-12" in out2
    timings = {"first_run_s": round(first, 1), "rerun_s": round(second, 1)}
    record_property("provision_timings", timings)
    (REPO / ".cache").mkdir(exist_ok=True)
    (REPO / ".cache" / "provision-timings.json").write_text(json.dumps(timings) + "\n")
    print(f"\nprovision timings: {timings}")


def test_a_rerun_repairs_drift_it_skipped_reading(host, tmp, outputs):
    # A converged re-run asks the host nothing per file, user or group: preflight's one read decides
    # (plugins/filter/xpu_ops_state.py). Whatever drifted since must still be put back.
    host.exec("gpasswd -d gpuuser render && echo 'options i915 enable_guc=0' > /etc/modprobe.d/intel-gpu.conf && "
              "chmod 0600 /etc/apt/sources.list.d/xpu-ops-debian.sources", check=True)
    _, out, data, _ = run(host, *EXTRA, tmp=tmp)
    outputs.append(out)
    assert stats(data)["changed"] >= 3, out[-6000:]
    for task in ("Users join the render node's group and video", "Kernel module options",
                 "Debian components (non-free / non-free-firmware)"):
        assert re.search(r"%s[^\n]*\*+\nchanged: " % re.escape(task), out), (task, out[-6000:])
    _, out, data, _ = run(host, *EXTRA, tmp=tmp)
    outputs.append(out)
    assert stats(data)["changed"] == 0, out[-6000:]


def test_host_state_after_provision(host, tmp):
    t = infra(host, tmp)
    for pkg in USERSPACE + FIRMWARE:
        assert t.package(pkg).is_installed, pkg
    assert not t.package("intel-media-va-driver").is_installed        # replaced by the non-free one
    icd = t.file("/etc/OpenCL/vendors/intel.icd")
    assert icd.exists and "libigdrcl.so" in icd.content_string
    src = t.file("/etc/apt/sources.list.d/xpu-ops-debian.sources")
    assert src.exists and src.mode == 0o644
    assert "Components: non-free non-free-firmware" in src.content_string
    assert "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" in src.content_string
    assert "URIs: http://deb.debian.org/debian" in src.content_string
    assert t.file("/usr/share/keyrings/debian-archive-keyring.gpg").exists
    assert t.file("/etc/modprobe.d/intel-gpu.conf").contains("^options i915 enable_guc=3$")
    groups = t.user("gpuuser").groups
    assert "render" in groups and "video" in groups
    assert t.group("render").exists
    assert t.service("ssh").is_running                               # the host is still healthy
    assert t.run("clinfo").stdout.count("Number of platforms") >= 1   # runs; 0 platforms without a GPU


def test_no_secret_in_any_output(outputs):
    assert outputs, "no run recorded"
    for out in outputs:
        assert SECRET not in out


def test_uninstall_removes_it(host, tmp):
    rc, out, data, _ = run(host, "--playbook", "uninstall", tmp=tmp)
    assert stats(data)["changed"] > 0
    assert SECRET not in out
    t = infra(host, tmp)
    for pkg in USERSPACE + FIRMWARE:
        assert not t.package(pkg).is_installed, pkg
    assert not t.file("/etc/OpenCL/vendors/intel.icd").exists
    assert not t.file("/etc/apt/sources.list.d/xpu-ops-debian.sources").exists
    assert not t.file("/etc/modprobe.d/intel-gpu.conf").exists
    _, _, data2, _ = run(host, "--playbook", "uninstall", tmp=tmp)
    assert stats(data2)["changed"] == 0


# ------------------------------------------------------------------ XPU Manager 1.x with REST, on a real host


def test_xpumanager_rest_on_real_host(systemd_host, tmp, record_property):
    import socket
    import ssl
    import urllib.request

    h = systemd_host(wait="system")
    deb = build_standin_deb(tmp)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pins = rest_pins("1.2")
    index = Index(build_index(tmp / "index", pins))
    with index as index_url:
        args = ["-e", '{"xpu_ops_roles": ["xpumanager"]}', "-e", "xpumanager_line=1.2", "-e", "xpumanager_source=local",
                "-e", f"xpumanager_deb_path={deb}", "-e", "xpumanager_rest_enabled=true",
                "-e", f"xpumanager_rest_password={SECRET}", "-e", f"xpumanager_rest_port={port}",
                "-e", f"xpumanager_rest_index_url={index_url}", "--diff"]
        _, out1, data1, first = run(h, *args, tmp=tmp)
        _, out2, data2, second = run(h, *args, tmp=tmp)
    assert any(r.startswith("/simple/gunicorn") for r in index.requests), index.requests
    assert stats(data2)["changed"] == 0, out2[-6000:]
    assert SECRET not in out1 + out2
    record_property("xpumanager_timings", {"first_run_s": round(first, 1), "rerun_s": round(second, 1)})
    t = infra(h, tmp)
    conf = t.file("/usr/lib/xpum/rest/conf/rest.conf")
    assert conf.mode == 0o640 and conf.user == "root" and conf.group == "xpum"
    text = conf.content_string
    assert "username = xpumadmin" in text and SECRET not in text
    from checks.restconf import hash_password
    salt = [ln.split("=", 1)[1].strip() for ln in text.splitlines() if ln.startswith("salt")][0]
    assert f"password = {hash_password(SECRET, salt)}" in text
    assert t.file("/usr/lib/xpum/rest/conf/key.pem").mode == 0o640
    dropin = t.file("/etc/systemd/system/xpum_rest.service.d/10-xpu-ops-bind.conf")
    assert f"--bind 127.0.0.1:{port}" in dropin.content_string
    # upstream's rest/requirements.txt, pinned, in the role's venv; the unit runs its gunicorn; no system pip
    assert f"ExecStart={REST_VENV}/bin/gunicorn --certfile" in dropin.content_string
    venv = t.file(REST_VENV)
    assert venv.is_directory and venv.user == "root" and venv.mode == 0o755
    frozen = set(t.run(f"{REST_VENV}/bin/pip freeze").stdout.split())
    assert {p.replace("[gthread]", "") for p in pins} <= frozen, frozen
    assert not t.package("python3-pip").is_installed
    main_pid = t.run("systemctl show -p MainPID --value xpum_rest.service").stdout.strip()
    cmdline = t.run(f"tr '\\0' ' ' < /proc/{main_pid}/cmdline").stdout
    assert cmdline.startswith(f"{REST_VENV}/bin/python"), cmdline
    assert t.service("xpum_rest.service").is_enabled and t.service("xpum_rest.service").is_running
    assert t.service("xpum.service").is_enabled and t.service("xpum.service").is_running
    # bound to 127.0.0.1 only (the host shares the machine's network: read its listening sockets)
    listen = [ln.split()[1] for ln in t.file("/proc/net/tcp").content_string.splitlines()[1:] if ln.split()[3] == "0A"]
    assert f"0100007F:{port:04X}" in listen and f"00000000:{port:04X}" not in listen
    # healthy over TLS (the role's certificate) with Basic auth
    cafile = tmp / "xpum-cert.pem"
    cafile.write_text(t.file("/usr/lib/xpum/rest/conf/cert.pem").content_string)
    ctx = ssl.create_default_context(cafile=str(cafile))
    import base64
    auth = base64.b64encode(f"xpumadmin:{SECRET}".encode()).decode()
    req = urllib.request.Request(f"https://127.0.0.1:{port}/rest/v1/devices",
                                 headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        assert r.status == 200 and "devices" in r.read().decode()
    # uninstall: services gone, files gone
    _, out3, _, _ = run(h, "--playbook", "uninstall", "-e", '{"xpu_ops_roles": ["xpumanager"]}', tmp=tmp)
    assert SECRET not in out3
    assert not t.package("xpumanager").is_installed
    assert not t.file("/etc/systemd/system/xpum_rest.service.d").exists
    assert not t.file("/usr/lib/xpum/rest/conf/rest.conf").exists
    assert not t.file(REST_VENV).exists
