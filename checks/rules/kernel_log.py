"""Kernel layer, from the kernel log since boot: what the xe and i915 drivers said about each GPU (hangs, engine
resets, a wedged device, firmware load failures, survivability mode, probe failures, small BAR) and module
signatures Secure Boot rejected. Message formats: checks/kernel_log.py."""
from checks.result import FAIL, PASS, SKIP, WARN, worst
from checks.rules import check

LAYER = "Kernel"

# kind -> (status, how it reads for a person, what to do; {bdf} {drv} filled in)
VERDICTS = {
    "wedged": (FAIL, "declared wedged (IOCTLs and executions blocked)",
               "only a rebind or a reboot clears it: echo {bdf} | sudo tee /sys/bus/pci/drivers/{drv}/unbind && "
               "echo {bdf} | sudo tee /sys/bus/pci/drivers/{drv}/bind   # or: sudo reboot"),
    "survivability": (FAIL, "in survivability mode (its firmware needs recovery; no compute)",
                      "flash the card's firmware (fwupdmgr update, or the vendor's GPU firmware tool), then "
                      "power-cycle the host"),
    "probe_failed": (FAIL, "the driver's probe failed",
                     "read what {drv} printed before it: sudo dmesg | grep -E '{bdf}|{drv}' | head -40 "
                     "(firmware, Resizable BAR and force_probe are the usual causes: see firmware, pci.gpu, "
                     "kernel.driver)"),
    "firmware": (FAIL, "GuC/HuC/GSC firmware failed to load",
                 "install the firmware the driver asked for (see firmware) and rebuild the initramfs: "
                 "sudo update-initramfs -u && sudo reboot"),
    "hang": (WARN, "GPU hang(s)", "find the process in the hang lines: sudo dmesg | grep -E 'GPU HANG|Timedout job'; "
                                  "update the compute runtime and kernel if hangs repeat"),
    "engine_reset": (WARN, "engine reset(s)", "resets recover from hangs; if they repeat, update the compute runtime "
                                              "and kernel, and check the application's kernels"),
    "small_bar": (WARN, "small BAR (only part of VRAM CPU-visible)",
                  "enable 'Above 4G Decoding' and 'Re-Size BAR Support' in the UEFI setup (see pci.gpu)"),
}
ORDER = ("wedged", "survivability", "probe_failed", "firmware", "hang", "engine_reset", "small_bar")
MODULE_FIX = ("Secure Boot refused a kernel module signed with a key the firmware does not trust: enrol the DKMS "
              "key (sudo mokutil --import /var/lib/shim-signed/mok/MOK.der, choose a password, reboot and enrol it "
              "in MokManager), or install the vendor's signed module instead of a self-built one")


@check("kernel.log", "Kernel log: GPU hangs, resets, wedged, firmware, Secure Boot", needs=("platform", "pci",
                                                                                         "kernel_log"))
def kernel_log(f):
    k = f["kernel_log"]
    if f["platform"]["wsl2"] and not k.get("given"):
        return SKIP, "WSL2: the Windows driver owns the GPU; its log is on the Windows side", "", {}
    if k["source"] is None:
        return SKIP, ("no kernel log readable here (dmesg restricted to root, no journal): run as root, or save one "
                      "and pass it: sudo journalctl -k -b > k.log; --kernel-log k.log"), "", {}
    ev = {"source": k["source"], "lines": k["lines"], "counts": k["counts"], "events": k["events"],
          "last": k["last"], "survivability_sysfs": k["survivability_sysfs"]}
    drivers = {g["bdf"]: g.get("driver") or "xe" for g in f["pci"].get("gpus", [])}
    events = {b: dict(e) for b, e in k["events"].items()}
    for bdf in k["survivability_sysfs"]:
        events.setdefault(bdf, {})["survivability"] = max(1, events.get(bdf, {}).get("survivability", 0))
    statuses, notes, fixes = [], [], []
    for bdf in sorted(b for b in events if b != "*"):
        e = events[bdf]
        said = []
        for kind in ORDER:
            n = e.get(kind)
            if not n:
                continue
            st, what, fix = VERDICTS[kind]
            statuses.append(st)
            said.append("%s%s" % ("%d " % n if kind in ("hang", "engine_reset") else "", what))
            drv = drivers.get(bdf) or (k["last"].get(bdf, {}).get(kind, "xe").split(" ", 1)[0])
            line = fix.format(bdf=bdf, drv=drv if drv in ("xe", "i915") else "xe")
            if line not in fixes:
                fixes.append(line)
        notes.append("%s: %s" % (bdf, ", ".join(said)))
    rejected = events.get("*", {}).get("module_rejected")
    if rejected:
        statuses.append(FAIL)
        notes.append("Secure Boot rejected %d module load(s): %s" % (rejected, k["last"]["*"]["module_rejected"]))
        fixes.append(MODULE_FIX)
    if not notes:
        return PASS, "no GPU hang, reset, wedge, firmware, probe or signature message in %s (%d lines)" % (
            k["source"], k["lines"]), "", ev
    return worst(statuses), "; ".join(notes) + " (from %s)" % k["source"], "\n".join(fixes), ev
