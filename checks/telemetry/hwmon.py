"""One hwmon directory's readings, in the units the drivers' ABI documents give (Documentation/ABI/testing/
sysfs-driver-intel-xe-hwmon @2369f05661ef, sysfs-driver-intel-i915-hwmon @40de53fd002c): energy microjoules,
power microwatts, temperature millidegrees Celsius.

xe labels its channels (drivers/gpu/drm/xe/xe_hwmon.c ``xe_hwmon_read_label``): energy/power channel 1
"card", 2 "pkg"; temperatures "pkg" and "vram" (newer kernels more "vram*" channels). i915 has one
energy/power channel and, on newer kernels, one unlabelled ``temp1_input`` (the package).
"""
import re

_TEMP = re.compile(r"temp(\d+)_input")


def _int(root, path):
    text = root.read_line(path)
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def energy_uj(root, hwmon):
    """(microjoules, file name) of the card's energy counter: energy1_input, else energy2_input (xe's
    "pkg" channel: cards whose firmware has no card-level counter); (None, None) when neither reads."""
    for n in ("energy1_input", "energy2_input"):
        v = _int(root, "%s/%s" % (hwmon, n))
        if v is not None:
            return v, n
    return None, None


def temperatures(root, hwmon):
    """{"temperature": C or None, "memory_temperature": C or None} from temp*_input by label."""
    out = {"temperature": None, "memory_temperature": None}
    for name in root.listdir(hwmon):
        m = _TEMP.fullmatch(name)
        if not m:
            continue
        v = _int(root, "%s/%s" % (hwmon, name))
        if v is None:
            continue
        label = (root.read_line("%s/temp%s_label" % (hwmon, m.group(1))) or "").lower()
        key = ("memory_temperature" if label.startswith("vram") else
               "temperature" if label in ("pkg", "") else None)
        if key is not None:
            c = v / 1000.0
            out[key] = c if out[key] is None else max(out[key], c)
    return out


def power_limits(root, hwmon):
    """{"sustained": W (power1_max, PL1; None when 0 = disabled or absent), "rated": W (power1_rated_max)}."""
    pl1 = _int(root, hwmon + "/power1_max")
    rated = _int(root, hwmon + "/power1_rated_max")
    return {"sustained": pl1 / 1e6 if pl1 else None, "rated": rated / 1e6 if rated else None}
