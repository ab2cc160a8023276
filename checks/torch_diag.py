"""Run in a CHILD interpreter (python -c <this source> EXPECTED_GBPS): a short PyTorch XPU test on each device.

Prints one line `XPUOPS-DIAG <json>`: per device a matmul checked against the CPU's result, and the
host->device and device->host copy bandwidth of a 256 MiB pinned tensor (GB/s), the best of 3 runs.
"""
import json
import sys
import time

MB = 1 << 20


def _bandwidth(torch, dev, nbytes=256 * MB):
    host = torch.empty(nbytes // 4, dtype=torch.float32)
    try:
        host = host.pin_memory()
    except Exception:
        pass
    best_h2d = best_d2h = 0.0
    for _ in range(3):
        torch.xpu.synchronize(dev)
        t0 = time.perf_counter()
        d = host.to(dev, non_blocking=False)
        torch.xpu.synchronize(dev)
        t1 = time.perf_counter()
        d.to("cpu")
        torch.xpu.synchronize(dev)
        t2 = time.perf_counter()
        best_h2d = max(best_h2d, nbytes / (t1 - t0) / 1e9)
        best_d2h = max(best_d2h, nbytes / (t2 - t1) / 1e9)
    return best_h2d, best_d2h


def main():
    out = {"devices": []}
    try:
        import torch
    except ImportError as e:
        out["error"] = "torch is not importable: %s" % e
        return out
    xpu = getattr(torch, "xpu", None)
    if xpu is None or not xpu.is_available():
        out["error"] = "torch.xpu.is_available() is False"
        return out
    for i in range(xpu.device_count()):
        dev = "xpu:%d" % i
        d = {"index": i, "name": xpu.get_device_name(i)}
        try:
            torch.manual_seed(0)
            a, b = torch.randn(512, 512), torch.randn(512, 512)
            ref = a @ b
            got = (a.to(dev) @ b.to(dev)).to("cpu")
            err = float((got - ref).abs().max())
            d["matmul_max_abs_error"] = err
            d["matmul_ok"] = bool(torch.allclose(got, ref, rtol=1e-3, atol=1e-2))
            d["h2d_gbps"], d["d2h_gbps"] = _bandwidth(torch, dev)
        except Exception as e:
            d["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        out["devices"].append(d)
    return out


if __name__ == "__main__":
    sys.stdout.write("XPUOPS-DIAG " + json.dumps(main()) + "\n")
