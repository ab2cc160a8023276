"""Benchmark (not a test): fleet verify over N = 1, 10, 50 hosts vs the ad-hoc Ansible sequence.

The fleet is one systemd test host (tests/support/testhosts.py, podman, host network) whose sshd answers on
127.0.0.2 .. 127.0.0.(N+1): every address is a host of its own for verify and for Ansible (each has its
own ssh connection and handshake; they share one machine's 2 cores, sshd and all).

  verify:  python -m checks.remote --inventory INV --forks F --json     (one ssh connection per host,
           the zipapp on stdin, all checks run there)
  ansible: ansible all -i INV -f F -m ansible.builtin.shell -a "ls -la /dev/dri; groups; lsmod | grep i915;
           curl -s -m 2 URL"                                              (the manual troubleshooting sequence)

Prints wall time per N (median of --runs), the ratio to N = 1, and verify / ansible per N.
Targets: 50 hosts <= 3x one host; verify faster than the Ansible baseline.

    python bench/fleet_bench.py [--runs 3] [--forks 16] [--sizes 1,10,50] [--phases]
"""
import argparse
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

SHELL = "ls -la /dev/dri; groups; lsmod | grep i915; curl -s -m 2 %s"


def inventory(path, host, n):
    lines = ["[fleet]"]
    for i, addr in enumerate(host.addresses[:n]):
        lines.append("h%03d ansible_host=%s ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s"
                     % (i, addr, host.port, host.key))
    lines += ["[all:vars]", "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
              "ansible_python_interpreter=/usr/bin/python3"]
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(argv, env):
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - t, r


def phases(host, env):
    """Where one host's time goes: ssh handshake alone, + payload transfer, + python start, the checks."""
    from checks import zipapp_build
    payload = zipapp_build.build().read_bytes()
    base = ["ssh", *host.ssh_args, "root@" + host.addresses[0]]
    host.ssh("cat > /tmp/bench-checks.pyz", input=payload.decode("latin-1"))
    steps = [("ssh true", base + ["true"], None),
             ("ssh + zipapp (%d KiB) to /dev/null" % (len(payload) // 1024), base + ["cat >/dev/null"], payload),
             ("ssh + python3 -c pass", base + ["python3 -c pass"], None),
             ("ssh + checks --list (imports)", base + ["python3 /tmp/bench-checks.pyz --list"], None),
             ("ssh + all checks (cached zipapp)", base + ["python3 /tmp/bench-checks.pyz --json"], None)]
    print("\nwhere one host's time goes (median of 5):")
    for label, argv, inp in steps:
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(argv, input=inp, capture_output=True)
            ts.append(time.perf_counter() - t)
        print("  %-40s %6.3f s" % (label, statistics.median(ts)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--forks", type=int, default=16)
    ap.add_argument("--sizes", default="1,10,50")
    ap.add_argument("--url", default="http://127.0.0.1:8080/metrics")
    ap.add_argument("--phases", action="store_true", help="also time the pieces of one host's run")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="xpu-ops-fleet-bench-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    podman_env = th.podman_env(work)
    th.remove_orphans(podman_env)
    rootfs = th.build_rootfs(log=print)
    key = th.make_key(work / "key")
    t0 = time.monotonic()
    host = th.start_host(rootfs, key, work, env=podman_env, wait="ssh",
                         listen_addresses=th.loopback_addresses(max(sizes)))
    print("test host %s: sshd on %d loopback addresses, up in %.1f s; machine: %d CPUs; forks %d; %d runs"
          % (host.name, len(host.addresses), time.monotonic() - t0, os.cpu_count(), a.forks, a.runs))
    ansible = str(Path(sys.executable).with_name("ansible"))
    try:
        from checks import zipapp_build
        zipapp_build.build()                      # built once, outside the timings
        res = {}
        for n in sizes:
            inv = inventory(work / ("fleet-%d.ini" % n), host, n)
            v_cmd = [sys.executable, "-m", "checks.remote", "--inventory", str(inv), "--forks", str(a.forks),
                     "--json", "--host-timeout", "120"]
            a_cmd = [ansible, "all", "-i", str(inv), "-f", str(a.forks), "-m", "ansible.builtin.shell",
                     "-a", SHELL % a.url]
            timed(v_cmd, env)                     # warm caches once
            vs, ans = [], []
            for _ in range(a.runs):               # interleaved, so load hits both alike
                t, r = timed(v_cmd, env)
                if r.returncode not in (0, 1) or '"unreachable": 0' not in r.stdout:
                    raise SystemExit("verify failed on the fleet (exit %d): %s" % (r.returncode, r.stderr[-2000:]))
                vs.append(t)
                t, r = timed(a_cmd, env)
                if "UNREACHABLE" in r.stdout:
                    raise SystemExit("ansible could not reach the fleet: %s" % r.stdout[-2000:])
                ans.append(t)
            res[n] = (statistics.median(vs), statistics.median(ans))
        one = res[sizes[0]][0]
        print("\n%6s  %12s  %10s  %12s  %14s" % ("hosts", "verify (s)", "vs N=1", "ansible (s)", "verify/ansible"))
        for n in sizes:
            v, an = res[n]
            print("%6d  %12.2f  %9.2fx  %12.2f  %13.2fx" % (n, v, v / one, an, v / an))
        if 50 in res:
            print("\ntarget 50 hosts <= 3x one host: %.2fx (%s); faster than ansible: %.2fx (%s)"
                  % (res[50][0] / one, "met" if res[50][0] / one <= 3 else "NOT met",
                     res[50][0] / res[50][1], "met" if res[50][0] < res[50][1] else "NOT met"))
        if a.phases:
            phases(host, env)
    finally:
        host.stop()


if __name__ == "__main__":
    main()
