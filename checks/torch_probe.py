"""Run in a CHILD interpreter (python -c <this source>): probe PyTorch XPU, print one JSON line.

Stdlib only at import; torch is imported inside. IPEX is never imported when its version does
not match torch's major.minor (that import prints an error and fails).
"""
import json
import os
import sys

# What decides which runtime a PyTorch process loads, recorded as the child saw it.
ENV_KEYS = ("LD_LIBRARY_PATH", "SETVARS_COMPLETED", "ONEAPI_ROOT", "ONEAPI_DEVICE_SELECTOR", "ZE_AFFINITY_MASK",
            "ZE_FLAT_DEVICE_HIERARCHY")
# The runtime libraries whose mapped files tell oneAPI's from the wheel's.
MAPPED_PREFIXES = ("libsycl.so", "libur_loader.so", "libze_loader.so", "libmkl_")


def _mm(version):
    parts = (version or "").split("+")[0].split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


def probe():
    out = {"python": sys.executable, "python_version": sys.version.split()[0], "prefix": sys.prefix,
           "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
           "externally_managed": externally_managed()}
    try:
        from importlib import metadata
        try:
            out["ipex_version"] = metadata.version("intel-extension-for-pytorch")
        except metadata.PackageNotFoundError:
            out["ipex_version"] = None
    except ImportError:
        out["ipex_version"] = None
    try:
        import torch
    except ImportError as e:
        out["torch"] = None
        out["import_error"] = str(e)
        return out
    out["torch"] = torch.__version__
    out["torch_xpu_build"] = getattr(getattr(torch, "version", None), "xpu", None)
    xpu = getattr(torch, "xpu", None)
    out["has_xpu_module"] = xpu is not None
    available = False
    if xpu is not None:
        try:
            available = bool(xpu.is_available())
        except Exception as e:
            out["is_available_error"] = "%s: %s" % (type(e).__name__, e)
    out["available"] = available
    out["count"] = 0
    out["names"] = []
    if available:
        try:
            out["count"] = int(xpu.device_count())
            out["names"] = [xpu.get_device_name(i) for i in range(out["count"])]
            t = torch.ones(4, device="xpu:0") * 2
            out["tensor_op"] = float(t.sum().item()) == 8.0
        except Exception as e:
            out["tensor_op"] = False
            out["tensor_error"] = "%s: %s" % (type(e).__name__, e)
        try:
            free, total = xpu.mem_get_info(0)
            out["mem_get_info"] = [int(free), int(total)]
        except Exception as e:
            out["mem_get_info_error"] = "%s: %s" % (type(e).__name__, e)
    out["mapped"] = mapped()
    out["bundled"] = bundled(torch)
    if out["ipex_version"]:
        out["ipex_matches"] = _mm(out["ipex_version"]) == _mm(out["torch"])
        if out["ipex_matches"]:
            try:
                import intel_extension_for_pytorch  # noqa: F401
                out["ipex_import"] = True
            except Exception as e:
                out["ipex_import"] = False
                out["ipex_error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
    return out


def externally_managed():
    """PEP 668: pip refuses to install into this interpreter (Debian 12's /usr/bin/python3)."""
    import sysconfig
    return sys.prefix == sys.base_prefix and os.path.isfile(
        os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))


def bundled(torch=None):
    """The SYCL / Unified Runtime / Level Zero libraries this interpreter's packages ship (PyTorch XPU wheels
    depend on intel-sycl-rt & co., which put them in <prefix>/lib; some builds keep them in torch/lib)."""
    dirs = [os.path.join(sys.prefix, "lib")]
    if torch is not None and getattr(torch, "__file__", None):
        dirs.append(os.path.join(os.path.dirname(torch.__file__), "lib"))
    found = []
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        found += [os.path.join(d, n) for n in names if n.startswith(MAPPED_PREFIXES[:3])]
    return found


def mapped(maps="/proc/self/maps"):
    """The runtime library files this process really mapped (SYCL, Unified Runtime, Level Zero, MKL)."""
    found = []
    try:
        with open(maps) as f:
            for line in f:
                path = line.split(None, 5)[5].strip() if line.count(" ") >= 5 else ""
                if path.startswith("/") and os.path.basename(path).startswith(MAPPED_PREFIXES) and path not in found:
                    found.append(path)
    except (OSError, IndexError):
        pass
    return found


if __name__ == "__main__":
    sys.stdout.write("XPUOPS-PROBE " + json.dumps(probe()) + "\n")
