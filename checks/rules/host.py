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


@check("pci.gpu", "Intel GPU on the PCI bus", needs=("platform", "pci"))
def pci_gpu(f):
    pci = f["pci"]
    gpus = _gpus(f)
    ev = {"gpus": [{k: g[k] for k in ("bdf", "device_id", "family", "name", "name_source", "kind")} for g in gpus],
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
            bars = g.get("bars")
            if bars and len(bars) > 2 and 0 < bars[2] < (1 << 30):
                status = worst([status, WARN])
                line += "; Resizable BAR off (BAR2 %d MiB)" % (bars[2] >> 20)
                remedies.append("enable 'Above 4G Decoding' and 'Re-Size BAR Support' in the UEFI setup "
                                "(the xe driver refuses to start without Resizable BAR; i915 runs slowly)")
        if g["family"] is None:
            status = worst([status, WARN])
            line += "; device id not in xpu-ops' family table (newer than this release?)"
            remedies.append("update xpu-ops; expected driver unknown for 0x%04x" % g["device_id"])
        notes.append(line)
    if pci.get("other_display"):
        notes.append("also: " + ", ".join("%04x:%04x at %s" % (d["vendor_id"], d["device_id"], d["bdf"])
                                           for d in pci["other_display"]))
    return status, "; ".join(notes), "\n".join(remedies), ev
