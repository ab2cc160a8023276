"""Benchmark (not a test): the cost of re-provisioning a converged host against the first run.

A fresh systemd test host (tests/support/testhosts.py: Debian 12, podman, host network) is provisioned with
`invoke provision --no-verify` and the variables tests/hosts/test_provision.py uses (Debian's own Intel
packages, firmware, a GPU user, modprobe options), then re-provisioned --runs times. Prints the first run,
the median re-run, their ratio (target <= 25 %), changed= of every re-run (must be 0), and the slowest
tasks of the last re-run (bench/callbacks/task_times.py). With --checkout DIR another checkout's
`invoke provision` runs the same way on a host of its own, first, so before/after figures come side by side.

    python bench/reprovision_bench.py [--runs 3] [--checkout DIR] [--top 15]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import testhosts as th  # noqa: E402

EXTRA = ["-e", "intel_gpu_driver_media_nonfree=true", "-e", "intel_gpu_driver_firmware=install",
         "-e", '{"intel_gpu_driver_users": ["gpuuser"]}',
         "-e", '{"intel_gpu_driver_modprobe_options": {"i915": "enable_guc=3"}}']


def provision(checkout, host, work, label):
    summary, times = work / ("summary-%s.json" % label), work / ("times-%s.json" % label)
    env = dict(os.environ, XPU_OPS_SUMMARY_JSON=str(summary), XPU_OPS_TASK_TIMES=str(times), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_PLUGINS="%s:%s" % (checkout / "plugins" / "callback", ROOT / "bench" / "callbacks"),
               ANSIBLE_CALLBACKS_ENABLED="xpu_ops_summary,task_times")
    cmd = [sys.executable, "-m", "invoke", "provision", "--no-verify", "--host", host.spec, "--key", str(host.key),
           "--no-host-key-check", *EXTRA]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True, timeout=1200)
    took = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit("%s: invoke provision exited %d\n%s" % (label, r.returncode, (r.stdout + r.stderr)[-4000:]))
    (entry,) = json.loads(summary.read_text())["hosts"].values()
    return took, entry["stats"]["changed"], json.loads(times.read_text()) if times.exists() else {"tasks": {}}


def side(checkout, rootfs, key, work, podman_env, runs, top):
    host = th.start_host(rootfs, key, work, env=podman_env, wait="system")
    host.exec("useradd -m gpuuser", check=True)           # intel_gpu_driver_users must exist (as in the test)
    try:
        first, changed, _ = provision(checkout, host, work, "first")
        reruns, changes, times = [], [], {}
        for i in range(runs):
            took, ch, times = provision(checkout, host, work, "rerun%d" % i)
            reruns.append(took)
            changes.append(ch)
    finally:
        host.stop()
    med = statistics.median(reruns)
    print("%s\n  first run %.1f s (changed=%d); re-runs %s s, median %.1f s: %.0f %% of the first; changed=%s"
          % (checkout, first, changed, ", ".join("%.1f" % x for x in reruns), med, 100 * med / first, changes))
    tasks = times["tasks"]
    slow = sorted(tasks.items(), key=lambda kv: -kv[1])[:top]
    print("  last re-run: %d tasks, %d module runs on the host, %.1f s in tasks; the slowest:"
          % (len(tasks), times.get("remote_calls", -1), sum(tasks.values())))
    for name, secs in slow:
        print("    %5.2f s  %s" % (secs, name.replace(str(checkout) + "/", "")))
    return first, med


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--checkout", help="another checkout to time first, on a host of its own (before/after)")
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xpu-ops-reprovision-bench-"))
    podman_env = th.podman_env(work)
    th.remove_orphans(podman_env)
    rootfs = th.build_rootfs(log=print)
    key = th.make_key(work / "key")
    print("machine: %d CPUs, load %.2f; %d re-runs per side" % (os.cpu_count(), os.getloadavg()[0], a.runs))
    sides = ([Path(a.checkout).resolve()] if a.checkout else []) + [ROOT]
    for checkout in sides:
        first, med = side(checkout, rootfs, key, work, podman_env, a.runs, a.top)
        print("  ratio %.2f (target <= 0.25: %s)" % (med / first, "met" if med / first <= 0.25 else "NOT met"))


if __name__ == "__main__":
    main()
