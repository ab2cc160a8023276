"""The kernel log since boot, classified per PCI address: what the xe and i915 drivers (and the driver core and
module loader) print when a GPU hangs, resets, is wedged, fails to load firmware, fails to probe, is in
survivability mode or has a small BAR, and when Secure Boot rejects a module.

Sources, in order: ``--kernel-log FILE`` (a saved ``dmesg`` or ``journalctl -k``), else on the running host
``/dev/kmsg`` (the ring buffer), else ``journalctl -k -b``; under ``--root`` the root's /var/log/kern.log or
/var/log/dmesg. The message formats are the kernel's (torvalds/linux; the file and commit of each are in
tests/unit/test_kernel_log.py):
"""
import os
import re

# kind -> (regex on the message, the device it names: "bdf" from the dev_* prefix, else None)
# dev_*/drm_* messages start "<driver> <bdf>: " (drm_* adds "[drm] ", xe_gt_* adds "GT<n>: ").
_DEV = r"(?P<drv>xe|i915) (?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): "
PATTERNS = (
    # drivers/gpu/drm/xe/xe_device.c: xe_device_declare_wedged, drm_err "CRITICAL: Xe has declared device %s as wedged."
    ("wedged", _DEV + r".*Xe has declared device \S+ as wedged"),
    # drivers/gpu/drm/i915/gt/intel_reset.c: intel_gt_reset, "Failed to reset chip" (then the GT is set wedged)
    ("wedged", _DEV + r".*Failed to reset chip"),
    # drivers/gpu/drm/i915/i915_gpu_error.c: error_msg "GPU HANG: ecode %d:%x:%08x"
    ("hang", _DEV + r".*GPU HANG: ecode"),
    # drivers/gpu/drm/xe/xe_guc_submit.c: xe_guc_exec_queue_reset_handler "Engine reset: engine_class=%s, ..."
    ("engine_reset", _DEV + r".*Engine reset: engine_class="),
    # drivers/gpu/drm/i915/gt/intel_reset.c: intel_gt_reset "Resetting chip for %s"
    ("engine_reset", _DEV + r".*Resetting chip for "),
    # drivers/gpu/drm/xe/xe_guc.c: "GuC load failed: status = 0x%08X"
    ("firmware", _DEV + r".*GuC load failed"),
    # drivers/gpu/drm/i915/gt/uc/intel_uc_fw.c: "%s firmware %s: fetch failed %pe", "Failed to load %s firmware %s %pe"
    ("firmware", _DEV + r".*(?:(?:GuC|HuC|GSC) firmware \S+: fetch failed|Failed to load (?:GuC|HuC|GSC) firmware)"),
    # drivers/gpu/drm/xe/xe_survivability_mode.c: dev_err "In Survivability Mode"
    ("survivability", _DEV + r".*In Survivability Mode"),
    # drivers/base/dd.c: call_driver_probe, dev_err "probe with driver %s failed with error %d"
    ("probe_failed", r"(?:\S+ )?(?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): probe with driver "
                     r"(?P<drv>xe|i915) failed with error (?P<err>-?\d+)"),
    # drivers/gpu/drm/xe/xe_vram.c: drm_info "Small BAR device"
    ("small_bar", _DEV + r".*Small BAR device"),
    # kernel/module/signing.c: module_sig_check, pr_notice "Loading of %s is rejected" (names no device)
    ("module_rejected", r"Loading of (?P<reason>module with unavailable key|unsigned module|"
                        r"module with unsupported crypto) is rejected"),
)
# Words one of PATTERNS needs: a line with none of them is not matched at all (most of a log; ~20x faster).
KEYWORDS = ("wedged", "GPU HANG", "Engine reset", "Resetting chip", "Failed to reset chip", "load failed",
            "fetch failed", "Failed to load", "Survivability", "probe with driver", "Small BAR", "is rejected")
KINDS = ("wedged", "hang", "engine_reset", "firmware", "survivability", "probe_failed", "small_bar",
         "module_rejected")
_COMPILED = None


def _compiled():
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = [(kind, re.compile(rx)) for kind, rx in PATTERNS]
    return _COMPILED


def _message(line):
    """The kernel message of one log line, whatever the format: dmesg ("[   12.3] msg"), journalctl -k
    ("Nov 30 12:00:00 host kernel: msg"), rsyslog's kern.log, /dev/kmsg ("6,123,456,-;msg")."""
    if "kernel: " in line:
        line = line.split("kernel: ", 1)[1]
    elif ";" in line and re.match(r"\d+,\d+,\d+,[^;]*;", line):
        line = line.split(";", 1)[1]
    line = line.strip()
    if line.startswith("[") and "]" in line and re.match(r"\[\s*\d+\.\d+\]", line):
        line = line.split("]", 1)[1].strip()
    return line


def classify(lines):
    """{"events": {bdf or "*": {kind: count}}, "last": {bdf or "*": {kind: last message}}, "counts": {kind: n},
    "lines": n}."""
    events, last, counts = {}, {}, {k: 0 for k in KINDS}
    n = 0
    for raw in lines:
        n += 1
        if not any(k in raw for k in KEYWORDS):
            continue
        msg = _message(raw)
        if not msg:
            continue
        for kind, rx in _compiled():
            m = rx.search(msg)
            if m:
                key = m.groupdict().get("bdf") or "*"
                events.setdefault(key, {}).setdefault(kind, 0)
                events[key][kind] += 1
                last.setdefault(key, {})[kind] = msg[:300]
                counts[kind] += 1
                break
    return {"events": events, "last": last, "counts": counts, "lines": n}


def _kmsg(limit=200000):
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    out = []
    keys = [k.encode() for k in KEYWORDS]
    try:
        for _ in range(limit):
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError:  # EPIPE: a record was overwritten while reading; go on
                continue
            msg = rec.split(b";", 1)[-1].split(b"\n", 1)[0]
            # only the lines a pattern can match are decoded; the rest is counted, as "" (classify skips it)
            out.append(msg.decode("utf-8", "replace") if any(k in msg for k in keys) else "")
    finally:
        os.close(fd)
    return out


def _journal(timeout=10.0):
    import shutil
    import subprocess
    if not shutil.which("journalctl"):
        return None
    try:
        r = subprocess.run(["journalctl", "-k", "-b", "--no-pager", "-q", "-o", "cat"], capture_output=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.decode("utf-8", "replace").splitlines()


def read_lines(root, kernel_log=None):
    """(source, lines) or (None, None) when no kernel log is readable."""
    if kernel_log:
        with open(kernel_log, "rb") as f:
            return kernel_log, f.read(64 << 20).decode("utf-8", "replace").splitlines()
    if root.is_real:
        lines = _kmsg()
        if lines:
            return "/dev/kmsg", lines
        lines = _journal()
        if lines:
            return "journalctl -k -b", lines
    for src in ("/var/log/kern.log", "/var/log/dmesg"):
        text = root.read(src, 64 << 20)
        if text is not None:
            return src, text.splitlines()
    return None, None


def kernel_log_facts(root, gpus, kernel_log=None):
    source, lines = read_lines(root, kernel_log)
    out = classify(lines or [])
    out["source"] = source
    # xe_survivability_mode.c: the PCI device gets a "survivability_mode" sysfs attribute in that mode
    out["survivability_sysfs"] = [g["bdf"] for g in gpus
                                  if root.exists("/sys/bus/pci/devices/%s/survivability_mode" % g["bdf"])]
    return out
