"""The two Prometheus dialects the client reads: the 2.x exporter (``xpumd``, OpenTelemetry names) and
the 1.x exporter (``xpum_rest``'s ``/metrics``, read when its REST API is off: ``XPUM_EXPORTER_ONLY=1``).

GPUs in a scrape have no ids: they are numbered by PCI BDF order (stable across scrapes). The series
each metric comes from are in the metric table (``checks.xpum.metrics``); what is dialect-specific is
here: which families list the GPUs, how their labels describe a GPU, which label names a tile.
"""

from __future__ import annotations

from collections import namedtuple

from checks.xpum.metrics import METRICS, combine
from checks.xpum.values import RANK, STATUS_2X, norm_bdf, norm_pci_id, overall


def _gpu_2x(lab: dict, bdf: str) -> dict:
    return {
        "device_name": lab.get("hw_name") or lab.get("hw_model"),
        "pci_bdf_address": bdf,
        "pci_device_id": norm_pci_id(lab.get("pci_device_id")),
        "uuid": None,
        "hw_id": lab.get("hw_id"),
        "vendor_name": lab.get("hw_vendor"),
        "pci_vendor_id": norm_pci_id(lab.get("pci_vendor_id")),
        "serial_number": lab.get("hw_serial_number"),
        "firmware_version": lab.get("hw_firmware_version"),
        "gpu_type": lab.get("hw_gpu_type"),
        "device_type": "GPU",
    }


def _gpu_1x_exporter(lab: dict, bdf: str) -> dict:
    dev_file = lab.get("dev_file")
    return {
        "device_name": lab.get("dev_name"),
        "pci_bdf_address": bdf,
        "pci_device_id": norm_pci_id(lab.get("pci_dev")),
        "uuid": lab.get("uuid"),
        "vendor_name": lab.get("vendor"),
        "drm_device": f"/dev/dri/{dev_file}" if dev_file else None,
        "device_type": "GPU",
    }


# info: sample names whose series list the GPUs (label pci_bdf); gpu: (labels, bdf) -> the GPU as list_gpus()
# gives it; tile_label: the label naming a tile (absent on device-level series); series: (Series, metric key),
# from the metric table
Dialect = namedtuple("Dialect", "info gpu tile_label series")


DIALECT_2X = Dialect(
    info=("hw_gpu_info",),
    gpu=_gpu_2x,
    tile_label="com_intel_subdevice_id",
    series=tuple((s, m.key) for m in METRICS for s in m.exporter_2x),
)
# 1.x exporter (rest/prometheus_exporter/prometheus_exporter_types.py): ratios are % x 0.01, energy J
DIALECT_1X = Dialect(
    info=(
        "xpum_power_watts",
        "xpum_temperature_celsius",
        "xpum_memory_used_bytes",
        "xpum_engine_ratio",
        "xpum_frequency_mhz",
    ),
    gpu=_gpu_1x_exporter,
    tile_label="sub_dev",
    series=tuple((s, m.key) for m in METRICS for s in m.exporter_1x),
)
REDUCE = {m.key: m.reduce for m in METRICS}


def parse(text: str):
    """The exposition (checks.xpum.exposition, imported when a scrape is first read); ValueError when the
    text is not Prometheus text."""
    from checks.xpum import exposition

    return exposition.parse(text)


def has_gpu_info(fams) -> bool:
    return "hw_gpu_info" in fams.families


def version_2x(fams):
    for s in fams.get("target_info", []):
        v = s.labels.get("service_version")
        if v:
            return {"xpum_version": v}
    return None


def gpus(fams, dialect) -> list:
    """[GPU], numbered by BDF order."""
    seen: dict = {}
    for name in dialect.info:
        for s in fams.get(name, []):
            bdf = norm_bdf(s.labels.get("pci_bdf"))
            if not bdf or bdf in seen or s.labels.get("hw_gpu_type") == "subdevice":
                continue
            seen[bdf] = dialect.gpu(s.labels, bdf)
    return [{"device_id": i, **seen[bdf]} for i, bdf in enumerate(sorted(seen))]


def health_2x(fams, bdf: str) -> tuple:
    """(status, components) from the 2.x ``hw_status`` series of the GPU at ``bdf``."""
    states: dict = {}
    for s in fams.get("hw_status", []):
        if norm_bdf(s.labels.get("pci_bdf")) == bdf and s.value == 1 and s.labels.get("hw_state"):
            states.setdefault(s.labels.get("hw_type") or "gpu", []).append(s.labels["hw_state"])
    components = {}
    for hw_type, found in states.items():
        state = max(found, key=lambda st: RANK.get(STATUS_2X.get(st, "unknown"), -1))
        components[hw_type] = {"status": state, "description": f"hw_status {hw_type}: {state}"}
    return overall(STATUS_2X.get(c["status"], "unknown") for c in components.values()), components


def metrics(fams, dialect, bdf: str, device_id: int) -> dict:
    """The metrics of the GPU at ``bdf`` in our units (device level, derived from tiles where missing)."""
    scopes: dict = {}  # None (device level) or tile id label -> {key: [values]}
    for series, key in dialect.series:
        for s in fams.get(series.name, []):
            if norm_bdf(s.labels.get("pci_bdf")) != bdf or not series.accepts(s.labels):
                continue
            scope = scopes.setdefault(s.labels.get(dialect.tile_label), {})
            scope.setdefault(key, []).append(s.value * series.factor)

    def flat(values: dict) -> dict:
        return {k: (REDUCE[k](values[k]) if values.get(k) else None) for k in REDUCE}

    device = flat(scopes.get(None, {}))
    tile_ids = sorted((k for k in scopes if k is not None), key=lambda k: (len(k), k))
    tiles = [{"tile_id": int(k) if k.isdigit() else k, **flat(scopes[k])} for k in tile_ids]
    device_only = {m.key: device.pop(m.key) for m in METRICS if m.tiles is None}
    for t in tiles:
        for k in device_only:
            t.pop(k)
    out = {"device_id": device_id, **combine(device, tiles), **device_only}
    if len(tiles) > 1:
        out["tiles"] = tiles
    return out
