"""Benchmark (not a test): local verify side by side with what a person types by hand.

  A. `python -m checks --skip torch.xpu` vs the manual shell sequence
     ls -la /dev/dri; groups; lsmod | grep -E 'i915|xe'; lspci -nn | grep -Ei 'vga|display|3d';
     curl -s -m 2 URL/healtz
     target: verify <= 1.5x the shell sequence. Also shown: the interpreter alone (`python -c pass`) and
     `python -m` of an empty module, the floors under any Python verify.
  B. full `python -m checks` (with the torch probe) vs `python -c "import torch"`
     target: verify <= torch import + 0.2 s

Runs are interleaved (A1 B1 A2 B2 ...) so load on the machine hits every side alike; prints medians and ratios.
The checks' bytecode is compiled first, as bin/setup leaves it.
"""
import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(argv, env=None, shell=False):
    t = time.perf_counter()
    subprocess.run(argv, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   executable="/bin/bash" if shell else None)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--url", default=os.environ.get("XPU_MANAGER_URL", "http://127.0.0.1:30000"))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--no-torch", action="store_true", help="only A (B takes about 1.5 s a run)")
    a = ap.parse_args()
    compileall.compile_dir(os.path.join(ROOT, "checks"), quiet=1)
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1")
    shell_seq = ("ls -la /dev/dri; groups; lsmod | grep -E 'i915|xe'; lspci -nn | grep -Ei 'vga|display|3d'; "
                 "curl -s -m 2 %s/healtz" % a.url.rstrip("/"))
    empty = tempfile.mkdtemp(prefix="verify-bench-")
    open(os.path.join(empty, "xpu_ops_bench_empty.py"), "w").close()
    sides = {
        "shell": (shell_seq, None, True),
        "verify": ([a.python, "-m", "checks", "--skip", "torch.xpu"], env, False),
        "python": ([a.python, "-c", "pass"], None, False),
        "python_m": ([a.python, "-m", "xpu_ops_bench_empty"], dict(os.environ, PYTHONPATH=empty), False),
    }
    if not a.no_torch:
        sides["full"] = ([a.python, "-m", "checks", "--python", a.python], env, False)
        sides["torch"] = ([a.python, "-c", "import torch"], None, False)
    for argv, e, shell in sides.values():  # warm the page cache once for every side
        timed(argv, e, shell)
    res = {k: [] for k in sides}
    for _ in range(a.runs):
        for k, (argv, e, shell) in sides.items():
            res[k].append(timed(argv, e, shell))
    med = {k: statistics.median(v) for k, v in res.items()}
    print("runs per side: %d (interleaved), machine: %d CPUs, load %.2f" % (a.runs, os.cpu_count(),
                                                                            os.getloadavg()[0]))
    print("A  manual shell sequence        median %7.3f s" % med["shell"])
    print("A  verify (all but torch.xpu)   median %7.3f s   ratio %.2fx  (target <= 1.50x)"
          % (med["verify"], med["verify"] / med["shell"]))
    print("   floor: python -c pass        median %7.3f s   ratio %.2fx"
          % (med["python"], med["python"] / med["shell"]))
    print("   floor: python -m (empty)     median %7.3f s   ratio %.2fx"
          % (med["python_m"], med["python_m"] / med["shell"]))
    if not a.no_torch:
        print("B  python -c 'import torch'     median %7.3f s" % med["torch"])
        print("B  verify (all checks)          median %7.3f s   = torch import %+.3f s  (target <= +0.200 s)"
              % (med["full"], med["full"] - med["torch"]))
    os.unlink(os.path.join(empty, "xpu_ops_bench_empty.py"))
    os.rmdir(empty)


if __name__ == "__main__":
    main()
