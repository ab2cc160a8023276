"""GT frequency and VRAM size: plain integer sysfs files (MHz; bytes).

xe: ``tileN/gtM/freq0/act_freq`` "the actual resolved frequency decided by PCODE" (drivers/gpu/drm/xe/
xe_gt_freq.c); i915: ``gt/gtM/rps_act_freq_mhz`` / ``gt_act_freq_mhz`` (0 while the GT sleeps, like xe).
VRAM: xe ``tileN/physical_vram_size_bytes``; i915 ``lmem_total_bytes`` (out-of-tree i915 only).
"""
def read_int(root, path):
    """(value, None) or (None, why): "absent" or "unreadable" (sysfs mode 0400 and not root)."""
    text = root.read_line(path)
    if text is None:
        return None, ("unreadable" if root.exists(path) else "absent")
    try:
        return int(text), None
    except ValueError:
        return None, "garbled"


def first(root, paths):
    """The first of ``paths`` that reads as an integer: (value, path, None), else (None, None, why)."""
    why = "absent"
    for p in paths:
        v, w = read_int(root, p)
        if v is not None:
            return v, p, None
        if w != "absent":
            why = w
    return None, None, why
