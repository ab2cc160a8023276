"""The service over real uvicorn on 127.0.0.1 with the sysfs source (a host tree whose counters move, see
tests/support/gpu_telemetry) and with XPU Manager (the 1.x stand-in); GET /metrics on both; the CLI."""

import contextlib
import os
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from checks.telemetry.sampler import Sampler
from tests.support import hosttree as ht
from tests.support.gpu_telemetry import Kernel
from tests.support.monitor_helpers import FAKE_PROBE, monitor_for
from tests.support.xpum_standins import Xpum1Rest, arc_a770, closed_url, max_1550
from xpu_ops import cli
from xpu_ops.monitor import Settings, XPUMonitorService
from xpu_ops.service import create_app

GiB = 1 << 30
STATUS, METRICS = "/api/v1/analytics/gpu/status", "/api/v1/analytics/gpu/metrics"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the host trees make device nodes (mknod needs root)")


def arc_b(root):
    t = ht.arc_b_xe(root)
    gpu = t.expect["gpus"][0]
    k = Kernel(t).gpu(gpu, "xe", watts=120, temps={"pkg": 61.5, "vram": 52}, vram=12 * GiB, act_mhz=2850)
    k.client(4242, gpu, {"ccs": 0.6}, resident={"vram0": 2 * GiB})
    return k, gpu


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus exposition."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


@contextlib.contextmanager
def live(monitor):
    with cli.BackgroundServer(create_app(monitor)) as srv:
        yield lambda path, **kw: httpx.get(srv.url + path, timeout=10, **kw)


def sysfs_monitor(root, k, **env):
    e = {"XPU_OPS_SOURCE": "sysfs", "XPU_OPS_ROOT": str(root), **env}
    settings = Settings.from_env(e)
    settings.sampler = Sampler(root, clock=k.clock, sleep=k.sleep)  # the stand-in's clock: counters move
    return XPUMonitorService(settings=settings, torch_probe=lambda: dict(FAKE_PROBE))


def test_sysfs_status_metrics_and_prometheus_over_uvicorn(tmp_path):
    k, gpu = arc_b(tmp_path)
    with live(sysfs_monitor(tmp_path, k)) as get:
        st, one, missing, prom = get(STATUS), get(METRICS, params={"device_id": 0}), \
            get(METRICS, params={"device_id": 3}), get("/metrics")
    assert st.status_code == 200
    body = st.json()
    assert body["xpu_manager"]["available"] is False and "not asked" in body["xpu_manager"]["reason"]
    tel = body["telemetry"]
    assert (tel["source"], tel["available"], tel["root"]) == ("sysfs", True, str(tmp_path))
    g = tel["gpus"][0]
    assert (g["source"], g["pci_bdf_address"], g["driver"]) == ("sysfs", gpu, "xe")
    assert g["metrics"]["power_usage"] == pytest.approx(120, rel=1e-3)
    assert g["metrics"]["gpu_utilization"] == pytest.approx(60, rel=1e-3)
    assert g["metrics"]["memory_used"] == 2048 and g["metrics"]["memory_total"] == 12288
    assert "energy1_input" in g["sources"]["energy"] and g["limits"]["rated"] == 225.0
    assert one.status_code == 200 and one.json()["source"] == "sysfs"
    assert one.json()["metrics"]["temperature"] == 61.5
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert "the kernel (sysfs) lists GPU ids: 0" in missing.json()["detail"]  # not XPU Manager: it was not asked
    assert prom.status_code == 200 and prom.headers["content-type"].startswith("text/plain")
    s = samples(prom.text)
    labels = frozenset({"pci_address": gpu, "device_id": "0", "source": "sysfs"}.items())
    assert s[("xpu_ops_gpu_power_watts", labels)] == pytest.approx(120, rel=1e-3)
    assert s[("xpu_ops_gpu_memory_used_bytes", labels)] == 2 * GiB
    assert s[("xpu_ops_gpu_frequency_hertz", labels)] == 2850e6
    assert s[("xpu_ops_gpu_utilization_ratio", labels)] == pytest.approx(0.6, rel=1e-3)
    assert ("xpu_ops_gpu_energy_joules_total", labels) in s
    assert s[("xpu_ops_gpu_power_limit_watts", labels | {("limit", "sustained")})] == 190.0
    assert s[("xpu_ops_telemetry_up", frozenset({("source", "sysfs")}))] == 1


def test_auto_falls_back_to_sysfs_when_xpu_manager_does_not_answer(tmp_path):
    k, gpu = arc_b(tmp_path)
    mon = sysfs_monitor(tmp_path, k, XPU_OPS_SOURCE="auto", XPU_MANAGER_URL=closed_url("http"))
    with live(mon) as get:
        body = get(STATUS).json()
        prom = get("/metrics").text
    assert body["telemetry"]["source"] == "sysfs" and body["telemetry"]["gpus"][0]["pci_bdf_address"] == gpu
    assert body["xpu_manager"]["available"] is False and "refused" in body["xpu_manager"]["reason"]
    assert 'source="sysfs"' in prom


def test_xpum_source_prometheus_labelled_by_pci_address():
    with Xpum1Rest(gpus=[arc_a770(), max_1550()]) as srv:
        mon = monitor_for(srv, XPU_OPS_SOURCE="xpum")
        with live(mon) as get:
            body = get(STATUS).json()
            prom = get("/metrics").text
    assert body["telemetry"]["source"] == "xpum" and body["telemetry"]["gpus"] == body["xpu_manager"]["gpus"]
    s = samples(prom)
    for g in body["xpu_manager"]["gpus"]:
        labels = frozenset({"pci_address": g["pci_bdf_address"], "device_id": str(g["device_id"]),
                            "source": "xpum"}.items())
        assert s[("xpu_ops_gpu_power_watts", labels)] == pytest.approx(g["metrics"]["power_usage"])
    tiles = [k for k in s if k[0] == "xpu_ops_gpu_tile_frequency_hertz"]
    assert len(tiles) == 2  # the Max's two tiles


def test_cli_status_and_metrics_sysfs_no_xpu_manager(tmp_path):
    arc_b(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPU_")}
    run = [sys.executable, "-m", "xpu_ops"]
    st = subprocess.run(run + ["status", "--source", "sysfs", "--root", str(tmp_path), "--python", "/bin/false"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert st.returncode == 0, st.stderr
    assert "Telemetry    sysfs" in st.stdout and "Battlemage" in st.stdout and "0000:03:00.0" in st.stdout
    me = subprocess.run(run + ["metrics", "--source", "sysfs", "--root", str(tmp_path), "--json"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert me.returncode == 0 and '"source": "sysfs"' in me.stdout
    bad = subprocess.run(run + ["status", "--source", "sysfs", "--root", str(tmp_path / "nope")],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "--root" in bad.stderr and "Traceback" not in bad.stderr


def test_fleet_textfile_has_the_same_gpu_series(tmp_path):
    tree = tmp_path / "host"
    k, gpu = arc_b(tree)
    inv = tmp_path / "fleet.ini"
    inv.write_text("[gpu]\n" + "".join(
        f"here-{i} ansible_connection=local ansible_python_interpreter={sys.executable}\n" for i in (1, 2)))
    prom = tmp_path / "xpu_ops.prom"
    r = subprocess.run([sys.executable, "-m", "xpu_ops.remote", "--inventory", str(inv), "--only", "platform",
                        "--root", str(tree), "--prometheus", str(prom), "--json"],
                       capture_output=True, text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(
                           os.path.dirname(os.path.abspath(__file__)))))
    assert r.returncode in (0, 1), r.stderr
    m = samples(prom.read_text())
    for host in ("here-1", "here-2"):
        labels = frozenset({"device_id": "0", "host": host, "pci_address": gpu, "source": "sysfs"}.items())
        assert m[("xpu_ops_gpu_temperature_celsius", labels)] == 61.5
        assert m[("xpu_ops_gpu_memory_total_bytes", labels)] == 12 * GiB
        assert m[("xpu_ops_gpu_power_limit_watts", labels | {("limit", "rated")})] == 225.0
        assert ("xpu_ops_gpu_energy_joules_total", labels) in m
