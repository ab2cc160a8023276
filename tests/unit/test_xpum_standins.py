"""The stand-ins behave like upstream XPU Manager (checked with plain httpx, not our client)."""

import json
import pathlib
import socket
import ssl
import time

import httpx
import pytest

from tests.support.xpum_standins import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    SilentListener,
    Xpum1Rest,
    Xpum2Exporter,
    arc_a770,
    closed_port,
    flex_170,
    max_1550,
    standin_rest_conf,
    upstream_hash,
)

AUTH = (DEFAULT_USER, DEFAULT_PASSWORD)
SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "fixtures/upstream/xpumanager-1.x/rest_v1_devices_0_stats.json"


def client(srv, **kw):
    verify = ssl.create_default_context(cafile=srv.ca_file) if srv.tls else True
    return httpx.Client(base_url=srv.url, verify=verify, timeout=5, **kw)


def test_version_needs_no_auth_and_tls_is_verifiable():
    with Xpum1Rest() as srv, client(srv) as c:
        r = c.get("/rest/v1/version")
        assert r.status_code == 200
        assert r.json()["xpum_version"] == "1.2.41"
        assert srv.url.startswith("https://127.0.0.1:")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(srv.url + "/rest/v1/version")


def test_upstream_hash_matches_known_vector():
    # pbkdf2-sha512, 10000 iterations, ASCII: same as rest_config.py / xpum_rest_main.py
    import hashlib

    assert upstream_hash("pw", "salt") == hashlib.pbkdf2_hmac("sha512", b"pw", b"salt", 10000).hex()
    assert len(upstream_hash("pw", "salt")) == 128


def test_failed_logins_sleep_exponentially_and_are_counted():
    with Xpum1Rest(tls=False, login_sleep_unit=0.01) as srv, client(srv) as c:
        for _ in range(3):
            r = c.get("/rest/v1/devices", auth=(DEFAULT_USER, "wrong"))
            assert r.status_code == 401
            assert r.headers["WWW-Authenticate"].startswith("Basic")
        assert srv.failed_logins == 3
        assert srv.login_sleeps == [0.02, 0.04, 0.08]
        assert c.get("/healtz").status_code == 401  # no credentials at all is a failed login too
        assert srv.failed_logins == 4
        assert c.get("/rest/v1/devices", auth=AUTH).status_code == 200
        assert srv.login_failure_count == 3  # a good login decrements upstream's counter
        assert srv.hits["/rest/v1/devices"] == 4


def test_failed_login_sleep_caps_at_2_pow_8():
    with Xpum1Rest(tls=False, fail_login_sleep=False) as srv, client(srv) as c:
        for _ in range(10):
            c.get("/healtz", auth=("nobody", "x"))
        assert srv.login_failure_count == 8
        assert max(srv.login_sleeps) == 2**8 * srv.login_sleep_unit


def test_disable_auth_and_exporter_modes():
    conf = standin_rest_conf(disable_auth=True)
    with Xpum1Rest(tls=False, rest_conf_text=conf) as srv, client(srv) as c:
        assert c.get("/rest/v1/devices").status_code == 200
        assert srv.failed_logins == 0
    with Xpum1Rest(tls=False, exporter_no_auth=True, exporter_only=True) as srv, client(srv) as c:
        assert c.get("/metrics").status_code == 200
        assert c.get("/healtz").text == "healthy"
        assert c.get("/rest/v1/devices").status_code == 404
    with Xpum1Rest(tls=False, exporter_no_auth=True) as srv, client(srv) as c:
        assert c.get("/rest/v1/devices", auth=AUTH).status_code == 500  # upstream NameError


def test_devices_health_stats_and_errors():
    gpus = [arc_a770(health={"power": "Warning"}), max_1550()]
    with Xpum1Rest(gpus=gpus) as srv, client(srv, auth=AUTH) as c:
        devs = c.get("/rest/v1/devices").json()["devices"]
        assert [d["device_id"] for d in devs] == [0, 1]
        assert devs[1]["pci_device_id"] == "0xbd5"  # upstream prints hex without zero padding
        assert devs[0]["pci_bdf_address"] == "0000:03:00.0"
        props = c.get("/rest/v1/devices/0").json()
        assert props["memory_physical_size_byte"] == str(16 * 2**30) and props["device_id"] == 0
        health = c.get("/rest/v1/devices/0/health").json()
        assert health["power"]["status"] == "Warning"
        assert health["memory_temperature"]["status"] == "Unknown"
        arc = c.get("/rest/v1/devices/0/stats").json()
        assert "tile_level" not in arc
        assert "XPUM_STATS_MEMORY_TEMPERATURE" not in {e["metrics_type"] for e in arc["device_level"]}
        pvc = c.get("/rest/v1/devices/1/stats").json()
        assert [t["tile_id"] for t in pvc["tile_level"]] == [0, 1]
        assert c.get("/rest/v1/devices/7").json() == {"Status": 1, "Message": "Device not found"}
        assert c.get("/rest/v1/devices/7").status_code == 404
        assert c.get("/rest/v1/devices/7/health").status_code == 404
        assert c.get("/rest/v1/devices/7/stats").status_code == 400
        r = c.get("/rest/v1/devices/abc")
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


def test_vanish_after_list_and_healtz_without_devices():
    with Xpum1Rest(gpus=[flex_170(vanish_after_list=True)], tls=False) as srv, client(srv, auth=AUTH) as c:
        assert c.get("/healtz").text == "healthy"
        assert len(c.get("/rest/v1/devices").json()["devices"]) == 1
        assert c.get("/rest/v1/devices/0/stats").status_code == 400
        r = c.get("/healtz")
        assert (r.status_code, r.text) == (500, "cannot get any devices")


def test_raw_upstream_stats_served_verbatim():
    sample = json.loads(SAMPLE.read_text())
    with Xpum1Rest(gpus=[max_1550(raw_stats=sample)], tls=False) as srv, client(srv, auth=AUTH) as c:
        assert c.get("/rest/v1/devices/0/stats").json() == sample


def test_misbehaviour_knobs():
    with Xpum1Rest(tls=False, garbage=True) as srv, client(srv) as c:
        r = c.get("/rest/v1/version")
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
        srv.garbage = False
        srv.force_status = 500
        assert c.get("/rest/v1/version").status_code == 500
        srv.force_status = None
        srv.delay = 0.2
        t = time.monotonic()
        assert c.get("/rest/v1/version").status_code == 200
        assert time.monotonic() - t >= 0.2
        srv.delay = 0
        srv.hang = True
        with pytest.raises(httpx.ReadTimeout):
            c.get("/rest/v1/version", timeout=0.2)


def test_exporter_2x_metrics():
    from prometheus_client.parser import text_string_to_metric_families

    with Xpum2Exporter(gpus=[max_1550(), arc_a770(health={"core_temperature": "Critical"})]) as srv:
        r = httpx.get(srv.url + "/metrics")
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        fams = {f.name: f for f in text_string_to_metric_families(r.text)}
        assert httpx.get(srv.url + "/rest/v1/version").status_code == 404
    info = fams["hw_gpu_info"].samples
    assert {s.labels["pci_device_id"] for s in info} == {"0x0bd5", "0x56a0"}
    for fam in fams.values():
        for s in fam.samples:
            assert "pci_bdf" in s.labels, s
    crit = [
        s
        for s in fams["hw_status"].samples
        if s.labels["pci_bdf"] == "0000:03:00.0" and s.labels["hw_type"] == "gpu" and s.value == 1
    ]
    assert [s.labels["hw_state"] for s in crit] == ["critical"]
    util = {
        s.labels["pci_bdf"]: s.value
        for s in fams["hw_gpu_utilization_ratio"].samples
        if s.labels.get("com_intel_subdevice_id") == ""  # upstream's device level
    }
    assert util == {"0000:03:00.0": 0.125}  # PVC has per-tile utilization only
    energy = [s for s in fams["hw_energy_joules"].samples if s.name == "hw_energy_joules_total"]
    assert energy


def test_silent_listener_and_closed_port():
    with SilentListener(max_seconds=5) as sl:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(sl.url, timeout=0.2)
        assert sl.accepted == 1
    port = closed_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
