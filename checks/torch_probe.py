"""Run in a CHILD interpreter (python -c <this source>): probe PyTorch XPU, print one JSON line.

Stdlib only at import; torch is imported inside. IPEX is never imported when its version does
not match torch's major.minor (that import prints an error and fails).
"""
import json
import sys


def _mm(version):
    parts = (version or "").split("+")[0].split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


def probe():
    out = {"python": sys.executable, "python_version": sys.version.split()[0]}
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


if __name__ == "__main__":
    sys.stdout.write("XPUOPS-PROBE " + json.dumps(probe()) + "\n")
