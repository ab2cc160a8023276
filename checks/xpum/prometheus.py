"""The two Prometheus dialects the client reads: the 2.x exporter (``xpumd``, OpenTelemetry names) and
the 1.x exporter (``xpum_rest``'s ``/metrics``, read when its REST API is off: ``XPUM_EXPORTER_ONLY=1``).

GPUs in a scrape have no ids: they are numbered by PCI BDF order (stable across scrapes). The series
each metric comes from are in the metric table (``checks.xpum.metrics``); what is dialect-specific is
here: which families list the GPUs, how their labels describe a GPU, which label names a tile.
"""

from __future__ import annotations

from collections import namedtuple

from checks.xpum.metrics import METRICS, TILE_KEYS
from checks.xpum.values import norm_bdf, norm_pci_id, overall


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


TILE_2X = "com_intel_subdevice_id"  # "" on device-level series, "0", "1" on tiles
DIALECT_2X = Dialect(
    info=("hw_gpu_info",),
    gpu=_gpu_2x,
    tile_label=TILE_2X,
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


# 2.x health: the intelxpuinfo exporter's default hw_status_mappings (intel/xpumanager xpumd/config-example.yaml
# and xpumd/exporter/intelxpuinfo/{config,translator}.go @ 34c32c6e80b280c598e4fb5e6e9fa62e8d8d128c): only series
# with value 1 are active states; the health domain is hw_type; hw_type "memory" maps unknown/ok/degraded/critical/
# replace, every other type unknown/ok/warning/critical/failed; any other state ("*") is a warning; the worst
# severity of a domain wins.
SEVERITY_2X = {
    "memory": {"unknown": "unknown", "ok": "ok", "degraded": "warning", "critical": "critical", "replace": "critical"},
    None: {"unknown": "unknown", "ok": "ok", "warning": "warning", "critical": "critical", "failed": "failed"},
}
SEVERITY_RANK = {"unknown": 0, "ok": 1, "warning": 2, "critical": 3, "failed": 4}
# upstream severity -> our health status (our scale has no "failed": it is the worst, critical)
SEVERITY_STATUS = {"unknown": "unknown", "ok": "healthy", "warning": "warning", "critical": "critical",
                   "failed": "critical"}


def severity_2x(hw_type, state: str) -> str:
    """Upstream's default mapping of one active hw_status state."""
    table = SEVERITY_2X.get(hw_type, SEVERITY_2X[None])
    return table.get(state, "warning")


def health_2x(fams, bdf: str) -> tuple:
    """(status, components) from the 2.x ``hw_status`` series of the GPU at ``bdf``: one component per health
    domain (hw_type) with the worst active state, its upstream severity and the tiles or sensors it came from."""
    components: dict = {}
    for s in fams.get("hw_status", []):
        state = s.labels.get("hw_state")
        if norm_bdf(s.labels.get("pci_bdf")) != bdf or s.value != 1 or not state:
            continue
        hw_type = s.labels.get("hw_type") or "gpu"
        sev = severity_2x(hw_type, state)
        where_ = s.labels.get(TILE_2X) or ""
        where_ = ("tile " + where_) if where_ else "device"
        if s.labels.get("hw_sensor_location"):
            where_ += " " + s.labels["hw_sensor_location"]
        c = components.get(hw_type)
        if c is None or SEVERITY_RANK[sev] > SEVERITY_RANK[c["severity"]]:
            components[hw_type] = {"status": state, "severity": sev,
                                   "description": f"hw_status {hw_type}: {state} ({where_})"}
    return overall(SEVERITY_STATUS[c["severity"]] for c in components.values()), components


def _scope(labels: dict, tile_label: str):
    """None for a device-level series (tile label absent or ""), else the tile id."""
    return labels.get(tile_label) or None


def metrics(fams, dialect, bdf: str, device_id: int) -> dict:
    """The metrics of the GPU at ``bdf`` in our units. Per metric, the first of its series (in the metric table's
    order of preference) with a sample for this GPU is the source; its device-level value (tile label "" or absent)
    is used where it exists, else the tiles' values aggregate (``tiles``: sum, mean, max; device-only metrics with
    their ``reduce``). Several samples of one scope reduce with ``reduce``."""
    found: dict = {}  # key -> [{scope: [values]} of each series with a sample for this GPU, in preference order]
    for m in METRICS:
        for series in (m.exporter_2x if dialect is DIALECT_2X else m.exporter_1x):
            scopes: dict = {}
            for s in fams.get(series.name, []):
                if norm_bdf(s.labels.get("pci_bdf")) == bdf and series.accepts(s.labels):
                    scopes.setdefault(_scope(s.labels, dialect.tile_label), []).append(s.value * series.factor)
            if scopes:
                found.setdefault(m.key, []).append(scopes)
    tile_ids = sorted({t for alts in found.values() for sc in alts for t in sc if t is not None},
                      key=lambda k: (len(k), k))
    out: dict = {"device_id": device_id}
    derived = []
    for m in METRICS:
        scopes = (found.get(m.key) or [{}])[0]  # the preferred source
        if None in scopes:
            out[m.key] = m.reduce(scopes[None])
        elif scopes:
            out[m.key] = (m.tiles or m.reduce)([m.reduce(v) for v in scopes.values()])
            derived.append(m.key)
        else:
            out[m.key] = None

    def tile_value(key, t):
        for scopes in found.get(key, ()):  # a tile's value: the first source that has one for it
            if t in scopes:
                return REDUCE[key](scopes[t])
        return None

    out["derived_from_tiles"] = derived
    if len(tile_ids) > 1:
        out["tiles"] = [{"tile_id": int(t) if t.isdigit() else t,
                         **{k: tile_value(k, t) for k in TILE_KEYS}}
                        for t in tile_ids]
    return out
