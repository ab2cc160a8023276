"""Benchmark (not a test): local verify side by side with what a person types by hand.

  A. `python -m checks --skip torch.xpu` vs the manual shell sequence
     ls -la /dev/dri; groups; lsmod | grep -E 'i915|xe'; lspci -nn | grep -Ei 'vga|display|3d';
     curl -s -m 2 URL/healtz
     target: verify <= 1.5x the shell sequence. Also shown: the interpreter alone (`python -c pass`) and
     `python -m` of an empty module, the floors under any Python verify.
  B. full `python -m checks` (with the torch probe) vs `python -c "import torch"`
     target: verify <= torch import + 0.2 s

Runs are interleaved (A1 B1 A2 B2 ...) so load on the machine hits every side alike; prints medians and ratios.
Every side is one `bash -c` (the shell sequence's own bash start is charged to each side alike). The checks'
bytecode is compiled first, as bin/setup leaves it. Beside wall time, the CPU time of each side (user + system of
the process tree) is shown: on a shared, loaded machine it moves less than wall time.
"""
import argparse
import compileall
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, env=None):
    """(wall, CPU) seconds of `bash -c CMD` (a command line, or an argv joined into one)."""
    if not isinstance(cmd, str):
        cmd = " ".join(shlex.quote(a) for a in cmd)
    c, t = _children_cpu(), time.perf_counter()
    subprocess.run(["/bin/bash", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t, _children_cpu() - c


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
        "shell": (shell_seq, None),
        "verify": ([a.python, "-m", "checks", "--skip", "torch.xpu"], env),
        "python": ([a.python, "-c", "pass"], None),
        "python_m": ([a.python, "-m", "xpu_ops_bench_empty"], dict(os.environ, PYTHONPATH=empty)),
    }
    if not a.no_torch:
        sides["full"] = ([a.python, "-m", "checks", "--python", a.python], env)
        sides["torch"] = ([a.python, "-c", "import torch"], None)
    for cmd, e in sides.values():  # warm the page cache once for every side
        timed(cmd, e)
    res = {k: [] for k in sides}
    for _ in range(a.runs):
        for k, (cmd, e) in sides.items():
            res[k].append(timed(cmd, e))
    med = {k: statistics.median(w for w, _ in v) for k, v in res.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in res.items()}
    print("runs per side: %d (interleaved), machine: %d CPUs, load %.2f" % (a.runs, os.cpu_count(),
                                                                            os.getloadavg()[0]))
    print("                                 wall median   ratio     CPU median   ratio")
    for key, label, target in (("shell", "A  manual shell sequence", ""),
                               ("verify", "A  verify (all but torch.xpu)", "  (target <= 1.50x)"),
                               ("python", "   floor: python -c pass", ""),
                               ("python_m", "   floor: python -m (empty)", "")):
        print("%-31s %7.3f s   %5.2fx   %7.3f s   %5.2fx%s" % (label, med[key], med[key] / med["shell"], cpu[key],
                                                           cpu[key] / cpu["shell"], target))
    if not a.no_torch:
        print("B  python -c 'import torch'     median %7.3f s" % med["torch"])
        print("B  verify (all checks)          median %7.3f s   = torch import %+.3f s  (target <= +0.200 s)"
              % (med["full"], med["full"] - med["torch"]))
    os.unlink(os.path.join(empty, "xpu_ops_bench_empty.py"))
    os.rmdir(empty)


if __name__ == "__main__":
    main()
