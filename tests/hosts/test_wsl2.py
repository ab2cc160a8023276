"""The WSL2 path of every role and the WSL2 verdicts, on a WSL2-shaped Debian 12 host (tests/support/wsl2host.py).

One host for the module: osrelease reading ``...-microsoft-standard-WSL2``, ``/dev/dxg`` (misc major, 0666),
``/usr/lib/wsl/lib`` with libdxcore.so and libd3d12.so on the loader's path, ``/usr/lib/wsl/drivers/`` with an
Intel driver folder, no container markers. Asserted:

* ``invoke provision`` (driver, XPU Manager, then verify) installs user space only: the compute runtime, the
  Level Zero loader and the OpenCL ICD; no firmware, DKMS, kernel headers, modprobe.d file or reboot; XPU
  Manager refused in one line; verify on the host OK (exit 0); a re-run changes nothing. The first-run and
  re-run times go to the test report (``wsl2_provision_timings``);
* pytest-testinfra: what is there and what must not be;
* ``invoke verify --host`` exits 0 on the healthy host, with the WSL2 checks passing and PCI, kernel driver,
  DRM and XPU Manager checks skipped with the WSL2 reason; then the failure shapes WSL2 users meet, made on
  the same host: /dev/dxg gone (a Windows update), a Windows driver older than 30.0.100.9955, the WSL
  libraries off the loader's path, a container under WSL2 without /dev/dxg passed in.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import wsl2host

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
USERSPACE = ["intel-opencl-icd", "libze1", "libigdgmm12", "clinfo"]
NEVER = ["firmware-misc-nonfree", "intel-i915-dkms", "intel-fw-gpu", "dkms", "xpumanager", "xpu-smi",
         "linux-image-amd64"]
WSL2_CHECKS = ["wsl2.dxg", "wsl2.libs", "wsl2.runtime", "wsl2.driver"]
SKIPPED = ["pci.gpu", "kernel.driver", "dri.nodes", "dri.access", "firmware", "xpum.service", "xpum.api"]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("wsl2")


@pytest.fixture(scope="module")
def host(systemd_host, tmp):
    h = wsl2host.start(systemd_host, tmp)
    h.exec("useradd -m gpuuser", check=True)
    return h


def provision(h, *args, tmp):
    summary = tmp / f"summary-{time.monotonic_ns()}.json"
    env = {**os.environ, "XPU_OPS_SUMMARY_JSON": str(summary), "ANSIBLE_NOCOLOR": "1"}
    cmd = [sys.executable, "-m", "invoke", "provision", "--host", h.spec, "--key", str(h.key),
           "--no-host-key-check", "-e", '{"intel_gpu_driver_users": ["gpuuser"]}',
           "-e", f"xpu_ops_report_dir={tmp / 'reports'}", *args]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return r.returncode, r.stdout + r.stderr, data, took


def verify(h, *args):
    """invoke verify --host --json (torch.xpu skipped: no PyTorch asked for); returns (rc, report, stderr)."""
    cmd = [sys.executable, "-m", "invoke", "verify", "--host", h.spec, "--key", str(h.key), "--no-host-key-check",
           "--json", *args]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        pytest.fail(f"verify printed no JSON (exit {r.returncode}): {r.stdout[-2000:]} {r.stderr[-2000:]}")
    return r.returncode, {c["id"]: c for c in report["checks"]}, r.stderr


def pid1_started(h):
    return h.exec("ps -o lstart= -p 1").stdout.strip()


@pytest.fixture(scope="module")
def provisioned(host, tmp):
    booted = pid1_started(host)
    rc1, out1, data1, first = provision(host, tmp=tmp)
    rc2, out2, data2, second = provision(host, tmp=tmp)
    return {"runs": [(rc1, out1, data1, first), (rc2, out2, data2, second)], "booted": booted}


def test_provision_user_space_only_and_rerun_changes_nothing(host, provisioned, record_property):
    (rc1, out1, data1, first), (rc2, out2, data2, second) = provisioned["runs"]
    assert rc1 == 0, out1[-6000:]
    (entry1,) = data1["hosts"].values()
    assert entry1["stats"]["changed"] > 0 and entry1["stats"]["failures"] == 0
    assert "WSL2: True, container: no" in out1 and "DKMS: False, firmware: False" in out1
    assert "driver: present on Debian-12; GPUs: no Intel GPU found; WSL2 (user space only)" in out1
    refusals = [ln.strip() for ln in out1.splitlines() if "XPU Manager line" in ln and "WSL2" in ln]
    assert "xpumanager: skipped: WSL2 is not supported by any XPU Manager line" in refusals, refusals
    assert entry1["roles"]["verify"]["failed"] == [] and "verify: OK" in out1
    assert rc2 == 0, out2[-6000:]
    (entry2,) = data2["hosts"].values()
    assert entry2["stats"]["changed"] == 0, out2[-6000:]
    timings = {"first_run_s": round(first, 1), "rerun_s": round(second, 1)}
    record_property("wsl2_provision_timings", timings)
    print(f"\nWSL2 provision + verify: first {timings['first_run_s']} s, re-run {timings['rerun_s']} s")


def test_xpumanager_container_refused_on_wsl2(host, tmp):
    rc, out, data, _ = provision(host, "--container", tmp=tmp)
    assert rc == 2, out[-4000:]
    lines = [ln.strip() for ln in out.splitlines() if "refused: WSL2" in ln]
    assert any("xpumanager_container on " in ln and "not supported by any XPU Manager line" in ln for ln in lines), \
        out[-4000:]
    (entry,) = data["hosts"].values()
    assert entry["stats"]["changed"] == 0
    assert host.exec("test -e /etc/xpu-ops/xpumanager-container").returncode == 1


def test_host_holds_user_space_and_nothing_kernel_side(host, provisioned):
    t = host.testinfra()
    for pkg in USERSPACE:
        assert t.package(pkg).is_installed, pkg
    for pkg in NEVER:
        assert not t.package(pkg).is_installed, pkg
    assert "libigdrcl.so" in t.file("/etc/OpenCL/vendors/intel.icd").content_string
    assert not t.file("/etc/modprobe.d/intel-gpu.conf").exists
    assert not t.exists("dkms") and not t.file("/var/lib/dkms").exists
    assert t.run("ls /etc/modules-load.d /etc/modprobe.d 2>/dev/null | grep -ci intel || true").stdout.strip() == "0"
    src = t.file("/etc/apt/sources.list.d/xpu-ops-debian.sources")
    assert not src.exists or "non-free-firmware" not in src.content_string
    assert not t.file("/lib/firmware/i915").exists and not t.file("/lib/firmware/xe").exists
    for unit in ("/usr/lib/systemd/system/xpum.service", "/lib/systemd/system/xpum.service"):
        assert not t.file(unit).exists
    assert not t.file("/etc/xpumd").exists
    assert pid1_started(host) == provisioned["booted"]                   # no reboot
    assert "render" in t.user("gpuuser").groups and "video" in t.user("gpuuser").groups
    # Windows' pieces untouched: still read-only, still the loader's
    assert t.run("touch /usr/lib/wsl/lib/x").rc != 0
    assert "/usr/lib/wsl/lib/libdxcore.so" in t.run("ldconfig -p").stdout
    assert t.file("/dev/dxg").is_file is False and oct(t.file("/dev/dxg").mode) == "0o666"


def test_verify_on_healthy_wsl2_host_exits_0(host, provisioned):
    rc, checks, err = verify(host, "--skip", "torch.xpu")
    assert rc == 0, (err, {k: (v["status"], v["detail"]) for k, v in checks.items()})
    for cid in WSL2_CHECKS:
        assert checks[cid]["status"] == "pass", checks[cid]
    assert "read-write for root" in checks["wsl2.dxg"]["detail"]
    assert "found by the loader" in checks["wsl2.libs"]["detail"]
    assert "intel-opencl-icd 22." in checks["wsl2.runtime"]["detail"]
    assert "Intel graphics driver 32.0.101.6987" in checks["wsl2.driver"]["detail"]
    for cid in SKIPPED:
        assert checks[cid]["status"] == "skip" and "WSL2" in checks[cid]["detail"], checks[cid]
    rc, checks, _ = verify(host, "--only", "wsl2.dxg", "--user", "gpuuser")
    assert rc == 0 and "read-write for gpuuser (other, mode 666)" in checks["wsl2.dxg"]["detail"]


def test_verify_says_what_wsl2_users_meet(host, provisioned):
    only = ["--only", ",".join(WSL2_CHECKS)]
    # /dev/dxg gone (after a Windows update): fail, remedy on the Windows side
    host.exec("rm /dev/dxg", check=True)
    try:
        rc, checks, _ = verify(host, *only)
        assert rc == 1 and checks["wsl2.dxg"]["status"] == "fail"
        assert "wsl --update" in checks["wsl2.dxg"]["remedy"] and "/dev/dxg is missing" in checks["wsl2.dxg"]["detail"]
        # the same inside a container under WSL2: pass /dev/dxg and /usr/lib/wsl in, not /dev/dri
        host.exec("touch /run/.containerenv", check=True)
        rc, checks, _ = verify(host, *only)
        assert rc == 1 and "--device /dev/dxg -v /usr/lib/wsl:/usr/lib/wsl:ro" in checks["wsl2.dxg"]["remedy"]
        assert "/dev/dri does not exist under WSL2" in checks["wsl2.dxg"]["remedy"]
    finally:
        host.exec(f"rm -f /run/.containerenv; mknod -m 0666 /dev/dxg c 10 {wsl2host.DXG_MINOR}", check=True)
    # a Windows driver older than WSL.md's 30.0.100.9955 (a second driver store, over the read-only one)
    host.exec("mount -t tmpfs tmpfs /usr/lib/wsl/drivers && mkdir /usr/lib/wsl/drivers/iigd_dch.inf_amd64_aa",
              check=True)
    host.exec("cat > /usr/lib/wsl/drivers/iigd_dch.inf_amd64_aa/iigd_dch.inf", check=True,
              input=wsl2host.driver_inf("27.20.100.9168", "12/10/2020"))
    try:
        rc, checks, _ = verify(host, *only)
        assert rc == 1 and checks["wsl2.driver"]["status"] == "fail", checks["wsl2.driver"]
        detail = checks["wsl2.driver"]["detail"]
        assert "27.20.100.9168" in detail and "30.0.100.9955" in detail
        host.exec("rm -r /usr/lib/wsl/drivers/*", check=True)                 # nothing to read the version from
        rc, checks, _ = verify(host, *only)
        assert rc == 0 and checks["wsl2.driver"]["status"] == "skip"
        assert "not readable from inside WSL2" in checks["wsl2.driver"]["detail"]
    finally:
        host.exec("umount /usr/lib/wsl/drivers", check=True)
    # WSL's ld.wsl.conf gone ([automount] ldconfig = false): warn, the runtime still finds libdxcore.so
    host.exec("mv /etc/ld.so.conf.d/ld.wsl.conf /root/ && ldconfig", check=True)
    try:
        rc, checks, _ = verify(host, *only)
        assert rc == 0 and checks["wsl2.libs"]["status"] == "warn"
        assert "ld.wsl.conf" in checks["wsl2.libs"]["remedy"]
    finally:
        host.exec("mv /root/ld.wsl.conf /etc/ld.so.conf.d/ && ldconfig", check=True)
