"""DRM fdinfo (Documentation/gpu/drm-usage-stats.rst): every open DRM file of every process this user
may read, as one record per client (``drm-pdev`` + ``drm-client-id``: a client's duplicated file
descriptors count once, as the spec asks).

Keys used: ``drm-cycles-<class>`` / ``drm-total-cycles-<class>`` (xe: busy cycles of the client and the
GPU timestamp, one clock), ``drm-engine-<class>: <uint> ns`` (i915: busy nanoseconds),
``drm-engine-capacity-<class>`` (engines in the class, 1 when absent), ``drm-resident-<region>`` or its
deprecated alias ``drm-memory-<region>`` (``<uint> [KiB|MiB]``, default bytes).
"""
import os
import re

_UNITS = {"": 1, "KiB": 1024, "MiB": 1024 * 1024}
_VALUE = re.compile(r"(\d+)\s*([A-Za-z]*)")


def _value(text):
    m = _VALUE.match(text.strip())
    return (int(m.group(1)), m.group(2)) if m else (None, None)


def parse(text):
    """One fdinfo file -> a client record, or None when it is not a DRM client with a drm-pdev."""
    kv = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.startswith("drm-"):
            kv[key.strip()] = value.strip()
    if "drm-driver" not in kv or "drm-pdev" not in kv:
        return None
    rec = {"driver": kv["drm-driver"], "pdev": kv["drm-pdev"], "client": kv.get("drm-client-id"),
           "cycles": {}, "total_cycles": {}, "engine_ns": {}, "capacity": {}, "resident": {}}
    for key, raw in kv.items():
        n, unit = _value(raw)
        if n is None:
            continue
        if key.startswith("drm-total-cycles-"):
            rec["total_cycles"][key[len("drm-total-cycles-"):]] = n
        elif key.startswith("drm-cycles-"):
            rec["cycles"][key[len("drm-cycles-"):]] = n
        elif key.startswith("drm-engine-capacity-"):
            rec["capacity"][key[len("drm-engine-capacity-"):]] = n
        elif key.startswith("drm-engine-") and unit == "ns":
            rec["engine_ns"][key[len("drm-engine-"):]] = n
        elif key.startswith(("drm-resident-", "drm-memory-")) and unit in _UNITS:
            region = key.split("-", 2)[2]
            rec["resident"][region] = n * _UNITS[unit]
    return rec


def scan(root, proc="/proc"):
    """{"clients": {(pdev, client id): record}, "processes": readable processes, "unreadable": processes
    whose descriptors this user may not read (other users' without CAP_SYS_PTRACE)}."""
    clients, readable, unreadable = {}, 0, 0
    try:
        pids = [p for p in os.listdir(root.path(proc)) if p.isdigit()]
    except OSError:
        return {"clients": {}, "processes": 0, "unreadable": 0, "error": "%s is not readable" % proc}
    for pid in pids:
        fd_dir = "%s/%s/fd" % (proc, pid)
        try:
            fds = os.listdir(root.path(fd_dir))
        except PermissionError:
            unreadable += 1
            continue
        except OSError:  # the process ended
            continue
        readable += 1
        for fd in fds:
            try:
                target = os.readlink(root.path("%s/%s" % (fd_dir, fd)))
            except OSError:
                continue
            if not target.startswith("/dev/dri/"):
                continue
            try:
                with open(root.path("%s/%s/fdinfo/%s" % (proc, pid, fd)), encoding="utf-8", errors="replace") as f:
                    rec = parse(f.read())
            except OSError:
                continue
            if rec is not None:
                key = (rec["pdev"], rec["client"] if rec["client"] is not None else "%s/%s" % (pid, fd))
                clients.setdefault(key, rec)
    return {"clients": clients, "processes": readable, "unreadable": unreadable, "error": None}


def _delta(new, old):
    """A counter's rise; a value lower than before counts as no rise (the spec lets it lag, then catch up)."""
    return max(0, new - old)


def utilisation(before, after, seconds, pdev):
    """{engine class: busy %} of GPU ``pdev`` between two scans ``seconds`` apart, summed over the clients
    in both and divided by the class's capacity; {} when no client of it was in both."""
    busy, capacity = {}, {}
    for key, new in after["clients"].items():
        if key[0] != pdev or key not in before["clients"]:
            continue
        old = before["clients"][key]
        for cls, c in new["cycles"].items():
            total = _delta(new["total_cycles"].get(cls, 0), old["total_cycles"].get(cls, 0))
            if cls in old["cycles"] and total > 0:
                busy[cls] = busy.get(cls, 0.0) + _delta(c, old["cycles"][cls]) / total
        for cls, ns in new["engine_ns"].items():
            if cls in old["engine_ns"] and seconds > 0:
                busy[cls] = busy.get(cls, 0.0) + _delta(ns, old["engine_ns"][cls]) / (seconds * 1e9)
        for cls, n in new["capacity"].items():
            capacity[cls] = n
    return {cls: min(100.0, 100.0 * b / max(1, capacity.get(cls, 1))) for cls, b in busy.items()}


def clients_of(scan_, pdev):
    return [r for k, r in scan_["clients"].items() if k[0] == pdev]


def resident_by_tile(scan_, pdev):
    """{tile: bytes} of device memory resident for GPU ``pdev``'s clients: xe region vramN, i915 localN
    (N is the tile); a buffer shared between clients counts in each."""
    out = {}
    for rec in clients_of(scan_, pdev):
        for region, n in rec["resident"].items():
            m = re.fullmatch(r"(?:vram|local)(\d+)", region)
            if m:
                out[int(m.group(1))] = out.get(int(m.group(1)), 0) + n
    return out
