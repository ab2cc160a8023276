#!/usr/bin/env python3
"""Benchmark the GPU status API (`invoke bench-api`): concurrency and caching. Prints figures; no verdict
beyond the targets it names.

1. Concurrency: GET /api/v1/analytics/gpu/status (real uvicorn on 127.0.0.1, cache off) for 8 GPUs
   against a local 1.x stand-in (TLS + Basic auth) that adds 20 ms to every request, against one upstream
   request (a fresh TLS connection, as the stand-in closes each one, like gunicorn) and against status
   for 1 GPU. Target: median status for 8 GPUs <= 2x one request.
2. Caching: the same service with the default cache (2 s) polled at 10 requests/s for 10 s; counts
   the upstream rounds (GET /rest/v1/devices) and requests. Target: <= one round per cache interval.

The stand-in runs in a child process (as XPU Manager would: its Python does not share this one's GIL).
Its per-request cost is upstream's: a TLS handshake per request (gunicorn closes each connection) and
PBKDF2-SHA512 with 10000 rounds per authenticated request. The PyTorch probe is the real one
(checks.torch_run); it runs once at start and is cached, so the figures are about XPU Manager.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import httpx  # noqa: E402

from tests.support.xpum_standins import (  # noqa: E402
    DEFAULT_PASSWORD, Xpum1Rest, arc_a770, flex_170, max_1550, standin_rest_conf)
from xpu_ops.cli import BackgroundServer  # noqa: E402
from xpu_ops.monitor import Settings, XPUMonitorService  # noqa: E402
from xpu_ops.service import create_app  # noqa: E402

STATUS = "/api/v1/analytics/gpu/status"


def eight_gpus():
    makers = (arc_a770, flex_170, max_1550, arc_a770, flex_170, max_1550, flex_170, arc_a770)
    return [make(bdf=f"0000:{0x10 * (n + 1):02x}:00.0") for n, make in enumerate(makers)]


class ChildStandin:
    """An Xpum1Rest in a child process (this script with --standin); ``hits`` asked over its stdin."""

    def __init__(self, gpus, delay, auth=True):
        cmd = [sys.executable, os.path.abspath(__file__), "--standin", str(gpus), "--delay", str(delay)]
        self.proc = subprocess.Popen(cmd + ([] if auth else ["--no-auth"]), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        info = json.loads(self.proc.stdout.readline())
        self.url, self.ca_file = info["url"], info["ca_file"]

    def _ask(self, what):
        self.proc.stdin.write(what + "\n")
        return json.loads(self.proc.stdout.readline())

    @property
    def hits(self):
        from collections import Counter

        return Counter(self._ask("hits"))

    def reset_counters(self):
        self._ask("reset")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(10)


def standin_child(gpus, delay, auth):
    conf = None if auth else standin_rest_conf(disable_auth=True)
    with Xpum1Rest(gpus=eight_gpus()[:gpus], delay=delay, rest_conf_text=conf) as srv:
        print(json.dumps({"url": srv.url, "ca_file": srv.ca_file}), flush=True)
        for line in sys.stdin:
            if line.strip() == "reset":
                srv.reset_counters()
            print(json.dumps(dict(srv.hits)), flush=True)
    return 0


def service_for(srv, cache_seconds):
    env = {"XPU_MANAGER_URL": srv.url, "XPU_MANAGER_PASSWORD": DEFAULT_PASSWORD,
           "XPU_MANAGER_CA_FILE": srv.ca_file, "XPU_OPS_CACHE_SECONDS": str(cache_seconds)}
    return XPUMonitorService(settings=Settings.from_env(env))


def ms(seconds):
    return f"{seconds * 1000:7.1f} ms"


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def upstream_wave(srv, n, runs):
    """n authenticated GET /rest/v1/devices/0/stats at once, each on a fresh TLS connection, without
    xpu-ops: the floor this upstream and this machine set for a round of n requests."""
    from concurrent.futures import ThreadPoolExecutor

    def get(_):
        with httpx.Client(verify=srv.ca_file, timeout=10, trust_env=False) as c:
            c.get(srv.url + "/rest/v1/devices/0/stats", auth=("xpumadmin", DEFAULT_PASSWORD)).raise_for_status()

    def wave():
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(get, range(n)))
    wave()
    return statistics.median(timed(wave, runs))


def status_times(srv, runs):
    mon = service_for(srv, 0)
    with BackgroundServer(create_app(mon)) as live, httpx.Client(base_url=live.url, timeout=120) as c:
        for _ in range(3):  # warm up: the PyTorch probe (cached), the connection, the known GPU ids
            st = c.get(STATUS).json()
            assert st["xpu_manager"]["available"], st["xpu_manager"]["reason"]
        n = len(st["xpu_manager"]["gpus"])
        before = sum(srv.hits.values())
        times = timed(lambda: c.get(STATUS).raise_for_status(), runs)
        per_round = (sum(srv.hits.values()) - before) / runs
    return n, times, per_round


def polling(srv, seconds, rate, cache_seconds=2.0):
    mon = service_for(srv, cache_seconds)
    with BackgroundServer(create_app(mon)) as live, httpx.Client(base_url=live.url, timeout=120) as c:
        c.get(STATUS).raise_for_status()  # the PyTorch probe
        time.sleep(cache_seconds)  # start on a fresh interval
        srv.reset_counters()
        lat, start = [], time.perf_counter()
        for i in range(int(seconds * rate)):
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            t = time.perf_counter()
            r = c.get(STATUS)
            lat.append(time.perf_counter() - t)
            assert r.status_code == 200 and r.json()["xpu_manager"]["available"]
        elapsed = time.perf_counter() - start
    return lat, elapsed, srv.hits["/rest/v1/devices"], sum(srv.hits.values())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=25, help="timed status requests per case (default 25)")
    p.add_argument("--delay", type=float, default=0.02, help="upstream latency per request, s (default 0.02)")
    p.add_argument("--seconds", type=float, default=10, help="length of the polling run (default 10)")
    p.add_argument("--rate", type=float, default=10, help="polling requests per second (default 10)")
    p.add_argument("--standin", type=int, help=argparse.SUPPRESS)  # child mode: serve a stand-in with N GPUs
    p.add_argument("--no-auth", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.standin:
        return standin_child(a.standin, a.delay, not a.no_auth)

    print(f"1.x stand-in (child process) over TLS, {a.delay * 1000:.0f} ms added per request, "
          f"{os.cpu_count()} CPU(s); medians of {a.runs}\n")
    print("1. concurrency: status with the cache off")
    for auth in (True, False):
        with ChildStandin(8, a.delay, auth) as big, ChildStandin(1, a.delay, auth) as small:
            one = upstream_wave(big, 1, a.runs)
            n8, t8, req8 = status_times(big, a.runs)
            n1, t1, req1 = status_times(small, a.runs)
            floor = upstream_wave(big, round(req8), a.runs)
        m8, m1 = statistics.median(t8), statistics.median(t1)
        print("   " + ("upstream as shipped: Basic auth, PBKDF2-SHA512 x 10000 per request" if auth else
                       "upstream with rest.conf disableAuth = true (no password hashing)"))
        print(f"     one upstream request              {ms(one)}")
        print(f"     {req8:.0f} upstream requests at once       {ms(floor)}   (no xpu-ops: the floor here; "
              f"one after the other ~{ms(req8 * one).strip()})")
        print(f"     status, {n1} GPU ({req1:.0f} requests)       {ms(m1)}")
        print(f"     status, {n8} GPUs ({req8:.0f} requests)     {ms(m8)}   p90 "
              f"{ms(sorted(t8)[int(0.9 * (len(t8) - 1))]).strip()}")
        print(f"     status {n8} GPUs / one request       {m8 / one:5.2f}x  (target <= 2x: "
              f"{'met' if m8 <= 2 * one else 'not met'}); / status 1 GPU {m8 / m1:.2f}x; "
              f"/ the floor {m8 / floor:.2f}x")

    with ChildStandin(8, a.delay) as big:
        lat, elapsed, rounds, upstream = polling(big, a.seconds, a.rate)
        allowed = math.ceil(elapsed / 2.0)
        lat.sort()
        print(f"\n2. cached polling: {len(lat)} status requests at {a.rate:g}/s for {elapsed:.1f} s, cache 2 s")
        print(f"   upstream rounds                {rounds:5d}   (target <= {allowed}, one per 2 s interval: "
              f"{'met' if rounds <= allowed else 'NOT met'})")
        print(f"   upstream requests              {upstream:5d}   (vs {len(lat) * req8:.0f} without the cache)")
        print(f"   latency median / p95 / max     {ms(statistics.median(lat)).strip()} / "
              f"{ms(lat[int(0.95 * (len(lat) - 1))]).strip()} / {ms(lat[-1]).strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
