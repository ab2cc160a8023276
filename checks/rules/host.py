"""Host layer: the platform (OS, kernel, WSL2, container) and the Intel GPU on the PCI bus."""
from checks.result import FAIL, PASS, SKIP, WARN, worst
from checks.rules import check
from checks.rules._common import _gpus

LAYER = "Host"


@check("platform", "Platform (OS, kernel, WSL2, container)", needs=("platform",))
def platform(f):
    p = f["platform"]
    desc = "%s, kernel %s" % (p.get("os_pretty") or "unknown OS", p.get("kernel") or "unknown")
    ev = {k: p[k] for k in ("os_id", "os_version", "kernel", "wsl2", "dxg", "wsl_lib", "container",
                            "proc_modules", "systemd")}
    if p["container"]:
        desc += ", inside a %s container" % p["container"]
    if p["wsl2"]:
        desc += ", WSL2"
        missing = []
        if not p["dxg"]:
            missing.append("/dev/dxg")
        if not p["wsl_lib"]:
            missing.append("/usr/lib/wsl/lib")
        if missing:
            return (FAIL, desc + ": %s missing, so WSL2 has no GPU paravirtualization" % " and ".join(missing),
                    "update the Intel GPU driver on the Windows host, then in PowerShell: wsl --update; "
                    "wsl --shutdown", ev)
        return PASS, desc + ": /dev/dxg and /usr/lib/wsl/lib present (user space only)", "", ev
    if p.get("os_id") not in ("debian", "ubuntu"):
        return (WARN, desc + ": xpu-ops provisions and supports Debian 12/13 and Ubuntu 22.04/24.04 only",
                "use Debian 12/13 or Ubuntu 22.04/24.04 for a supported Intel GPU stack", ev)
    return PASS, desc, "", ev


# ---------------------------------------------------------------- PCI


def _fmt_gpu(g):
    return "%s [8086:%04x] at %s" % (g["name"], g["device_id"], g["bdf"])


def _gib(n):
    return ("%.1f GiB" % (n / (1 << 30))) if n >= (1 << 30) else "%d MiB" % (n >> 20)


def _bar_vs_vram(g):
    """BAR2 (the CPU's window on the card's VRAM) against the VRAM. Intel's compute runtime refuses a
    small-BAR device on xe (compute-runtime drm_neo.cpp: 'Small BAR detected', then -1 unless
    isSmallBarConfigAllowed(), false for xe, true for i915); xe itself runs on ("Small BAR device")."""
    bars, vram = g.get("bars"), g.get("vram")
    if not bars or len(bars) < 3 or not bars[2]:
        return PASS, "", ""
    bar2 = bars[2]
    lspci = ("sudo lspci -vv -s %s | grep -A2 -i 'resizable bar'   # 'BAR 2: current size' must reach the "
             "VRAM size; 'Region 2: Memory at ... [size=...]' is the same window" % g["bdf"])
    uefi = ("enable 'Above 4G Decoding' and 'Re-Size BAR Support' (Resizable BAR) in the UEFI setup (with CSM "
            "off), then reboot; check: " + lspci)
    if vram and vram["bytes"]:
        if bar2 >= vram["bytes"]:
            return PASS, "", ""
        what = "CPU-visible BAR2 %s is smaller than the VRAM %s" % (_gib(bar2), _gib(vram["bytes"]))
        if g.get("driver") == "xe":
            return FAIL, what + ": Level Zero and OpenCL will not show this GPU (small BAR on xe)", uefi
        return WARN, what + ": %s runs, slower (small BAR)" % (g.get("driver") or "the driver"), uefi
    if bar2 < (1 << 30):
        return (WARN, "BAR2 only %s: Resizable BAR looks off (VRAM size unknown until xe or i915 binds); on xe, "
                "Level Zero and OpenCL will not show a GPU whose BAR is smaller than its VRAM" % _gib(bar2), uefi)
    return PASS, "", ""


@check("pci.gpu", "Intel GPU on the PCI bus", needs=("platform", "pci"))
def pci_gpu(f):
    pci = f["pci"]
    gpus = _gpus(f)
    ev = {"gpus": [{k: g.get(k) for k in ("bdf", "device_id", "family", "name", "name_source", "kind", "bars", "vram")}
                   for g in gpus],
          "other_display": pci.get("other_display", []), "intel_non_gpu": pci.get("intel_non_gpu", []),
          "problems": pci.get("problems", [])}
    if f["platform"]["wsl2"]:
        return (SKIP, "WSL2: Windows shares the GPU through /dev/dxg (a Microsoft vPCI function, 1414:008e), "
                "so no Intel PCI function is visible here", "", ev)
    if not pci.get("present"):
        return (FAIL, "no PCI bus in sysfs (/sys/bus/pci/devices missing): is /sys mounted?",
                "sudo mount -t sysfs sysfs /sys", ev)
    if not gpus:
        bits = ["no Intel GPU (vendor 0x8086, display class 0x03xxxx) on the PCI bus"]
        if pci.get("other_display"):
            bits.append("display devices found: " + ", ".join(
                "%04x:%04x at %s (%s)" % (d["vendor_id"], d["device_id"], d["bdf"], d["driver"] or "no driver")
                for d in pci["other_display"]))
        if pci.get("intel_non_gpu"):
            bits.append("Intel devices that are not GPUs: " + ", ".join(pci["intel_non_gpu"][:6]))
        remedy = ("check the card is seated and powered, enabled in firmware setup (UEFI: primary display/iGPU "
                  "enabled), and for a VM passed through to it; then: lspci -nn -d 8086: | grep ' \\[03..\\]: '"
                  "   (every display class: VGA 0300, 3D 0302, and 0380, which Flex and Max report)")
        return FAIL, "; ".join(bits), remedy, ev
    status, notes, remedies = PASS, [], []
    for g in gpus:
        line = _fmt_gpu(g) + " (%s)" % g["family_name"]
        if g["kind"] == "discrete":
            up = g.get("upstream_link") or {}
            link = up.get("link")
            if link and link.get("current_speed") and link.get("max_speed"):
                max_s = min(x for x in (link["max_speed"], up.get("slot_max_speed")) if x)
                max_w = min(x for x in (link.get("max_width"), up.get("slot_max_width")) if x) \
                    if link.get("max_width") else None
                if link["current_speed"] < max_s or (max_w and link["current_width"] and link["current_width"] < max_w):
                    status = worst([status, WARN])
                    line += "; PCIe link degraded: %.1f GT/s x%s, capable of %.1f GT/s x%s (at %s)" % (
                        link["current_speed"], link["current_width"], max_s, max_w, up["bdf"])
                    remedies.append("reseat the card in a x16 slot wired to the CPU, check risers and BIOS PCIe "
                                    "settings; the link can drop to save power when idle, so re-check under load: "
                                    "sudo lspci -vv -s %s | grep -i lnksta" % up["bdf"])
            st, msg, fix = _bar_vs_vram(g)
            if st != PASS:
                status = worst([status, st])
                line += "; " + msg
                remedies.append(fix)
        if g["family"] is None:
            status = worst([status, WARN])
            line += "; device id not in xpu-ops' family table: the table is older than this GPU"
            remedies.append("update xpu-ops (its family table, read from the kernel's pciids.h, predates 0x%04x); "
                            "until then xpu-ops accepts whichever of i915 or xe claims it" % g["device_id"])
        notes.append(line)
    if pci.get("other_display"):
        notes.append("also: " + ", ".join("%04x:%04x at %s" % (d["vendor_id"], d["device_id"], d["bdf"])
                                           for d in pci["other_display"]))
    return status, "; ".join(notes), "\n".join(remedies), ev
