"""Two snapshots of the counters -> every GPU's readings, in the status API's units and shape.

``Sampler(root).read()`` answers from the counters' rise since the previous read (when that was at
most ``max_age`` s ago), else samples twice ``interval`` s apart. A value the kernel does not publish
is None, and ``unavailable[key]`` says why; ``sources[key]`` says which file a value came from.
"""
import threading
import time

from checks.root import HostRoot
from checks.telemetry import fdinfo, gt, hwmon, layout

MIB = 1024 * 1024
KEYS = ("gpu_utilization", "memory_used", "memory_total", "temperature", "power_usage", "memory_utilization",
        "memory_temperature", "frequency", "energy")
TILE_KEYS = tuple(k for k in KEYS if k != "memory_total")
NO_HWMON_IGPU = "the kernel registers hwmon (energy, temperatures, power limits) for discrete GPUs only"


def snapshot(root, gpus, clock=time.monotonic):
    """The counters of every GPU now: hwmon energy (device and per tile) and the fdinfo scan."""
    energy, tiles = {}, {}
    for g in gpus:
        if g["hwmon"]:
            energy[g["bdf"]] = hwmon.energy_uj(root, g["hwmon"])
        tiles[g["bdf"]] = {t["id"]: hwmon.energy_uj(root, t["energy"][0])[0] for t in g["tiles"] if t["energy"]}
    return {"t": clock(), "energy": energy, "tile_energy": tiles, "fdinfo": fdinfo.scan(root)}


def _power(e0, e1, seconds):
    if e0 is None or e1 is None or seconds <= 0 or e1 < e0:
        return None
    return (e1 - e0) / 1e6 / seconds


class _Reading:
    def __init__(self, keys):
        self.values = dict.fromkeys(keys)
        self.sources, self.unavailable = {}, {}

    def set(self, key, value, source=None, reason=None):
        self.values[key] = value
        if value is None:
            self.unavailable[key] = reason or "not published by the kernel"
        elif source:
            self.sources[key] = source


def _freq(root, tile):
    v, path, why = gt.first(root, tile["freq"])
    return v, (path.rsplit("/", 1)[-1] if path else None), why


def _hwmon_readings(root, g, r, before, after, dt, prefix=""):
    if not g["hwmon"]:
        reason = NO_HWMON_IGPU if not g["discrete"] else "no %s hwmon under the PCI device" % g["driver"]
        for k in ("energy", "power_usage", "temperature", "memory_temperature"):
            r.set(k, None, reason=reason)
        return {"sustained": None, "rated": None}
    name = g["hwmon"].rsplit("/", 1)[-1]
    e0 = before["energy"].get(g["bdf"], (None, None))[0]
    e1, efile = after["energy"].get(g["bdf"], (None, None))
    if e1 is None:
        r.set("energy", None, reason="hwmon %s publishes no energy1_input or energy2_input" % name)
        r.set("power_usage", None, reason="no energy counter to derive power from")
    else:
        r.set("energy", e1 / 1e6, "hwmon %s %s (microjoules)" % (name, efile))
        p = _power(e0, e1, dt)
        r.set("power_usage", p, "hwmon %s %s rise over %.2f s" % (name, efile, dt),
              reason="energy counter went back or no earlier sample")
    temps = hwmon.temperatures(root, g["hwmon"])
    r.set("temperature", temps["temperature"], "hwmon %s temp*_input labelled pkg (or unlabelled)" % name,
          reason="hwmon %s publishes no package temperature (xe: kernel 6.15+)" % name)
    r.set("memory_temperature", temps["memory_temperature"], "hwmon %s temp*_input labelled vram*" % name,
          reason="hwmon %s publishes no VRAM temperature" % name)
    return hwmon.power_limits(root, g["hwmon"])


def _memory(root, g, r, scan):
    if not g["discrete"]:
        r.set("memory_total", None, reason="integrated GPU: no device memory (it uses system memory)")
        r.set("memory_used", None, reason="integrated GPU: no device memory (it uses system memory)")
        r.set("memory_utilization", None, reason="integrated GPU: no device memory")
        return {}
    paths = [p for t in g["tiles"] for p in t["vram_total"]] + g["vram_total"]
    total, why = 0, None
    for p in paths:
        v, w = gt.read_int(root, p)
        if v is None:
            why = why or w
        else:
            total += v
    if total:
        src = "physical_vram_size_bytes of each tile" if g["driver"] == "xe" else "lmem_total_bytes"
        r.set("memory_total", total / MIB, src)
    elif g["driver"] == "i915" and why in (None, "absent"):
        r.set("memory_total", None, reason="mainline i915 publishes no VRAM size (lmem_total_bytes is the "
                                           "out-of-tree i915's)")
    else:
        r.set("memory_total", None, reason="VRAM size file %s" % (why or "absent"))
    by_tile = fdinfo.resident_by_tile(scan, g["bdf"]) if not scan.get("error") else {}
    if scan.get("error"):
        r.set("memory_used", None, reason=scan["error"])
    else:
        region = "vramN" if g["driver"] == "xe" else "localN"
        r.set("memory_used", sum(by_tile.values()) / MIB, "DRM fdinfo drm-resident-%s summed over clients" % region)
    used, tot = r.values["memory_used"], r.values["memory_total"]
    r.set("memory_utilization", used / tot * 100.0 if used is not None and tot else None,
          "memory_used / memory_total", reason="needs memory_used and memory_total")
    return by_tile


def _utilisation(g, r, before, after, dt):
    scan = after["fdinfo"]
    if scan.get("error"):
        r.set("gpu_utilization", None, reason=scan["error"])
        return {}
    per_class = fdinfo.utilisation(before["fdinfo"], after["fdinfo"], dt, g["bdf"])
    how = "drm-cycles-*/drm-total-cycles-*" if g["driver"] == "xe" else "drm-engine-* ns over wall time"
    r.set("gpu_utilization", max(per_class.values()) if per_class else 0.0,
          "DRM fdinfo %s, busiest engine class, summed over clients" % how)
    return per_class


def gpu_readings(root, g, before, after):
    """One GPU's entry: device_id, device_name, pci_bdf_address, driver, metrics (+ tiles), health,
    limits, engines (busy % per class), sources, unavailable, notes."""
    dt = after["t"] - before["t"]
    r = _Reading(KEYS)
    entry = {"device_id": g["index"], "device_name": g["name"], "pci_bdf_address": g["bdf"], "driver": g["driver"],
             "limits": {"sustained": None, "rated": None}, "engines": {}, "notes": []}
    if g["problem"]:
        for k in KEYS:
            r.set(k, None, reason="the GPU is %s" % g["problem"])
        tiles = []
    else:
        entry["limits"] = _hwmon_readings(root, g, r, before, after, dt)
        entry["engines"] = _utilisation(g, r, before, after, dt)
        by_tile = _memory(root, g, r, after["fdinfo"])
        freqs = []
        for t in g["tiles"]:
            v, src, why = _freq(root, t)
            t["_freq"] = (v, src)
            if v is not None:
                freqs.append(v)
        r.set("frequency", sum(freqs) / len(freqs) if freqs else None,
              "%s (mean of tiles)" % (g["tiles"][0]["_freq"][1] if freqs else ""),
              reason="no act_freq file under the GT (%s)" % g["driver"])
        tiles = _tiles(g, before, after, dt, by_tile) if len(g["tiles"]) > 1 else []
        unread = after["fdinfo"].get("unreadable", 0)
        if unread:
            entry["notes"].append("utilisation and memory_used count the clients this user may read: the "
                                  "descriptors of %d processes of other users are not readable (run as root "
                                  "to count them)" % unread)
    m = dict(r.values)
    m["tiles"] = tiles
    entry.update(metrics=m, sources=r.sources, unavailable=r.unavailable,
                 health={"status": "unknown", "temperature": m["temperature"], "power_usage": m["power_usage"],
                         "components": {}})
    return entry


def _tiles(g, before, after, dt, by_tile):
    out = []
    for t in g["tiles"]:
        e0 = before["tile_energy"].get(g["bdf"], {}).get(t["id"])
        e1 = after["tile_energy"].get(g["bdf"], {}).get(t["id"])
        out.append({"tile_id": t["id"], "gpu_utilization": None,
                    "memory_used": by_tile.get(t["id"], 0) / MIB if g["discrete"] else None,
                    "temperature": None, "power_usage": _power(e0, e1, dt), "memory_utilization": None,
                    "memory_temperature": None, "frequency": t["_freq"][0],
                    "energy": e1 / 1e6 if e1 is not None else None})
    return out


def telemetry_report(root="/", interval=0.25):
    """The ``telemetry`` part of a verify report (``--telemetry``): the same shape as the status API's."""
    import datetime

    gpus = [{**g, "source": "sysfs"} for g in Sampler(root, interval=interval).read()]
    at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"source": "sysfs", "available": bool(gpus), "root": root if isinstance(root, str) else root.base,
            "gpus": gpus, "reason": None if gpus else "no Intel GPU", "timestamp": at}


class Sampler:
    """Readings of every Intel GPU under ``root`` (thread-safe). ``interval``: seconds between the two
    snapshots of a first read; ``max_age``: a previous snapshot younger than this is the first one;
    the layout is found again after ``layout_seconds``."""

    def __init__(self, root="/", interval=0.25, max_age=30.0, layout_seconds=60.0, clock=time.monotonic,
                 sleep=time.sleep):
        self.root = root if isinstance(root, HostRoot) else HostRoot(root)
        self.interval, self.max_age, self.layout_seconds = float(interval), float(max_age), float(layout_seconds)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._layout, self._layout_at, self._last = None, None, None

    def gpus(self):
        """The layout (cached): [GPU layout] in PCI address order."""
        now = self._clock()
        if self._layout is None or now - self._layout_at >= self.layout_seconds:
            self._layout, self._layout_at = layout.discover(self.root), now
            self._last = None
        return self._layout

    def read(self):
        with self._lock:
            gpus = self.gpus()
            before = self._last
            age = None if before is None else self._clock() - before["t"]
            if age is None or age > self.max_age:
                before = snapshot(self.root, gpus, self._clock)
                self._sleep(self.interval)
            elif age < self.interval:  # too short a rise to divide by: wait out the interval
                self._sleep(self.interval - age)
            after = snapshot(self.root, gpus, self._clock)
            self._last = after
            return [gpu_readings(self.root, g, before, after) for g in gpus]
