"""Benchmark (not a test): local verify side by side with what a person types by hand.

  A. `python -m checks --skip torch.xpu` vs the manual shell sequence
     ls -la /dev/dri; groups; lsmod | grep -E 'i915|xe'; cat /sys/bus/pci/devices/*/vendor; curl -s -m 2 URL
     target: verify <= 1.0x the shell sequence
  B. full `python -m checks` (with the torch probe) vs `python -c "import torch"`
     target: verify <= torch import + 0.2 s

Runs are interleaved (A1 B1 A2 B2 ...) so load on the machine hits both sides alike; prints medians and ratios.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(argv, env=None, shell=False):
    t = time.perf_counter()
    subprocess.run(argv, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   executable="/bin/bash" if shell else None)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--url", default=os.environ.get("XPU_MANAGER_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1")
    shell_seq = ("ls -la /dev/dri; groups; lsmod | grep -E 'i915|xe'; cat /sys/bus/pci/devices/*/vendor; "
                 "curl -s -m 2 %s" % a.url)
    verify_nt = [a.python, "-m", "checks", "--skip", "torch.xpu"]
    verify_full = [a.python, "-m", "checks", "--python", a.python]
    torch_imp = [a.python, "-c", "import torch"]
    res = {"shell": [], "verify": [], "full": [], "torch": []}
    timed(verify_full, env)  # warm the page cache once for both sides
    timed(torch_imp)
    for _ in range(a.runs):
        res["shell"].append(timed(shell_seq, shell=True))
        res["verify"].append(timed(verify_nt, env))
        res["torch"].append(timed(torch_imp))
        res["full"].append(timed(verify_full, env))
    med = {k: statistics.median(v) for k, v in res.items()}
    print("runs per side: %d (interleaved), machine: %d CPUs" % (a.runs, os.cpu_count()))
    print("A  manual shell sequence        median %7.3f s" % med["shell"])
    print("A  verify (all but torch.xpu)   median %7.3f s   ratio %.2fx  (target <= 1.00x)"
          % (med["verify"], med["verify"] / med["shell"]))
    print("B  python -c 'import torch'     median %7.3f s" % med["torch"])
    print("B  verify (all checks)          median %7.3f s   = torch import %+.3f s  (target <= +0.200 s)"
          % (med["full"], med["full"] - med["torch"]))


if __name__ == "__main__":
    main()
