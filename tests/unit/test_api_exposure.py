"""The HTTP service and `xpu-ops metrics/serve` as a newcomer meets them (issue #15, security review F17):
health reports the package's version, no CDN pages, --json stays JSON when XPU Manager is down, a warning
when serve binds beyond loopback, and bounded connections and request heads."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import httpx

try:
    import tomllib
except ImportError:  # Python 3.9/3.10
    tomllib = None

from tests.support.monitor_helpers import monitor_for, three_gpus
from tests.support.xpum_standins import Xpum1Rest, closed_port, closed_url
from xpu_ops import cli
from xpu_ops.service import create_app

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _pyproject_version():
    text = (ROOT / "pyproject.toml").read_text()
    if tomllib:
        return tomllib.loads(text)["project"]["version"]
    return next(ln.split('"')[1] for ln in text.splitlines() if ln.startswith("version ="))


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XPU_MANAGER_", "XPU_OPS_"))}
    env.update({"XPU_OPS_PYTHON": "/bin/false", "PYTHONPATH": str(ROOT)}, **extra)
    return env


def test_health_and_openapi_report_the_package_version_and_no_cdn_pages():
    with Xpum1Rest(gpus=three_gpus()) as srv, cli.BackgroundServer(create_app(monitor_for(srv))) as live:
        health = httpx.get(live.url + "/api/v1/health", timeout=10)
        doc = httpx.get(live.url + "/openapi.json", timeout=10)
        pages = [httpx.get(live.url + p, timeout=10) for p in ("/docs", "/redoc", "/docs/oauth2-redirect")]
    assert health.json()["version"] == _pyproject_version()
    assert doc.status_code == 200 and doc.json()["info"]["version"] == _pyproject_version()
    for page in pages:   # FastAPI's pages fetch Swagger UI / ReDoc from a CDN: not served at all
        assert page.status_code == 404 and "cdn" not in page.text.lower()


def test_metrics_json_when_xpu_manager_is_down_prints_the_api_error_object():
    r = subprocess.run([sys.executable, "-m", "xpu_ops", "metrics", "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60, env=_env(XPU_MANAGER_URL=closed_url("http")))
    assert r.returncode == 1
    body = json.loads(r.stdout)
    assert body["error"] == "xpu_manager_unavailable" and "refused" in body["detail"]
    assert len(r.stderr.splitlines()) == 1


def _serve_stderr(host):
    port = closed_port()
    proc = subprocess.Popen([sys.executable, "-m", "xpu_ops", "serve", "--host", host, "--port", str(port)],
                            cwd=ROOT, env=_env(XPU_MANAGER_URL=closed_url("http")), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "serving the GPU status" in line:
                break
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    return "".join(lines)


def test_serve_warns_when_it_binds_beyond_loopback():
    wide = _serve_stderr("0.0.0.0")
    local = _serve_stderr("127.0.0.1")
    assert "serving the GPU status" in wide and "serving the GPU status" in local
    assert "warning: --host 0.0.0.0" in wide and "no authentication" in wide
    assert "warning" not in local


def _half_request(url):
    host, port = url.rsplit("/", 1)[-1].split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")     # the head never ends
    return s


def test_a_request_head_that_never_ends_is_cut_off():
    with Xpum1Rest(gpus=three_gpus()) as srv, \
            cli.BackgroundServer(create_app(monitor_for(srv)), header_timeout=0.5) as live:
        slow = _half_request(live.url)
        started = time.monotonic()
        try:
            assert slow.recv(1024) == b""                               # closed by the service
        finally:
            slow.close()
        waited = time.monotonic() - started
        ok = httpx.get(live.url + "/api/v1/health", timeout=10)         # a whole request still works
    assert 0.3 < waited < 4.5
    assert ok.status_code == 200


def test_connections_beyond_the_limit_get_503_at_once():
    with Xpum1Rest(gpus=three_gpus()) as srv, \
            cli.BackgroundServer(create_app(monitor_for(srv)), limit_concurrency=3) as live:
        held = [_half_request(live.url) for _ in range(3)]
        try:
            r = httpx.get(live.url + "/api/v1/health", timeout=5)
        finally:
            for s in held:
                s.close()
    assert r.status_code == 503
