"""Find the Intel GPUs (PCI address order) and the kernel files each publishes telemetry in.

The layout is what the driver registered at probe time, so it is read once and reused; the values
in it are read on every sample (``hwmon``, ``gt``, ``fdinfo``). Paths are host paths, read through a
``checks.root.HostRoot`` (so ``--root`` works on a recorded tree).
"""
import os
import re

from checks import families

GPU_CLASS = 0x03  # PCI base class "display controller"
DRIVERS = ("i915", "xe")
_NUM = re.compile(r"(\d+)$")


def _num(name):
    m = _NUM.search(name)
    return int(m.group(1)) if m else -1


def _hex(text):
    try:
        return int(text, 16)
    except (TypeError, ValueError):
        return None


def _hwmons(root, dev):
    """[{"path", "name"}] of <pci dev>/hwmon/hwmonN (i915 and xe register theirs on the PCI device)."""
    out = []
    for h in sorted(root.listdir(dev + "/hwmon"), key=_num):
        p = "%s/hwmon/%s" % (dev, h)
        out.append({"path": p, "name": root.read_line(p + "/name") or ""})
    return out


def _card(root, dev):
    for name in sorted(root.listdir(dev + "/drm"), key=_num):
        if re.fullmatch(r"card\d+", name):
            return "%s/drm/%s" % (dev, name)
    return None


def _xe_tiles(root, dev):
    """xe: <pci dev>/tileN, its GTs tileN/gtM with freq0/act_freq (the tile's primary GT first)."""
    tiles = []
    for t in sorted((x for x in root.listdir(dev) if re.fullmatch(r"tile\d+", x)), key=_num):
        tp = "%s/%s" % (dev, t)
        gts = [("%s/%s/freq0/act_freq" % (tp, g))
               for g in sorted((x for x in root.listdir(tp) if re.fullmatch(r"gt\d+", x)), key=_num)]
        tiles.append({"id": _num(t), "freq": gts[:1], "vram_total": [tp + "/physical_vram_size_bytes"],
                      "energy": []})
    return tiles


def _i915_tiles(root, card, hwmons):
    """i915: one tile per GT (cardN/gt/gtM/rps_act_freq_mhz; hwmon "i915_gtM" its energy); a kernel
    without cardN/gt has the GT's frequency as cardN/gt_act_freq_mhz."""
    if card is None:
        return []
    gts = sorted((x for x in root.listdir(card + "/gt") if re.fullmatch(r"gt\d+", x)), key=_num)
    if not gts:
        return [{"id": 0, "freq": [card + "/gt_act_freq_mhz"], "vram_total": [], "energy": []}]
    by_gt = {h["name"][len("i915_"):]: h["path"] for h in hwmons if h["name"].startswith("i915_gt")}
    return [{"id": _num(g), "freq": ["%s/gt/%s/rps_act_freq_mhz" % (card, g)], "vram_total": [],
             "energy": [by_gt[g]] if g in by_gt else []} for g in gts]


def discover(root):
    """[GPU layout] in PCI address order: index (the device id), bdf, device, name, driver, card,
    hwmon (the device-level one or None), tiles [{id, freq, vram_total, energy}], vram_total (device),
    discrete, problem (why nothing can be read, or None)."""
    base = "/sys/bus/pci/devices"
    found = []
    for bdf in sorted(root.listdir(base)):
        p = base + "/" + bdf
        klass = _hex(root.read_line(p + "/class"))
        if _hex(root.read_line(p + "/vendor")) != families.INTEL or klass is None or klass >> 16 != GPU_CLASS:
            continue
        found.append((bdf, p, _hex(root.read_line(p + "/device"))))
    names = families.pci_names(root, [d for _, _, d in found if d is not None])
    gpus = []
    for index, (bdf, p, device) in enumerate(found):
        dev = root.resolve(p) or p
        drv = None
        if root.lexists(p + "/driver"):
            drv = os.path.basename((root.readlink(p + "/driver") or "").rstrip("/")) or None
        fam = families.family_of(device) if device is not None else None
        name = names.get(device) or (fam["name"] if fam else "Intel GPU 0x%04x" % (device or 0))
        g = {"index": index, "bdf": bdf, "device": device, "name": name, "driver": drv, "sys_path": dev,
             "card": None, "hwmon": None, "hwmon_all": [], "tiles": [], "vram_total": [],
             "discrete": fam["kind"] == "discrete" if fam else not bdf.endswith(":00:02.0"),
             "problem": None}
        if drv not in DRIVERS:
            g["problem"] = ("not bound to a driver" if drv is None
                            else "bound to %s, not i915 or xe" % drv)
            gpus.append(g)
            continue
        g["card"] = _card(root, dev)
        hw = _hwmons(root, dev)
        g["hwmon_all"] = hw
        g["hwmon"] = next((h["path"] for h in hw if h["name"] == drv), None)
        if drv == "xe":
            g["tiles"] = _xe_tiles(root, dev)
        else:
            g["tiles"] = _i915_tiles(root, g["card"], hw)
            if g["card"]:
                g["vram_total"] = [g["card"] + "/lmem_total_bytes"]
        gpus.append(g)
    return gpus
