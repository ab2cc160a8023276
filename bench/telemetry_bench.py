#!/usr/bin/env python3
"""Benchmark the sysfs telemetry source against XPU Manager (`invoke bench-telemetry`). Prints figures.

1. One status round (XPUMonitorService with the cache off) for 1 and for 8 GPUs, side by side,
   interleaved: the sysfs source on a host tree (tests/support/gpu_telemetry: hwmon, GT frequency, VRAM
   size, fdinfo of 2 clients per GPU among 300 other processes), steady state (the counters' previous
   snapshot is reused: no sleep), against a round through the 1.x XPU Manager stand-in (TLS + Basic auth,
   in a child process) with 0 and with 20 ms per request. Ratio = XPU Manager / sysfs.
2. CPU time of this process per scrape (get_telemetry_status + the Prometheus exposition of GET /metrics).
3. The fdinfo scan of this machine's real /proc (every process's descriptors), for scale.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from api_bench import ChildStandin, service_for  # noqa: E402

from checks.root import HostRoot  # noqa: E402
from checks.telemetry import fdinfo  # noqa: E402
from checks.telemetry.sampler import Sampler  # noqa: E402
from tests.support.gpu_telemetry import arc_b_fleet_host  # noqa: E402
from xpu_ops.gpu_prometheus import exposition  # noqa: E402
from xpu_ops.monitor import Settings, XPUMonitorService  # noqa: E402


def sysfs_service(root):
    s = Settings.from_env({"XPU_OPS_SOURCE": "sysfs", "XPU_OPS_ROOT": root, "XPU_OPS_CACHE_SECONDS": "0"})
    s.sampler = Sampler(root, interval=0.0)
    mon = XPUMonitorService(settings=s)
    mon.get_telemetry_status()  # the layout and a first snapshot
    return mon


def sample(fn, clock):
    t = clock()
    fn()
    return clock() - t


def scrape(mon):
    """What GET /metrics does: the telemetry status and its Prometheus exposition."""
    return lambda: exposition(mon.get_telemetry_status())


def ms(x):
    return f"{x * 1000:8.2f} ms"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=31)
    a = p.parse_args(argv)
    print(f"telemetry bench: {a.runs} interleaved runs per side, medians; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}")
    rows = []
    for n in (1, 8):
        with tempfile.TemporaryDirectory() as root:
            arc_b_fleet_host(root, gpus=n)
            sysfs = sysfs_service(root)
            assert len(sysfs.get_telemetry_status()["gpus"]) == n
            for delay in (0.0, 0.02):
                with ChildStandin(n, delay) as srv:
                    xp = service_for(srv, 0)
                    xp.get_manager_status()
                    s_t, x_t, s_cpu, x_cpu = [], [], [], []
                    for _ in range(a.runs):
                        s_t.append(sample(sysfs.get_telemetry_status, time.perf_counter))
                        x_t.append(sample(xp.get_manager_status, time.perf_counter))
                        s_cpu.append(sample(scrape(sysfs), time.process_time))
                        x_cpu.append(sample(scrape(xp), time.process_time))
                    xp.close()
                sm, xm = statistics.median(s_t), statistics.median(x_t)
                rows.append((n, delay, sm, xm, statistics.median(s_cpu), statistics.median(x_cpu)))
                print(f"{n} GPU(s), XPU Manager +{delay * 1000:.0f} ms/request: status round sysfs {ms(sm)}  "
                      f"XPU Manager {ms(xm)}  ratio {xm / sm:6.1f}x | CPU per scrape sysfs {ms(rows[-1][4])}  "
                      f"XPU Manager client {ms(rows[-1][5])}", flush=True)
    scan = [sample(lambda: fdinfo.scan(HostRoot("/")), time.perf_counter) for _ in range(a.runs)]
    procs = fdinfo.scan(HostRoot("/"))["processes"]
    print(f"real /proc fdinfo scan: {procs} processes, median {ms(statistics.median(scan))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
