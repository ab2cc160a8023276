"""The HTTP service under real uvicorn on 127.0.0.1 (ephemeral ports), hit with httpx; schemathesis against
its own OpenAPI document; the CLI (`python -m xpu_ops`, `invoke status/metrics`) as subprocesses; the unit."""

import configparser
import contextlib
import json
import logging
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.support.monitor_helpers import FAKE_PROBE, SAMPLE, monitor_for, three_gpus
from tests.support.xpum_standins import (
    DEFAULT_PASSWORD,
    Xpum1Rest,
    Xpum2Exporter,
    arc_a770,
    closed_port,
    closed_url,
    max_1550,
)
from xpu_ops import cli
from xpu_ops.monitor import Settings, XPUMonitorService
from xpu_ops.service import create_app

ROOT = pathlib.Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "xpu-ops-api.service"
STATUS = "/api/v1/analytics/gpu/status"
METRICS = "/api/v1/analytics/gpu/metrics"


class LiveServer(cli.BackgroundServer):
    """uvicorn serving ``app`` on 127.0.0.1:<ephemeral> in a thread."""

    def get(self, path, **kw):
        return httpx.get(self.url + path, timeout=10, **kw)


@contextlib.contextmanager
def served(srv, **env):
    mon = monitor_for(srv, **env)
    with LiveServer(create_app(mon)) as live:
        live.monitor = mon
        yield live


def assert_json_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == code
    assert "Traceback" not in r.text and "\n" not in body["detail"]
    return body


# --------------------------------------------------------------------------- the endpoints


def test_status_over_http_1x_contract():
    with Xpum1Rest(gpus=three_gpus()) as srv, served(srv) as live:
        r = live.get(STATUS)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    st = r.json()
    assert set(st) == {"pytorch_gpu", "xpu_manager", "telemetry", "timestamp"}
    assert {"available", "device", "count", "names", "intel_extension"} <= set(st["pytorch_gpu"])
    assert st["pytorch_gpu"]["device"] == "xpu:0"
    x = st["xpu_manager"]
    assert x["available"] is True and x["line"] == "1.x"
    g = x["gpus"][0]
    assert {"device_id", "device_name", "health", "metrics"} <= set(g)
    assert {"status", "temperature", "power_usage"} <= set(g["health"])
    assert {"gpu_utilization", "memory_used", "memory_total", "temperature", "power_usage"} <= set(g["metrics"])
    assert [gg["health"]["status"] for gg in x["gpus"]] == ["warning", "healthy", "critical"]
    assert g["metrics"]["memory_temperature"] is None  # Arc
    assert [t["tile_id"] for t in x["gpus"][1]["metrics"]["tiles"]] == [0, 1]


def test_metrics_over_http_upstream_sample_units():
    sample = json.loads(SAMPLE.read_text())
    with Xpum1Rest(gpus=[arc_a770(), max_1550(raw_stats=sample)]) as srv, served(srv) as live:
        r = live.get(METRICS, params={"device_id": 1})
        default = live.get(METRICS)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"device_id", "health", "metrics", "timestamp", "source"} and body["device_id"] == 1
    m = body["metrics"]
    assert m["power_usage"] == 63.26 and m["energy_interval"] == pytest.approx(16169.744)  # W, J
    assert m["memory_used"] == pytest.approx(8249.875) and m["memory_total"] == 131072.0  # MiB
    assert (m["gpu_utilization"], m["temperature"], m["memory_temperature"], m["frequency"]) == (50, 37, 38, 350)
    assert body["health"]["status"] == "healthy"
    assert (body["health"]["temperature"], body["health"]["power_usage"]) == (37.0, 63.26)
    assert default.status_code == 200 and default.json()["device_id"] == 0  # device_id defaults to 0


def test_metrics_over_http_2x():
    with Xpum2Exporter(gpus=[max_1550(), arc_a770()]) as srv, served(srv) as live:
        body = live.get(METRICS, params={"device_id": 0}).json()
        st = live.get(STATUS).json()
    assert body["metrics"]["memory_temperature"] is None  # id 0 = the Arc at 0000:03:00.0 (BDF order)
    assert st["xpu_manager"]["line"] == "2.x" and len(st["xpu_manager"]["gpus"]) == 2


@pytest.mark.parametrize("query,status,code", [
    ({"device_id": 7}, 404, "not_found"),
    ({"device_id": -1}, 422, "invalid_request"),
    ({"device_id": "abc"}, 422, "invalid_request"),
    ({"device_id": "1.5"}, 422, "invalid_request"),
    ({"device_id": str(2**31)}, 422, "invalid_request"),
    ({"device_id": "9" * 40}, 422, "invalid_request"),
])
def test_metrics_errors_are_json(query, status, code):
    with Xpum1Rest(gpus=[arc_a770()], tls=False) as srv, served(srv) as live:
        body = assert_json_error(live.get(METRICS, params=query), status, code)
    if status == 404:
        assert body["detail"] == "GPU 7 not found (XPU Manager lists GPU ids: 0)"
    else:
        assert body["detail"].startswith("device_id: ")


def test_vanished_gpu_404():
    with Xpum1Rest(gpus=[arc_a770(), max_1550()], tls=False) as srv, served(srv, XPU_OPS_CACHE_SECONDS="60") as live:
        assert live.get(METRICS, params={"device_id": 1}).status_code == 200
        srv.vanish(1)
        live.monitor._cache.invalidate(("gpu", 1))  # as if the interval had passed for GPU 1 only
        body = assert_json_error(live.get(METRICS, params={"device_id": 1}), 404, "not_found")
    assert "vanished" in body["detail"]


def test_xpu_manager_down_status_200_metrics_503_health_degraded():
    srv = Xpum1Rest(tls=False)  # never started: nothing listens on its URL
    srv._port = closed_port()
    with served(srv) as live:
        st = live.get(STATUS)
        me = live.get(METRICS, params={"device_id": 0})
        he = live.get("/api/v1/health")
    assert st.status_code == 200
    x = st.json()["xpu_manager"]
    assert x["available"] is False and x["gpus"] == [] and "connection refused" in x["reason"]
    assert st.json()["pytorch_gpu"]["device"] == "xpu:0"
    body = assert_json_error(me, 503, "xpu_manager_unavailable")
    assert "connection refused" in body["detail"]
    assert he.status_code == 200 and he.json()["status"] == "degraded"
    assert he.json()["xpu_manager"]["available"] is False


@pytest.mark.parametrize("knob", ["force_status", "hang"])
def test_failing_upstream_never_500(knob):
    with Xpum1Rest(gpus=[arc_a770()], hang_seconds=5) as srv:
        setattr(srv, knob, 500 if knob == "force_status" else True)
        with served(srv, XPU_MANAGER_TIMEOUT="0.3") as live:
            t = time.monotonic()
            st = live.get(STATUS)
            me = live.get(METRICS)
            assert time.monotonic() - t < 3
        setattr(srv, knob, None if knob == "force_status" else False)
    assert st.status_code == 200 and st.json()["xpu_manager"]["available"] is False
    assert_json_error(me, 503, "xpu_manager_unavailable")


def test_health_ok():
    with Xpum1Rest(gpus=[arc_a770()]) as srv, served(srv) as live:
        h = live.get("/api/v1/health").json()
    assert h["status"] == "ok" and h["service"] == "xpu-ops"
    assert h["xpu_manager"] == {"available": True, "url": srv.url, "line": "1.x", "version": "1.2.41", "reason": None}


def test_unknown_route_and_method_are_json():
    with Xpum1Rest(tls=False) as srv, served(srv) as live:
        assert_json_error(live.get("/api/v1/nope"), 404, "not_found")
        r = httpx.post(live.url + STATUS)
        assert_json_error(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "GET"


def test_unexpected_exception_is_json_500_without_traceback(caplog):
    class Broken(XPUMonitorService):
        def get_status(self):
            raise RuntimeError("boom " + DEFAULT_PASSWORD)

    mon = Broken(settings=Settings.from_env({"XPU_MANAGER_URL": closed_url()}), torch_probe=lambda: FAKE_PROBE)
    with caplog.at_level(logging.ERROR, logger="xpu_ops.service"), LiveServer(create_app(mon)) as live:
        r = live.get(STATUS)
    assert_json_error(r, 500, "internal")
    assert "boom" not in r.text and "RuntimeError" not in r.text
    assert any("internal error on GET " + STATUS in rec.getMessage() for rec in caplog.records)


def test_polling_over_http_one_upstream_round_per_interval():
    with Xpum1Rest(gpus=three_gpus()) as srv, served(srv, XPU_OPS_CACHE_SECONDS="30") as live:
        with httpx.Client(base_url=live.url, timeout=10) as c:
            for _ in range(30):
                assert c.get(STATUS).status_code == 200
                assert c.get(METRICS, params={"device_id": 2}).status_code == 200
                assert c.get("/api/v1/health").status_code == 200
    assert srv.hits["/rest/v1/version"] == 1 and srv.hits["/rest/v1/devices"] == 1
    assert [srv.hits[f"/rest/v1/devices/2{p}"] for p in ("/health", "/stats", "")] == [1, 1, 1]


def test_keep_alive_requests_are_not_delayed():
    """The listening socket is IPPROTO_TCP, so asyncio sets TCP_NODELAY on each connection: a keep-alive
    response is not held back ~40 ms by Nagle + delayed ACK."""
    sock = cli.bind("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    sock.close()
    with Xpum1Rest(tls=False) as srv, served(srv) as live, httpx.Client(base_url=live.url, timeout=10) as c:
        c.get("/api/v1/health")
        t = time.monotonic()
        for _ in range(20):
            c.get("/api/v1/health")
        assert time.monotonic() - t < 0.5  # 20 x 40 ms = 0.8 s with the delay


def test_openapi_document():
    with Xpum1Rest(tls=False) as srv, served(srv) as live:
        doc = live.get("/openapi.json").json()
    assert {STATUS, METRICS, "/api/v1/health"} <= set(doc["paths"])
    responses = doc["paths"][METRICS]["get"]["responses"]
    assert {"200", "404", "422", "503"} <= set(responses)
    assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    param = doc["paths"][METRICS]["get"]["parameters"][0]
    assert param["name"] == "device_id" and param["schema"]["minimum"] == 0
    assert "HTTPValidationError" not in doc["components"]["schemas"]


# --------------------------------------------------------------------------- schemathesis against our OpenAPI


@pytest.fixture(scope="module")
def api_up():
    with Xpum1Rest(gpus=three_gpus()) as srv, served(srv) as live:
        yield schemathesis.openapi.from_url(live.url + "/openapi.json")


@pytest.fixture(scope="module")
def api_down():
    srv = Xpum1Rest(tls=False)
    srv._port = closed_port()
    with served(srv) as live:
        yield schemathesis.openapi.from_url(live.url + "/openapi.json")


# schemathesis' own pytest loader (from_fixture) does not run under pytest 9: drive its strategies with hypothesis
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("api", ["api_up", "api_down"])
def test_schemathesis_no_500_and_conformant(api, mode, request):
    """Every operation, valid and invalid input, XPU Manager up and down: the default checks (status codes,
    content types and bodies conform to the OpenAPI document; no 5xx, but for the documented 503 when XPU
    Manager is down) and never a 500."""
    schema = request.getfixturevalue(api)
    excluded = [schemathesis.checks.not_a_server_error] if api == "api_down" else []
    seen = []

    @given(case=schema.as_strategy(mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        r = case.call_and_validate(excluded_checks=excluded)
        seen.append((case.operation.path, r.status_code))

    run()
    assert {p for p, _ in seen} >= ({METRICS} if mode == GenerationMode.NEGATIVE else {STATUS, METRICS})
    assert not [x for x in seen if x[1] >= 500 and x[1] != 503]
    if api == "api_down" and mode == GenerationMode.POSITIVE:
        assert (METRICS, 503) in seen


# --------------------------------------------------------------------------- the CLI and invoke


def run_cli(args, env_extra=None, invoke=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPU_MANAGER_", "XPU_OPS_"))}
    env.update({"XPU_OPS_PYTHON": "/bin/false", "PYTHONPATH": str(ROOT)})
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "invoke"] if invoke else [sys.executable, "-m", "xpu_ops"]
    return subprocess.run(cmd + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def env_for(srv, password=DEFAULT_PASSWORD):
    return {"XPU_MANAGER_URL": srv.url, "XPU_MANAGER_PASSWORD": password, "XPU_MANAGER_CA_FILE": srv.ca_file}


def test_cli_status_table_and_json():
    with Xpum1Rest(gpus=three_gpus()) as srv:
        r = run_cli(["status"], env_for(srv))
        j = run_cli(["status", "--json"], env_for(srv))
    assert r.returncode == 0, r.stderr
    assert "XPU Manager  1.x 1.2.41 at %s: 3 GPU(s)" % srv.url in r.stdout
    assert "Intel(R) Data Center GPU Max 1550" in r.stdout and "0000:29:00.0" in r.stdout
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if ln[:1].isdigit()}
    assert "warning" in lines["0"] and "critical" in lines["2"] and "1024 / 16384" in lines["0"]
    assert "GPU 2: core_temperature Critical: The core temperature is in critical state." in r.stdout
    assert "use device cpu" in r.stdout  # XPU_OPS_PYTHON=/bin/false: the probe fails, cpu
    assert j.returncode == 0
    st = json.loads(j.stdout)
    assert st["xpu_manager"]["gpus"][1]["metrics"]["memory_total"] == 131072.0
    assert st["pytorch_gpu"]["device"] == "cpu" and "without a result" in st["pytorch_gpu"]["reason"]


def test_cli_metrics_table_json_and_exit_codes():
    with Xpum1Rest(gpus=three_gpus()) as srv:
        r = run_cli(["metrics", "--device-id", "1"], env_for(srv))
        j = run_cli(["metrics", "--device-id", "1", "--json"], env_for(srv))
        missing = run_cli(["metrics", "--device-id", "9"], env_for(srv))
        bad = run_cli(["metrics", "--device-id", "x"], env_for(srv))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("GPU 1 Intel(R) Data Center GPU Max 1550 (0000:29:00.0), as of ")
    assert "memory_used          8249.88 MiB" in r.stdout and "memory_temperature   38.00 C" in r.stdout
    assert "  memory_temperature OK: All memory temperature readings are healthy." in r.stdout
    assert "TILE" in r.stdout
    assert j.returncode == 0 and json.loads(j.stdout)["metrics"]["power_usage"] == 63.26
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == "xpu-ops metrics: error: GPU 9 not found (XPU Manager lists GPU ids: 0, 1, 2)\n"
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "invalid device id 'x'" in bad.stderr


def test_cli_unavailable_exit_1_and_config_errors_exit_2():
    down = {"XPU_MANAGER_URL": closed_url("http")}
    st = run_cli(["status", "--json"], down)
    me = run_cli(["metrics"], down)
    assert st.returncode == 1 and json.loads(st.stdout)["xpu_manager"]["available"] is False
    assert me.returncode == 1 and me.stdout == "" and len(me.stderr.splitlines()) == 1
    assert "XPU Manager is not available (refused)" in me.stderr
    for args, env, msg in (
        (["status"], {"XPU_MANAGER_URL": "ftp://x"}, "scheme must be http or https"),
        (["metrics"], {"XPU_OPS_CACHE_SECONDS": "x"}, "XPU_OPS_CACHE_SECONDS='x' is not a number"),
        (["status", "--ca-file", "/nonexistent.pem"], {}, "CA file /nonexistent.pem does not exist"),
        (["metrics", "--timeout", "0"], {}, "timeout 0.0 must be at least 0.05 s"),
        (["serve", "--port", "70000"], {}, "invalid port '70000'"),
        (["serve", "--host", "no-such-host.invalid"], {}, "cannot use --host no-such-host.invalid"),
        (["frobnicate"], {}, "invalid choice"),
        ([], {}, "give a command"),
    ):
        r = run_cli(args, env)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_cli_serve_port_in_use_exit_2():
    sock = cli.bind("127.0.0.1", 0)
    try:
        r = run_cli(["serve", "--port", str(sock.getsockname()[1])])
    finally:
        sock.close()
    assert r.returncode == 2 and "Address already in use" in r.stderr and len(r.stderr.splitlines()) == 1


def test_invoke_tasks_pass_exit_codes():
    with Xpum1Rest(gpus=[arc_a770()]) as srv:
        ok = run_cli(["metrics", "--device-id", "0", "--json"], env_for(srv), invoke=True)
        missing = run_cli(["metrics", "--device-id", "3"], env_for(srv), invoke=True)
    down = run_cli(["status"], {"XPU_MANAGER_URL": closed_url("http")}, invoke=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["metrics"]["temperature"] == 45.0
    assert missing.returncode == 2 and down.returncode == 1


def test_serve_subprocess_real_probe_loopback_and_no_password_anywhere():
    """`python -m xpu_ops serve` end to end (real torch probe); the password shows up nowhere."""
    seen = []
    port = closed_port()
    with Xpum1Rest(gpus=three_gpus()) as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XPU_MANAGER_", "XPU_OPS_"))}
        env.update(env_for(srv), PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([sys.executable, "-m", "xpu_ops", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(base + "/api/v1/health", timeout=5)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                    time.sleep(0.1)
            st = httpx.get(base + STATUS, timeout=90)
            seen += [health.text, st.text, httpx.get(base + METRICS, params={"device_id": 2}, timeout=10).text,
                     httpx.get(base + "/openapi.json", timeout=10).text]
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=20)
        seen += [out, err]
        # the same with a wrong password: the messages name the failure, never the password
        wrong = "Wr0ng-" + DEFAULT_PASSWORD[::-1]
        for args in (["status"], ["status", "--json"], ["metrics"], ["metrics", "--json"]):
            r = run_cli(args, env_for(srv, wrong))
            assert r.returncode == 1 and "401" in r.stdout + r.stderr
            seen += [r.stdout, r.stderr]
        seen += [run_cli(["status", "--json"], env_for(srv)).stdout]
    assert health.json()["status"] == "ok" and st.status_code == 200
    t = st.json()["pytorch_gpu"]
    assert t["device"] == "cpu" and t["torch_version"].startswith("2.") and t["available"] is False
    assert f"serving the GPU status and metrics API on http://127.0.0.1:{port}" in err
    text = "\n".join(seen)
    assert DEFAULT_PASSWORD not in text and wrong not in text


# --------------------------------------------------------------------------- import weight, the unit


def test_checks_and_monitor_do_not_import_fastapi():
    code = ("import sys, checks.engine, checks.rules, checks.xpum, checks.cli, xpu_ops, xpu_ops.cli;"
            "print([m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic', 'httpx') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_systemd_unit_binds_loopback():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read_string(UNIT.read_text())
    exec_start = cp["Service"]["ExecStart"]
    assert "-m xpu_ops serve" in exec_start and "--host 127.0.0.1" in exec_start and "--port 12788" in exec_start
    assert cp["Install"]["WantedBy"] == "multi-user.target"
    assert cp["Service"]["User"] and cp["Service"]["User"] != "root"
    assert cp["Service"]["EnvironmentFile"] == "-/etc/xpu-ops/api.env"  # secrets there (0600), not in the unit
    assert not [ln for ln in UNIT.read_text().splitlines() if "PASSWORD" in ln and not ln.startswith("#")]
    if shutil.which("systemd-analyze"):
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(UNIT)], capture_output=True, text=True,
                           timeout=60)
        # this machine has no /opt/xpu-ops: the only complaint allowed is the missing interpreter
        problems = [ln for ln in r.stderr.splitlines() if ln.strip() and "is not executable" not in ln]
        assert not problems, r.stderr


def test_cli_settings_name_their_source_and_flags_win():
    """status/metrics resolve the same ConnectionSettings as verify: each flag, else its variable."""
    for args, env, msg in (
        (["metrics"], {"XPU_MANAGER_TIMEOUT": "abc"}, "XPU_MANAGER_TIMEOUT='abc' is not a number"),
        (["metrics", "--timeout", "0.01"], {"XPU_MANAGER_TIMEOUT": "5"}, "--timeout 0.01 must be at least 0.05 s"),
        (["status"], {"XPU_MANAGER_CA_FILE": "/nonexistent.pem"}, "(XPU_MANAGER_CA_FILE)"),
        (["status", "--xpum-url", "ftp://x"], {"XPU_MANAGER_URL": "http://127.0.0.1:1"}, "(--xpum-url)"),
    ):
        r = run_cli(args, {"XPU_MANAGER_PASSWORD": DEFAULT_PASSWORD, **env})
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and msg in r.stderr, (args, r.stderr)
        assert DEFAULT_PASSWORD not in r.stderr + r.stdout
    with Xpum1Rest(gpus=[arc_a770()]) as srv:
        env = {**env_for(srv), "XPU_MANAGER_URL": closed_url(), "XPU_MANAGER_CA_FILE": srv.other_ca_file,
               "XPU_MANAGER_TIMEOUT": "abc"}
        r = run_cli(["metrics", "--json", "--xpum-url", srv.url, "--ca-file", srv.ca_file, "--timeout", "5"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metrics"]["temperature"] == 45.0
