"""The GPU readings as Prometheus series: ``GET /metrics`` on the service and the fleet textfile.

One family per reading, labelled by ``pci_address`` (and ``host`` in a fleet); per-tile readings in
``xpu_ops_gpu_tile_*`` with a ``tile`` label. Units as Prometheus names them: bytes, celsius, watts,
joules, hertz, ratio of 1 for utilisation. A null reading has no sample (the JSON says why).
"""

from __future__ import annotations

MIB = 1024 * 1024
# key -> (series name, help, factor from our unit, counter?)
SERIES = {
    "gpu_utilization": ("utilization_ratio", "Busiest engine class busy share (0-1)", 0.01, False),
    "memory_used": ("memory_used_bytes", "Device memory in use, bytes", MIB, False),
    "memory_total": ("memory_total_bytes", "Device memory size, bytes", MIB, False),
    "memory_utilization": ("memory_utilization_ratio", "Device memory in use / size (0-1)", 0.01, False),
    "temperature": ("temperature_celsius", "GPU (package) temperature, Celsius", 1.0, False),
    "memory_temperature": ("memory_temperature_celsius", "Device memory temperature, Celsius", 1.0, False),
    "power_usage": ("power_watts", "Power over the last interval, W", 1.0, False),
    "frequency": ("frequency_hertz", "Actual GT frequency, Hz", 1e6, False),
    "energy": ("energy_joules", "Energy since the driver loaded, J", 1.0, True),
}
LIMITS = (("sustained", "PL1 (power1_max)"), ("rated", "TDP (power1_rated_max)"))


def _families(gpus, base_labels=(), base_values=()):
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    labels = list(base_labels) + ["pci_address", "device_id", "source"]
    fams = []
    for key, (name, help_, factor, counter) in SERIES.items():
        cls = CounterMetricFamily if counter else GaugeMetricFamily
        dev = cls(f"xpu_ops_gpu_{name}", help_, labels=labels)
        tile = cls(f"xpu_ops_gpu_tile_{name}", help_ + " (one tile)", labels=labels + ["tile"])
        for g in gpus:
            vals = list(base_values) + [str(g.get("pci_bdf_address") or ""), str(g["device_id"]),
                                        str(g.get("source") or "")]
            v = (g.get("metrics") or {}).get(key)
            if v is not None:
                dev.add_metric(vals, v * factor)
            for t in (g.get("metrics") or {}).get("tiles") or []:
                if t.get(key) is not None:
                    tile.add_metric(vals + [str(t.get("tile_id"))], t[key] * factor)
        fams += [dev, tile]
    lim = GaugeMetricFamily("xpu_ops_gpu_power_limit_watts", "Power limits from hwmon, W",
                            labels=labels + ["limit"])
    info = GaugeMetricFamily("xpu_ops_gpu_info", "One per GPU (value 1): its name and driver",
                             labels=labels + ["name", "driver"])
    for g in gpus:
        vals = list(base_values) + [str(g.get("pci_bdf_address") or ""), str(g["device_id"]),
                                    str(g.get("source") or "")]
        for kind, _ in LIMITS:
            v = (g.get("limits") or {}).get(kind)
            if v is not None:
                lim.add_metric(vals + [kind], v)
        info.add_metric(vals + [str(g.get("device_name") or ""), str(g.get("driver") or "")], 1)
    return fams + [lim, info]


class TelemetryCollector:
    """prometheus_client collector over ``status()`` (XPUMonitorService.get_telemetry_status)."""

    def __init__(self, status):
        self._status = status

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        st = self._status()
        up = GaugeMetricFamily("xpu_ops_telemetry_up", "1 when the telemetry source answered", labels=["source"])
        up.add_metric([st["source"]], 1 if st["available"] else 0)
        yield up
        yield from _families(st["gpus"])


def exposition(status) -> tuple[bytes, str]:
    """(body, content type) of the Prometheus text format for a telemetry status."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    reg = CollectorRegistry(auto_describe=False)
    reg.register(TelemetryCollector(lambda: status))
    return generate_latest(reg), CONTENT_TYPE_LATEST


def fleet_families(hosts: dict):
    """The same series for a fleet: ``hosts`` {name: host entry with "telemetry" (a telemetry status)}."""
    gpus_by_host = [(name, (h.get("telemetry") or {}).get("gpus") or []) for name, h in hosts.items()]
    out = None
    for name, gpus in gpus_by_host:
        fams = _families(gpus, ["host"], [name])
        if out is None:
            out = fams
        else:
            for a, b in zip(out, fams):
                a.samples.extend(b.samples)
    return [f for f in out or [] if f.samples]  # hosts without readings add no families
