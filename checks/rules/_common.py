"""Helpers the checks of several layers share."""


def _provision(f, extra=""):
    """The xpu-ops command that fixes it, naming this host as the control host knows it."""
    return "invoke provision --host %s%s" % (f.get("host_name") or "localhost", extra)


def _gpus(f):
    return f["pci"].get("gpus", [])


def _skip_reason(f, need_gpu=True, xpum=False):
    """Why a check does not apply here, or None."""
    if f["platform"]["wsl2"]:
        if xpum:
            return "WSL2: XPU Manager does not support WSL2 (no WSL in any upstream supported-OS list)"
        return "WSL2: the GPU is reached through /dev/dxg, not i915/xe and /dev/dri (see platform)"
    if need_gpu and not _gpus(f):
        return "no Intel GPU (see pci.gpu)"
    return None


def _os_key(p):
    return "%s-%s" % (p.get("os_id") or "?", (p.get("os_version") or "?").split(".")[0])
