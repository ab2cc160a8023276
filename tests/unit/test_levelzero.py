"""levelzero: Debian's real Level Zero loader (libze1 1.8.12 = oneapi-src/level-zero tag v1.8.12, commit
23641699b9e2a68f61e6f12a61a27d1f1ef54570), with no GPU driver, and with a stand-in GPU driver library
(tests/support/ze_driver_standin.py) built from Debian's libze-dev headers and loaded by that loader.

The probe is the product's own child process; the PCI side of the host comes from a host tree (this machine has
no GPU), and the check decides on both."""
import os
import re
import subprocess
import sys

import pytest

from checks import levelzero_probe, levelzero_run
from checks.rules import REGISTRY
from tests.support import hosttree, ze_driver_standin
from tests.support.verify_run import check_of, run_json

pytestmark = pytest.mark.skipif(not ze_driver_standin.available(),
                                reason="no Level Zero loader and headers (bin/setup --test installs libze1 libze-dev)")

A770 = dict(name="Intel(R) Arc(TM) A770 Graphics", bdf="0000:03:00.0", device_id=0x56A0)
B580 = dict(name="Intel(R) Arc(TM) B580 Graphics", bdf="0000:03:00.0", device_id=0xE20B)
UHD = dict(name="Intel(R) UHD Graphics 770", bdf="0000:00:02.0", device_id=0x4680, integrated=True)


def _probe(env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    env.update(env_extra or {})
    return levelzero_run.LevelZeroProbe(20, env).result()


def _decide(tree_fn, tmp_path, probe):
    """Facts of a host tree (PCI, DRM, packages) + the live probe's answer -> the levelzero check."""
    from checks import engine
    tree_fn(tmp_path / "root")
    opts = engine.Options(root=str(tmp_path / "root"), only=["levelzero"], python=sys.executable)
    ids = engine.validate(opts)
    facts = engine.gather(opts, ids)
    assert facts["levelzero"].get("skipped")  # under --root the runtime is never asked ...
    facts["levelzero"] = probe  # ... so the test asks it, on this machine, as a real host run would
    return REGISTRY["levelzero"].fn(facts)


def _driver(tmp_path, devices, **kw):
    return {"LD_LIBRARY_PATH": ze_driver_standin.build(str(tmp_path / "drv"), devices, **kw)}


def test_struct_layouts_match_the_headers(tmp_path):
    """The ctypes structures are ze_api.h's, field for field (offsets compiled from the header)."""
    fields = {"ze_device_properties_t": (levelzero_probe.DeviceProperties,
                                         ["type", "vendorId", "deviceId", "flags", "maxMemAllocSize",
                                          "timerResolution", "uuid", "name"]),
              "ze_pci_ext_properties_t": (levelzero_probe.PciExtProperties, [])}
    prog = ["#include <stdio.h>", "#include <stddef.h>", "#include <level_zero/ze_api.h>", "int main(void) {"]
    for ctype, (_, names) in fields.items():
        prog.append('printf("%s sizeof %%zu\\n", sizeof(%s));' % (ctype, ctype))
        for n in names:
            prog.append('printf("%s %s %%zu\\n", offsetof(%s, %s));' % (ctype, n, ctype, n))
    prog.append('printf("ze_pci_ext_properties_t bus %zu\\n", offsetof(ze_pci_ext_properties_t, address.bus));')
    prog.append('printf("ze_pci_ext_properties_t function %zu\\n", '
                'offsetof(ze_pci_ext_properties_t, address.function));')
    prog.append("return 0; }")
    (tmp_path / "l.c").write_text("\n".join(prog))
    subprocess.run(["gcc", "-o", str(tmp_path / "l"), str(tmp_path / "l.c")], check=True)
    out = subprocess.run([str(tmp_path / "l")], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        ctype, field, value = line.split()
        cls = fields[ctype][0]
        got = __import__("ctypes").sizeof(cls) if field == "sizeof" else getattr(cls, field).offset
        assert got == int(value), (ctype, field, got, value)


def test_result_names_are_the_headers():
    text = open(os.path.join(ze_driver_standin.HEADERS, "ze_api.h")).read()
    header = {int(v, 0): n for n, v in re.findall(r"(ZE_RESULT_\w+) = (0x[0-9a-fA-F]+|\d+),", text)}
    for code, name in levelzero_run.RESULTS.items():
        assert header[code] == name


def test_real_loader_without_a_gpu_driver_names_the_library(tmp_path):
    """libze1 alone: zeInit says ZE_RESULT_ERROR_UNINITIALIZED and the probe names the library that failed."""
    z = _probe()
    assert z["outcome"] == "ok", z
    assert z["loader"].endswith(".so.1") or "libze_loader.so.1" in z["loader"]
    assert z["init_name"] == "ZE_RESULT_ERROR_UNINITIALIZED" and z["devices"] == []
    assert "libze_intel_gpu.so.1: cannot open shared object file" in z["gpu_driver_dlopen"]
    status, detail, remedy, ev = _decide(hosttree.arc_a_i915, tmp_path, z)
    assert status == "fail"
    assert "0000:03:00.0" in detail and "is not in Level Zero" in detail
    assert "cannot load the GPU driver library: libze_intel_gpu.so.1: cannot open shared object file" in detail
    assert "zeInit returned ZE_RESULT_ERROR_UNINITIALIZED" in detail
    assert "libze-intel-gpu1" in remedy


def test_device_reported_at_the_gpus_address_passes_with_sysman(tmp_path):
    z = _probe(_driver(tmp_path, [A770, UHD]))
    assert z["init_name"] == "ZE_RESULT_SUCCESS"
    assert [(d["bdf"], d["integrated"]) for d in z["devices"]] == [("0000:03:00.0", False), ("0000:00:02.0", True)]
    assert any(p.endswith("drv/libze_intel_gpu.so.1") for p in z["mapped"])  # the real loader loaded it
    status, detail, _, _ = _decide(hosttree.arc_a_i915, tmp_path, z)
    assert status == "pass", detail
    assert "0000:03:00.0: Intel(R) Arc(TM) A770 Graphics (discrete, Sysman: available)" in detail
    assert "also in Level Zero: Intel(R) UHD Graphics 770 (0000:00:02.0)" in detail


def test_sysman_unavailable_is_said(tmp_path):
    z = _probe(_driver(tmp_path, [A770], sysman_result=0x78000001))
    status, detail, _, _ = _decide(hosttree.arc_a_i915, tmp_path, z)
    assert status == "pass"
    assert "Sysman: unavailable (ZE_RESULT_ERROR_UNINITIALIZED)" in detail
    assert "XPU Manager and xpu-smi show no telemetry" in detail


def test_runtime_without_the_bound_gpu_fails(tmp_path):
    """The driver loads and zeInit succeeds, but the bound GPU is not among its devices."""
    z = _probe(_driver(tmp_path, [UHD]))
    status, detail, remedy, _ = _decide(hosttree.arc_a_i915, tmp_path, z)
    assert status == "fail"
    assert "0000:03:00.0 (" in detail and "not in Level Zero" in detail
    assert "zeInit succeeded but no driver reported this device" in detail


def test_driver_whose_init_fails_is_named_by_result(tmp_path):
    z = _probe(_driver(tmp_path, [A770], init_result=0x70010000))
    assert z["init_name"] in ("ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS", "ZE_RESULT_ERROR_UNINITIALIZED")
    status, detail, _, _ = _decide(hosttree.arc_a_i915, tmp_path, z)
    assert status == "fail" and "zeInit returned ZE_RESULT_ERROR_" in detail


def test_small_bar_on_xe_is_named(tmp_path):
    z = _probe(_driver(tmp_path, []))
    status, detail, remedy, _ = _decide(
        lambda r: hosttree.arc_b_xe(r, bar2=hosttree.bar(0x6000000000, 256 * hosttree.MiB)), tmp_path, z)
    assert status == "fail"
    assert "small BAR (256 MiB of VRAM visible)" in detail
    assert "Re-Size BAR Support" in remedy


def test_skipped_under_root_with_the_reason(tmp_path):
    hosttree.arc_a_i915(tmp_path)
    r, rep = run_json("--root", tmp_path, "--only", "levelzero")
    c = check_of(rep, "levelzero")
    assert c["status"] == "skip" and "--root" in c["detail"]


def test_compute_runtime_small_bar_refusal_is_named(tmp_path):
    """The driver prints what intel/compute-runtime's drm_neo.cpp (commit 7df9945ebee2c2e602488853a7200b164f8fc103)
    prints before dropping a device whose kernel driver allows no small BAR, and reports no device."""
    line = "WARNING: Small BAR detected for device 0000:03:00.0"
    z = _probe(_driver(tmp_path, [], init_stderr=line))
    status, detail, remedy, _ = _decide(hosttree.arc_b_xe, tmp_path, z)
    assert status == "fail"
    assert "the compute runtime refuses a small BAR (%s)" % line in detail
    assert "Re-Size BAR Support" in remedy
