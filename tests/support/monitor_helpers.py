"""What the monitor and service tests share: a monitor configured as the service is, fake clock and probe."""
import pathlib
import time

from tests.support.xpum_standins import DEFAULT_PASSWORD, arc_a770, flex_170, max_1550
from xpu_ops.monitor import Settings, XPUMonitorService

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "fixtures/upstream/xpumanager-1.x/rest_v1_devices_0_stats.json"
MIB = 1024 * 1024
CONTRACT_METRICS = {"gpu_utilization", "memory_used", "memory_total", "temperature", "power_usage"}
FAKE_PROBE = {
    "outcome": "ok", "python": "/usr/bin/python3", "torch": "2.7.0+xpu", "torch_xpu_build": "20250101",
    "available": True, "count": 1, "names": ["Intel(R) Arc(TM) A770 Graphics"], "tensor_op": True,
    "ipex_version": None,
}


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


def monitor_for(srv, clock=None, probe=FAKE_PROBE, **env):
    """A monitor configured through the environment variables, as the service is."""
    e = {"XPU_MANAGER_URL": srv.url, "XPU_MANAGER_PASSWORD": DEFAULT_PASSWORD,
         "XPU_OPS_SOURCE": "xpum"}  # these monitors stand for XPU Manager: no sysfs fallback
    if srv.ca_file:
        e["XPU_MANAGER_CA_FILE"] = srv.ca_file
    e.update(env)
    return XPUMonitorService(settings=Settings.from_env(e), torch_probe=lambda: dict(probe),
                             clock=clock or time.monotonic)


def three_gpus():
    return [arc_a770(health={"power": "Warning"}), max_1550(),
            flex_170(health={"core_temperature": "Critical", "memory": "Warning"})]


def per_gpu_hits(srv, i):
    base = f"/rest/v1/devices/{i}"
    return [srv.hits[base + "/health"], srv.hits[base + "/stats"], srv.hits[base]]
