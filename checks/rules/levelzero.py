"""The GPU runtime, asked live: Level Zero (zeInit -> drivers -> devices) in a child process, each device mapped
to a PCI GPU by address. Installed is not working: this is where a bound GPU with every package present but no
device in the runtime is named, with the cause."""
from checks.result import FAIL, PASS, SKIP, WARN, worst
from checks.rules import check
from checks.rules._common import _gpus, _skip_reason

LAYER = "User space"

GIB = 1 << 30


def _installed(u):
    pk = u["packages"] or {}
    libs = u["libraries"]
    loader = bool(pk.get("libze1") or pk.get("level-zero") or libs.get("libze_loader.so.1"))
    driver = bool(pk.get("libze-intel-gpu1") or pk.get("intel-level-zero-gpu") or libs.get("libze_intel_gpu.so.1"))
    return loader, driver


def _causes(g, z, f):
    """Why the runtime does not show GPU g: the loader's words first, then what the host shows."""
    causes, fixes = [], []
    failed = [t for t in z.get("trace") or [] if "failed" in t]
    dl = z.get("gpu_driver_dlopen")
    if dl and dl != "ok":
        causes.append("the loader cannot load the GPU driver library: %s" % dl)
        fixes.append("sudo apt install --reinstall libze-intel-gpu1   # (Intel's repository: intel-level-zero-gpu); "
                     "then: ldd $(ldconfig -p | awk '/libze_intel_gpu.so.1/{print $NF; exit}') | grep 'not found'")
    elif failed:
        causes.append("loader trace: %s" % failed[-1])
    bars = g.get("bars") or []
    # intel/compute-runtime shared/source/os_interface/linux/drm_neo.cpp (7df9945e): "WARNING: Small BAR detected
    # for device %s" on stderr, then the device is dropped where the kernel driver's ioctl helper does not allow a
    # small BAR (IoctlHelperXe: never)
    small = [x for x in z.get("stderr_all") or [] if "Small BAR detected for device" in x]
    if small:
        causes.append("the compute runtime refuses a small BAR (%s)" % small[-1].strip())
        fixes.append("enable 'Above 4G Decoding' and 'Re-Size BAR Support' in the UEFI setup, then reboot")
    elif g.get("driver") == "xe" and len(bars) > 2 and 0 < bars[2] < GIB:
        causes.append("small BAR (%d MiB of VRAM visible): the compute runtime drops xe devices with a small BAR"
                      % (bars[2] >> 20))
        fixes.append("enable 'Above 4G Decoding' and 'Re-Size BAR Support' in the UEFI setup, then reboot")
    render = next((n["node"] for n in f["drm"].get(g["bdf"], {}).get("nodes", []) if n["kind"] == "render"), None)
    denied = (z.get("render_access") or {}).get(render) if render else None
    if denied and denied != "ok":
        causes.append("this process cannot open %s (%s)" % (render, denied))
        fixes.append("see dri.access: the user needs the render node's group (sudo usermod -aG render $USER, "
                     "then log in again)")
    if z.get("init"):
        causes.append("zeInit returned %s" % z.get("init_name"))
    if not causes:
        causes.append("zeInit succeeded but no driver reported this device")
        fixes.append("run: ZE_ENABLE_LOADER_DEBUG_TRACE=1 clinfo -l; sudo dmesg | grep -iE 'xe|i915' | tail "
                     "(see kernel.log)")
    return causes, fixes


@check("levelzero", "Level Zero runtime sees the GPUs", needs=("platform", "pci", "drm", "userspace", "levelzero"))
def levelzero(f):
    z = f["levelzero"]
    if z.get("skipped"):
        return SKIP, z["skipped"], "", {}
    why = _skip_reason(f)
    if why:
        return SKIP, why, "", {}
    ev = {k: v for k, v in z.items() if k != "render_access" or v}
    if z["outcome"] != "ok":
        return FAIL, "%s; the runtime may hang applications the same way" % z["reason"], (
            "run it by hand: ZE_ENABLE_LOADER_DEBUG_TRACE=1 clinfo -l; a hang in zeInit means the GPU or its kernel "
            "driver is stuck (see kernel.log)"), ev
    loader_ok, driver_ok = _installed(f["userspace"])
    bound = [g for g in _gpus(f) if g["driver_state"] == "bound" and g["driver"] in ("i915", "xe")]
    if not bound:
        return SKIP, "no Intel GPU has i915 or xe bound (see kernel.driver)", "", ev
    if z.get("loader") is None:
        st = FAIL if loader_ok else WARN
        return st, "the Level Zero loader cannot be loaded: %s" % z.get("loader_error"), (
            "sudo apt install libze1   # see userspace"), ev
    by_bdf = {d["bdf"]: d for d in z.get("devices", []) if d.get("bdf")}
    statuses, notes, fixes = [], [], []
    for g in bound:
        d = by_bdf.get(g["bdf"])
        if d:
            statuses.append(PASS)
            notes.append("%s: %s (%s%s)" % (g["bdf"], d["name"], "integrated" if d["integrated"] else "discrete",
                                            ", Sysman: %s" % _sysman(d)))
            continue
        causes, more = _causes(g, z, f)
        statuses.append(FAIL if (loader_ok and driver_ok) else WARN)
        notes.append("%s (%s, %s bound) is not in Level Zero: %s" % (g["bdf"], g["name"], g["driver"],
                                                                     "; ".join(causes)))
        fixes.extend(x for x in more if x not in fixes)
        if not driver_ok:
            fixes.append("install the Level Zero GPU driver first (see userspace)")
    others = [d for d in z.get("devices", []) if d.get("bdf") not in {g["bdf"] for g in bound}]
    if others:
        notes.append("also in Level Zero: " + ", ".join("%s (%s)" % (d["name"], d.get("bdf") or "no PCI address")
                                                       for d in others))
    if any(d.get("sysman_result") not in (None, 0) for d in by_bdf.values()):
        notes.append("Sysman unavailable: XPU Manager and xpu-smi show no telemetry for those devices")
    return worst(statuses), "; ".join(notes), "\n".join(fixes), ev


def _sysman(d):
    rc = d.get("sysman_result")
    if rc is None:
        return "not asked (loader without zesDeviceGetProperties)"
    if rc == 0:
        return "available"
    from checks.levelzero_run import result_name
    return "unavailable (%s)" % result_name(rc)
