"""The sysfs telemetry source (checks.telemetry) on host trees laid out as the kernel lays them out, with
counters that move between the two samples (tests/support/gpu_telemetry.Kernel stands in for the kernel)."""

import os

import pytest

from checks.telemetry import fdinfo
from checks.telemetry.sampler import Sampler
from tests.support import hosttree as ht
from tests.support.gpu_telemetry import Kernel

GiB, MiB = 1 << 30, 1 << 20
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the host trees make device nodes (mknod needs root)")
pytestmark = needs_root


def read(tree_root, kernel):
    return Sampler(tree_root, clock=kernel.clock, sleep=kernel.sleep).read()


def test_arc_b_xe_every_reading_from_its_file(tmp_path):
    t = ht.arc_b_xe(tmp_path)
    gpu = t.expect["gpus"][0]
    k = Kernel(t).gpu(gpu, "xe", watts=120, temps={"pkg": 61.5, "vram": 52}, vram=12 * GiB, act_mhz=2850)
    k.client(4242, gpu, {"rcs": 0.5, "ccs": 0.25}, resident={"vram0": GiB}, capacity={"ccs": 4})
    k.client(4343, gpu, {"rcs": 0.25}, resident={"vram0": 512 * MiB, "gtt": 64 * MiB})
    (g,) = read(tmp_path, k)
    m = g["metrics"]
    assert (g["device_id"], g["pci_bdf_address"], g["driver"]) == (0, gpu, "xe")
    assert m["power_usage"] == pytest.approx(120, rel=1e-3)
    assert m["gpu_utilization"] == pytest.approx(75, rel=1e-3)  # rcs: 50 % + 25 % of the two clients
    assert g["engines"]["ccs"] == pytest.approx(25, rel=1e-3)
    assert m["memory_used"] == pytest.approx(1536)  # vram0 only, not gtt
    assert m["memory_total"] == 12 * 1024
    assert m["memory_utilization"] == pytest.approx(12.5)
    assert (m["temperature"], m["memory_temperature"], m["frequency"]) == (61.5, 52, 2850)
    assert m["energy"] > 123
    assert g["limits"] == {"sustained": 190.0, "rated": 225.0}
    assert g["unavailable"] == {} and m["tiles"] == [] and g["notes"] == []
    assert "energy1_input" in g["sources"]["power_usage"] and "drm-cycles" in g["sources"]["gpu_utilization"]


def test_counters_move_power_follows_the_interval(tmp_path):
    t = ht.arc_b_xe(tmp_path)
    gpu = t.expect["gpus"][0]
    k = Kernel(t).gpu(gpu, "xe", watts=80, vram=12 * GiB)
    s = Sampler(tmp_path, clock=k.clock, sleep=k.sleep)
    first = s.read()[0]["metrics"]
    k.gpus[gpu]["energy"][next(iter(k.gpus[gpu]["energy"]))][1] = 200  # the card draws more
    k.advance(5)
    second = s.read()[0]["metrics"]  # the rise since the first read, no second sleep
    assert first["power_usage"] == pytest.approx(80, rel=1e-3)
    assert second["power_usage"] == pytest.approx(200, rel=1e-3)
    assert second["energy"] - first["energy"] == pytest.approx(1000, rel=1e-3)


def test_arc_a_mainline_i915_no_vram_size_engine_ns(tmp_path):
    t = ht.arc_a_i915(tmp_path)
    gpu = t.expect["gpus"][0]
    k = Kernel(t).gpu(gpu, "i915", watts=150, temps={"": 70}, act_mhz=2400)
    k.client(5000, gpu, {"render": 0.4, "compute": 0.9}, resident={"local0": 256 * MiB})
    (g,) = read(tmp_path, k)
    m = g["metrics"]
    assert m["gpu_utilization"] == pytest.approx(90, rel=1e-3)
    assert m["temperature"] == 70 and m["power_usage"] == pytest.approx(150, rel=1e-3)
    assert m["memory_used"] == 256 and m["memory_total"] is None
    assert "mainline i915" in g["unavailable"]["memory_total"]
    assert m["memory_utilization"] is None
    assert "drm-engine" in g["sources"]["gpu_utilization"]


def test_flex_dkms_i915_lmem_total(tmp_path):
    t = ht.flex_i915(tmp_path)
    gpu = t.expect["gpus"][0]
    k = Kernel(t).gpu(gpu, "i915", watts=100, lmem_total=16 * GiB, act_mhz=2050)
    (g,) = read(tmp_path, k)
    assert g["metrics"]["memory_total"] == 16 * 1024 and g["sources"]["memory_total"] == "lmem_total_bytes"
    assert g["metrics"]["gpu_utilization"] == 0.0  # no client has it open
    assert g["metrics"]["frequency"] == 2050


def test_max_per_tile_and_pci_order(tmp_path):
    t = ht.max_i915(tmp_path)
    gpus = t.expect["gpus"]
    k = Kernel(t)
    for i, bdf in enumerate(gpus):
        k.gpu(bdf, "i915", watts=420 + i, lmem_total=128 * GiB, tiles=2, tile_watts=[200, 210 + i],
              act_mhz=[1300, 1600], card=i)
    k.client(6000, gpus[1], {"compute": 0.5}, resident={"local0": GiB, "local1": 2 * GiB}, node="renderD129")
    out = read(tmp_path, k)
    assert [g["pci_bdf_address"] for g in out] == sorted(gpus) and [g["device_id"] for g in out] == [0, 1]
    g = out[1]
    assert g["metrics"]["power_usage"] == pytest.approx(421, rel=1e-3)
    assert g["metrics"]["frequency"] == 1450
    assert g["metrics"]["memory_used"] == 3 * 1024 and g["metrics"]["gpu_utilization"] == pytest.approx(50)
    tiles = {x["tile_id"]: x for x in g["metrics"]["tiles"]}
    assert tiles[0]["power_usage"] == pytest.approx(200, rel=1e-3)
    assert tiles[1]["power_usage"] == pytest.approx(211, rel=1e-3)
    assert (tiles[0]["frequency"], tiles[1]["frequency"]) == (1300, 1600)
    assert (tiles[0]["memory_used"], tiles[1]["memory_used"]) == (1024, 2048)
    assert tiles[0]["gpu_utilization"] is None  # fdinfo counts engine classes over the whole device
    assert out[0]["metrics"]["memory_used"] == 0


def test_integrated_gpu_no_hwmon_reasons_not_zeros(tmp_path):
    t = ht.integrated_adl(tmp_path)
    gpu = t.expect["gpus"][0]
    k = Kernel(t).gpu(gpu, "i915", act_mhz=1100)
    k.client(7000, gpu, {"render": 0.3, "video": 0.1})
    (g,) = read(tmp_path, k)
    m = g["metrics"]
    assert m["gpu_utilization"] == pytest.approx(30, rel=1e-3) and m["frequency"] == 1100
    for key in ("power_usage", "energy", "temperature", "memory_total", "memory_used"):
        assert m[key] is None and g["unavailable"][key]
    assert "discrete GPUs only" in g["unavailable"]["power_usage"]


def test_duplicated_descriptor_counts_once_and_other_users_noted(tmp_path, monkeypatch):
    t = ht.arc_b_xe(tmp_path)
    gpu = t.expect["gpus"][0]
    k = Kernel(t).gpu(gpu, "xe", watts=50, vram=12 * GiB)
    k.client(4242, gpu, {"rcs": 0.4}, resident={"vram0": GiB}, dup_fd=9)
    k.unreadable_process(999)
    real_listdir = os.listdir
    denied = str(tmp_path / "proc/999/fd")

    def listdir(p):  # these tests run as root, who reads every process: deny as the kernel does a user
        if str(p) == denied:
            raise PermissionError(13, "Permission denied", p)
        return real_listdir(p)

    monkeypatch.setattr(fdinfo.os, "listdir", listdir)
    (g,) = read(tmp_path, k)
    assert g["metrics"]["gpu_utilization"] == pytest.approx(40, rel=1e-3)
    assert g["metrics"]["memory_used"] == 1024
    assert len(g["notes"]) == 1 and "1 processes of other users" in g["notes"][0]


def test_counter_going_back_is_no_rise():
    before = {"clients": {("0000:03:00.0", "3"): fdinfo.parse(
        "drm-driver:\txe\ndrm-client-id:\t3\ndrm-pdev:\t0000:03:00.0\ndrm-cycles-rcs:\t900\n"
        "drm-total-cycles-rcs:\t1000\n")}}
    after = {"clients": {("0000:03:00.0", "3"): fdinfo.parse(
        "drm-driver:\txe\ndrm-client-id:\t3\ndrm-pdev:\t0000:03:00.0\ndrm-cycles-rcs:\t800\n"
        "drm-total-cycles-rcs:\t2000\n")}}
    assert fdinfo.utilisation(before, after, 1.0, "0000:03:00.0") == {"rcs": 0.0}


def test_fdinfo_units_and_deprecated_alias():
    rec = fdinfo.parse("drm-driver: i915\ndrm-pdev: 0000:00:02.0\ndrm-memory-local0: 3 MiB\n"
                       "drm-resident-system0: 12 KiB\ndrm-engine-render: 17 ns\ndrm-engine-capacity-video: 2\n")
    assert rec["resident"] == {"local0": 3 * MiB, "system0": 12 * 1024}
    assert rec["engine_ns"] == {"render": 17} and rec["capacity"] == {"video": 2}
    assert fdinfo.parse("pos: 0\nflags: 02\n") is None  # not a DRM client


def test_unbound_gpu_listed_with_reason(tmp_path):
    t = ht.arc_b_xe(tmp_path, bound=False)
    k = Kernel(t)
    (g,) = read(tmp_path, k)
    assert g["driver"] is None and all(v is None for k_, v in g["metrics"].items() if k_ != "tiles")
    assert "not bound" in g["unavailable"]["power_usage"]
