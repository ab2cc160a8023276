"""The metric model: ONE table of the GPU metrics xpu-ops reports, and where each comes from.

Each row: our key, our unit, the API description, the 1.x REST source (``/stats`` ``XPUM_STATS_*`` or a
``/devices/<id>`` field) with the factor to our unit, the 1.x exporter's series, the 2.x exporter's series
(with label filters), how a device value follows from its tiles' (None: no per-tile value), and how
several series of one scope in a scrape reduce to one value. Everything else is derived from it: the
client's conversions (``checks.xpum.rest1x``, ``checks.xpum.prometheus``), ``METRIC_KEYS``/``TILE_KEYS``
(and so the monitor's), the service's response model, the CLI's units and ``markdown()``'s units table.
Adding a metric is one row here.

Upstream units: 1.x stats POWER W, ENERGY mJ, GPU_FREQUENCY MHz, temperatures C, MEMORY_USED bytes,
utilizations % (core/include/xpum_structs.h). 1.x exporter (rest/prometheus_exporter/
prometheus_exporter_types.py): ratios are % x 0.01, energy J. 2.x (xpumd/receiver/intelxpu/sysman/
documentation.md): W, J, Hz, C, bytes, ratio 0..1. Ours: W, J, MHz, C, MiB, %.

``python -m checks.xpum.metric_table --markdown`` prints the units table (``markdown()``).
"""

from __future__ import annotations

from collections import namedtuple

MIB = 1024 * 1024
# 2.x (xpumd receiver, intel/xpumanager xpumd/receiver/intelxpu/sysman/*.go @ 34c32c6e80b280c598e4fb5e6e9fa62e8d8d128c):
# hw_temperature_celsius{hw_sensor_location} is the lower-cased zes_temp_sensors_t (global, gpu, memory, gpu_board,
# voltage_regulator) with statistic="max" (or "min" for the *_MIN sensors); memory series carry hw_memory_location
# (device, system); hw_gpu_utilization_ratio{hw_gpu_task} is the engine group (all, compute-all, render-all,
# 3d-render-compute-all, copy-all, media-all, ...); power/energy hw_sensor_location is the power domain (card,
# package, stack, memory, gpu).
COMPUTE_GROUPS = ("3d-render-compute-all", "compute-all", "render-all")


def mean(values):
    return sum(values) / len(values)


class Where(namedtuple("Where", "label op values missing", defaults=(None,))):
    """A label filter: the label's value (``missing`` when absent) is (``op`` "in") or is not ("not in")
    one of ``values``."""

    __slots__ = ()

    def accepts(self, labels: dict) -> bool:
        value = labels.get(self.label, self.missing)
        return (value in self.values) if self.op == "in" else (value not in self.values)

    def text(self) -> str:
        if self.values == ("",):
            return f'{self.label}=""'
        many = len(self.values) > 1
        op = ("=~" if many else "=") if self.op == "in" else ("!~" if many else "!=")
        absent_ok = (self.missing in self.values) == (self.op == "in") and self.missing is not None
        return f'{self.label}{op}"{"|".join(self.values)}"' + (" or absent" if absent_ok else "")


def where(label, *values, missing=None):
    return Where(label, "in", values, missing)


def where_not(label, *values, missing=None):
    return Where(label, "not in", values, missing)


class Series(namedtuple("Series", "name factor filters", defaults=(1.0, ()))):
    """A Prometheus series: sample name, factor to our unit, label filters (all must accept). A metric lists
    alternatives in order of preference: the first one with a sample for a GPU is its source."""

    __slots__ = ()

    def accepts(self, labels: dict) -> bool:
        return all(f.accepts(labels) for f in self.filters)


# A 1.x REST value: ``stats`` (an ``XPUM_STATS_*`` entry of /stats) or ``device`` (a /devices/<id> field).
Rest1x = namedtuple("Rest1x", "source field factor upstream_unit")
# key, our unit, the API description, Rest1x or None, the 1.x and 2.x exporters' Series, ``tiles``: how the
# device value follows from the tiles' when the device level lacks it (None: no per-tile value), ``reduce``:
# several series of one scope in a scrape -> one value.
Metric = namedtuple("Metric", "key unit description rest_1x exporter_1x exporter_2x tiles reduce",
                    defaults=(max,))


METRICS = (
    Metric("gpu_utilization", "%", "%",
           Rest1x("stats", "XPUM_STATS_GPU_UTILIZATION", 1.0, "%"),  # %
           (Series("xpum_engine_ratio", 100.0),),
           (Series("hw_gpu_utilization_ratio", 100.0, (where("hw_gpu_task", "all", missing="all"),)),
            Series("hw_gpu_utilization_ratio", 100.0, (where("hw_gpu_task", *COMPUTE_GROUPS),))),
           tiles=mean),
    Metric("memory_used", "MiB", "MiB",
           Rest1x("stats", "XPUM_STATS_MEMORY_USED", 1.0 / MIB, "bytes"),  # bytes -> MiB
           (Series("xpum_memory_used_bytes", 1.0 / MIB),),
           (Series("hw_memory_usage_bytes", 1.0 / MIB, (where("hw_memory_location", "device", missing="device"),)),),
           tiles=sum, reduce=sum),
    Metric("memory_total", "MiB", "MiB",
           Rest1x("device", "memory_physical_size_byte", 1.0 / MIB, "bytes"),  # a string, bytes -> MiB
           (),
           (Series("hw_memory_size_bytes", 1.0 / MIB, (where("hw_memory_location", "device", missing="device"),)),),
           tiles=None, reduce=sum),
    Metric("temperature", "C", "GPU core, Celsius",
           Rest1x("stats", "XPUM_STATS_GPU_CORE_TEMPERATURE", 1.0, "C"),  # C
           (Series("xpum_temperature_celsius", 1.0, (where("location", "gpu"),)),),
           (Series("hw_temperature_celsius", 1.0, (where("statistic", "max", missing="max"),
                                                   where("hw_sensor_location", "gpu"))),
            Series("hw_temperature_celsius", 1.0, (where("statistic", "max", missing="max"),
                                                   where("hw_sensor_location", "global"))),),
           tiles=max),
    Metric("power_usage", "W", "W",
           Rest1x("stats", "XPUM_STATS_POWER", 1.0, "W"),  # W
           (Series("xpum_power_watts"),),
           (Series("hw_power_watts", 1.0, (where("hw_sensor_location", "card"),)),
            Series("hw_power_watts", 1.0, (where_not("hw_sensor_location", "memory"),))),
           tiles=sum),
    Metric("memory_utilization", "%", "%",
           Rest1x("stats", "XPUM_STATS_MEMORY_UTILIZATION", 1.0, "%"),  # %
           (Series("xpum_memory_ratio", 100.0),),
           (Series("hw_memory_utilization_ratio", 100.0, (where("hw_memory_location", "device", missing="device"),)),),
           tiles=mean),
    Metric("memory_temperature", "C", "Celsius; null where there is no sensor (Arc)",
           Rest1x("stats", "XPUM_STATS_MEMORY_TEMPERATURE", 1.0, "C"),  # C
           (Series("xpum_temperature_celsius", 1.0, (where("location", "mem"),)),),
           (Series("hw_temperature_celsius", 1.0, (where("statistic", "max", missing="max"),
                                                   where("hw_sensor_location", "memory"))),),
           tiles=max),
    Metric("frequency", "MHz", "MHz",
           Rest1x("stats", "XPUM_STATS_GPU_FREQUENCY", 1.0, "MHz"),  # MHz
           (Series("xpum_frequency_mhz", 1.0, (where("location", "gpu", missing="gpu"),
                                               where("type", "actual", missing="actual"))),),
           (Series("hw_frequency_hertz", 1e-6, (where("hw_frequency_domain", "gpu", missing="gpu"),
                                                where("aggregation", "avg", missing="avg"))),),
           tiles=mean),
    Metric("energy", "J", "J, a counter (cumulative); null on 1.x REST, whose /stats has no counter",
           None,  # 1.x /stats XPUM_STATS_ENERGY is not a counter: see energy_interval
           # a prometheus_client Counter named xpum_energy_joules is exposed as xpum_energy_joules_total
           (Series("xpum_energy_joules"), Series("xpum_energy_joules_total")),
           (Series("hw_energy_joules_total", 1.0, (where("hw_sensor_location", "card"),)),
            Series("hw_energy_joules_total", 1.0, (where_not("hw_sensor_location", "memory"),))),
           tiles=sum),
    # 1.x REST /stats XPUM_STATS_ENERGY "value" is the energy used since the previous /stats query of that GPU by
    # ANY client (mJ), not a counter (measured against upstream's server, v1.3.x: 5887 J, then 217 J on the next
    # poll; issue #11). Reported as what it is, under its own name; null elsewhere.
    Metric("energy_interval", "J",
           "J used since the previous /stats query of this GPU by any client (1.x REST only; not a counter)",
           Rest1x("stats", "XPUM_STATS_ENERGY", 1.0 / 1000, "mJ"),  # mJ -> J
           (), (), tiles=sum),
)

BY_KEY = {m.key: m for m in METRICS}
METRIC_KEYS = tuple(m.key for m in METRICS)  # the metrics every GPU has (None when not reported), in order
TILE_KEYS = tuple(m.key for m in METRICS if m.tiles is not None)  # ... and every tile
UNITS = tuple((m.key, m.unit) for m in METRICS)


def stats_1x(entries) -> dict:
    """A 1.x ``device_level`` or tile ``data_list`` -> {key: value in our unit or None} (stats metrics only)."""
    from checks.xpum.values import num

    raw = {}
    for e in entries or []:
        if isinstance(e, dict) and "metrics_type" in e:
            raw[e["metrics_type"]] = num(e.get("value"))
    out = {}
    for m in METRICS:
        if m.rest_1x is not None and m.rest_1x.source == "stats":
            v = raw.get(m.rest_1x.field)
            out[m.key] = None if v is None else v * m.rest_1x.factor
        elif m.rest_1x is None and m.tiles is not None:
            out[m.key] = None  # not served by 1.x REST (e.g. the energy counter)
    return out


def combine(device: dict, tiles: list) -> dict:
    """Device-level values; a value missing there is derived from the tiles only when every tile has it."""
    out = dict(device)
    derived = []
    if tiles:
        for m in METRICS:
            if m.tiles is not None and out.get(m.key) is None:
                vals = [t.get(m.key) for t in tiles]
                if vals and all(v is not None for v in vals):
                    out[m.key] = m.tiles(vals)
                    derived.append(m.key)
    out["derived_from_tiles"] = derived
    return out


# --------------------------------------------------------------------------- the units table (docs)


def _factor(f: float) -> str:
    if f == 1:
        return ""
    if f > 1:
        return f" x {f:g}"
    inv = round(1 / f)
    if inv & (inv - 1) == 0:
        return f" / 2^{inv.bit_length() - 1}"
    digits = str(inv)
    if digits.strip("0") == "1" and inv >= 10000:
        return f" / 10^{len(digits) - 1}"
    return f" / {inv}"


def _series(series: tuple) -> str:
    parts = []
    for s in series:
        labels = ", ".join(f.text() for f in s.filters)
        parts.append(f"`{s.name}{{{labels}}}`{_factor(s.factor)}" if labels else f"`{s.name}`{_factor(s.factor)}")
    return ", else ".join(parts).replace("|", "\\|") or "-"  # a | inside a markdown table cell is escaped


def _rest(r) -> str:
    if r is None:
        return "-"
    where_ = "`/stats`" if r.source == "stats" else "`/devices/<id>`"
    return f"{where_} `{r.field}` ({r.upstream_unit}){_factor(r.factor)}"


def markdown() -> str:
    """The units table (markdown): one row per metric, derived from METRICS."""
    rows = ["| field | unit | 1.x REST (`/rest/v1/devices/<id>...`) | 1.x exporter | 2.x exporter "
            "| device value from tiles |",
            "|---|---|---|---|---|---|"]
    for m in METRICS:
        tiles = m.tiles.__name__ if m.tiles else f"{m.reduce.__name__} (no per-tile value)"
        rows.append(f"| `{m.key}` | {m.unit} | {_rest(m.rest_1x)} | {_series(m.exporter_1x)} "
                    f"| {_series(m.exporter_2x)} | {tiles} |")
    return "\n".join(rows) + "\n"

