"""Benchmark (not a test): fleet verify over N = 1, 10, 50 hosts vs its floor and the ad-hoc Ansible sequence.

The fleet is one systemd test host (tests/support/testhosts.py, podman, host network) whose sshd answers on
127.0.0.2 .. 127.0.0.(N+1): every address is a host of its own for verify and for Ansible (each has its
own ssh connection and handshake; they share one machine's 2 cores, sshd and all).

  verify:  python -m xpu_ops.remote --inventory INV --forks F --json     (one ssh connection per host,
           the zipapp on stdin, all checks run there)
  floor:   N x `ssh host python3 -c pass`, F at once (threads, as verify runs its ssh's): one connection
           and one python start per host, nothing else -- what no remote verify can go below
  ansible: ansible all -i INV -f F -m ansible.builtin.shell -a "ls -la /dev/dri; groups; lsmod | grep i915;
           curl -s -m 2 URL"                                              (the manual troubleshooting sequence)
  before:  with --before DIR, the verify of another checkout (e.g. the previous commit, `git archive`d
           there) timed in the same interleaved loop, so before/after figures are side by side

Prints wall time per N (median of --runs, the sides interleaved so load hits them alike), the ratio to
N = 1, verify / floor and verify / ansible per N; then the CPU each side used per host, on this side
(ssh clients, the control process, ansible-inventory: our children) and on the hosts' side (the test host's
cgroup: sshd, PAM, the login shell, python3), which does not depend on what else runs on the machine: the
hosts share its cores, so the wall time follows the CPU.
Targets: 50 hosts verify / floor <= 1.5x; verify faster than the Ansible baseline.

    python bench/fleet_bench.py [--runs 3] [--forks 8] [--sizes 1,10,50] [--no-ansible] [--before DIR] [--phases]
"""
import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def host_cpu_reader(host):
    """() -> CPU seconds used so far by the test host's processes (its cgroup), or None when unreadable."""
    r = subprocess.run(["podman", "inspect", "--format", "{{.State.CgroupPath}}", host.name], env=host.env,
                       capture_output=True, text=True)
    path = r.stdout.strip()
    v1, v2 = Path("/sys/fs/cgroup/cpuacct" + path, "cpuacct.usage"), Path("/sys/fs/cgroup" + path, "cpu.stat")

    def read():
        try:
            if v1.exists():
                return int(v1.read_text()) / 1e9
            return int(dict(x.split() for x in v2.read_text().splitlines())["usage_usec"]) / 1e6
        except (OSError, ValueError, KeyError):
            return None
    return read if path and read() is not None else (lambda: None)


def measured(host_cpu, fn, *args):
    """(wall s, CPU s of our children, CPU s of the test host, fn(*args))."""
    def mine():
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime
    c0, h0, t0 = mine(), host_cpu(), time.perf_counter()
    out = fn(*args)
    wall, c1, h1 = time.perf_counter() - t0, mine(), host_cpu()
    return wall, c1 - c0, (h1 - h0 if h0 is not None and h1 is not None else float("nan")), out


def timed(argv, env, cwd=ROOT):
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - t, r


def floor(host, n, forks):
    """N x `ssh host python3 -c pass`, forks at once (raises if one fails)."""
    def one(addr):
        r = subprocess.run(["ssh", "-o", "BatchMode=yes", *host.ssh_args, "root@" + addr, "python3 -c pass"],
                           stdin=subprocess.DEVNULL, capture_output=True)
        if r.returncode != 0:
            raise SystemExit("floor: ssh %s failed: %s" % (addr, r.stderr.decode()[-500:]))
    with ThreadPoolExecutor(max_workers=max(1, min(forks, n))) as pool:
        list(pool.map(one, host.addresses[:n]))


def verify_cmd(checkout, inv, forks):
    """The fleet verify of a checkout (this one, or --before's, whichever module it has)."""
    module = "xpu_ops.remote" if (Path(checkout) / "xpu_ops" / "remote.py").exists() else "checks.remote"
    return [sys.executable, "-m", module, "--inventory", str(inv), "--forks", str(forks), "--json",
            "--host-timeout", "120"]


def checked(m, what):
    *m, (_, r) = m
    if r.returncode not in (0, 1) or '"unreachable": 0' not in r.stdout:
        raise SystemExit("%s failed on the fleet (exit %d): %s" % (what, r.returncode, r.stderr[-2000:]))
    return m


def phases(host, env):
    """Where one host's time goes: ssh alone, + python start, + the zipapp on stdin, the checks' imports, all."""
    from xpu_ops import remote, zipapp
    pyz = zipapp.build()
    payload = zipapp.stdin_bytes(pyz)
    t = remote.Target(name="h", host=host.addresses[0], user="root", port=host.port, key=str(host.key),
                      ssh_args=list(remote.NO_HOST_KEY_CHECK))
    base = ["ssh", "-o", "BatchMode=yes", *host.ssh_args, "root@" + host.addresses[0]]
    steps = [("ssh true", base + ["true"], None),
             ("ssh + python3 -c pass (the floor)", base + ["python3 -c pass"], None),
             ("ssh + python3 -I -c pass", base + ["python3 -I -c pass"], None),
             ("ssh + zipapp (%d KiB) to /dev/null" % (pyz.stat().st_size // 1024), base + ["cat >/dev/null"],
              payload),
             ("verify's ssh, checks --list (imports)", remote.ssh_command(t, ["python3", "--list"]), payload),
             ("verify's ssh, all checks --json", remote.ssh_command(t, ["python3", "--json"]), payload)]
    print("\nwhere one host's time goes (median of 9):")
    for label, argv, inp in steps:
        ts = []
        for _ in range(9):
            t0 = time.perf_counter()
            r = subprocess.run(argv, input=inp, capture_output=True)
            ts.append(time.perf_counter() - t0)
        print("  %-40s %6.3f s (exit %d)" % (label, statistics.median(ts), r.returncode))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--forks", type=int, default=8, help="hosts at once, every side (default 8, verify's own)")
    ap.add_argument("--sizes", default="1,10,50")
    ap.add_argument("--url", default="http://127.0.0.1:8080/metrics")
    ap.add_argument("--no-ansible", action="store_true", help="leave out the Ansible baseline (faster)")
    ap.add_argument("--before", metavar="DIR", help="another checkout whose verify to time side by side")
    ap.add_argument("--phases", action="store_true", help="also time the pieces of one host's run")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="xpu-ops-fleet-bench-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False")
    before_env = dict(env, PYTHONPATH=str(Path(a.before).resolve())) if a.before else None
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
    cols = ["verify", "floor"] + (["before"] if a.before else []) + ([] if a.no_ansible else ["ansible"])
    cpu = host_cpu_reader(host)
    try:
        res, cpu_use = {}, {}
        for n in sizes:
            inv = inventory(work / ("fleet-%d.ini" % n), host, n)
            v_cmd = verify_cmd(ROOT, inv, a.forks)
            a_cmd = [ansible, "all", "-i", str(inv), "-f", str(a.forks), "-m", "ansible.builtin.shell",
                     "-a", SHELL % a.url]
            checked(measured(cpu, timed, v_cmd, env), "verify")     # warm caches once (builds the zipapp)
            if a.before:
                b_cmd = verify_cmd(a.before, inv, a.forks)
                checked(measured(cpu, timed, b_cmd, before_env, a.before), "verify of --before")
            runs = {c: [] for c in cols}
            for _ in range(a.runs):               # interleaved, so load hits every side alike
                runs["verify"].append(checked(measured(cpu, timed, v_cmd, env), "verify"))
                runs["floor"].append(measured(cpu, floor, host, n, a.forks)[:3])
                if a.before:
                    runs["before"].append(checked(measured(cpu, timed, b_cmd, before_env, a.before),
                                                  "verify of --before"))
                if not a.no_ansible:
                    *m, (_, r) = measured(cpu, timed, a_cmd, env)
                    if "UNREACHABLE" in r.stdout:
                        raise SystemExit("ansible could not reach the fleet: %s" % r.stdout[-2000:])
                    runs["ansible"].append(m)
            res[n] = {c: statistics.median(x[0] for x in v) for c, v in runs.items()}
            cpu_use[n] = {c: (statistics.median(x[1] for x in v), statistics.median(x[2] for x in v))
                          for c, v in runs.items()}
        one = res[sizes[0]]["verify"]
        head = "%6s  %10s  %8s  %10s  %12s" % ("hosts", "verify (s)", "vs N=1", "floor (s)", "verify/floor")
        if a.before:
            head += "  %10s  %12s  %12s" % ("before (s)", "before/floor", "verify/before")
        if not a.no_ansible:
            head += "  %11s  %14s" % ("ansible (s)", "verify/ansible")
        print("\n" + head)
        for n in sizes:
            r = res[n]
            line = "%6d  %10.2f  %7.2fx  %10.2f  %11.2fx" % (n, r["verify"], r["verify"] / one, r["floor"],
                                                          r["verify"] / r["floor"])
            if a.before:
                line += "  %10.2f  %11.2fx  %12.2fx" % (r["before"], r["before"] / r["floor"],
                                                       r["verify"] / r["before"])
            if not a.no_ansible:
                line += "  %11.2f  %13.2fx" % (r["ansible"], r["verify"] / r["ansible"])
            print(line)
        if 50 in res:
            ratio = res[50]["verify"] / res[50]["floor"]
            print("\ntarget 50 hosts verify <= 1.5x the floor (ssh python3 -c pass): %.2fx (%s)"
                  % (ratio, "met" if ratio <= 1.5 else "NOT met"))
            if not a.no_ansible:
                print("faster than ansible: %.2fx (%s)" % (res[50]["verify"] / res[50]["ansible"],
                                                           "met" if res[50]["verify"] < res[50]["ansible"]
                                                           else "NOT met"))
        print("\nCPU per host, median run (ms; this side = ssh clients + control process + ansible-inventory,"
              " host side = sshd, PAM, shell, python3 in the test host):")
        print("%6s  %-8s  %10s  %10s  %10s" % ("hosts", "side", "this side", "host side", "total"))
        for n in sizes:
            for c in cols:
                mine, theirs = cpu_use[n][c]
                total = mine + theirs if not math.isnan(theirs) else float("nan")
                print("%6d  %-8s  %10.1f  %10.1f  %10.1f" % (n, c, *(1000 * x / n for x in (mine, theirs, total))))
        if a.phases:
            phases(host, env)
    finally:
        host.stop()


if __name__ == "__main__":
    main()
