"""checks.xpum against the stand-ins, over real HTTP(S) on 127.0.0.1; and checks.restconf."""

import json
import logging
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

from checks import restconf, xpum
from checks.xpum import XpumClient, XpumError, candidate_urls, gather, load_credentials
from tests.support.xpum_standins import (
    AVG,
    DEFAULT_PASSWORD,
    SilentListener,
    Xpum1Rest,
    Xpum2Exporter,
    arc_a770,
    closed_url,
    flex_170,
    max_1550,
    standin_rest_conf,
    upstream_hash,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = pathlib.Path(__file__).resolve().parents[1] / "fixtures/upstream/xpumanager-1.x/rest_v1_devices_0_stats.json"
ENV = {"XPU_MANAGER_PASSWORD": DEFAULT_PASSWORD}
MIB = 1024 * 1024


def client_for(srv, **kw):
    kw.setdefault("password", DEFAULT_PASSWORD)
    kw.setdefault("ca_file", srv.ca_file)
    return XpumClient(srv.url, **kw)


# --------------------------------------------------------------------------- cheap import, refused


def test_import_is_cheap_and_refused_port_loads_no_http_client():
    code = (
        "import sys, json\n"
        "import checks.xpum as x\n"
        "heavy = [m for m in ('httpx', 'prometheus_client', 'ssl') if m in sys.modules]\n"
        f"r = x.gather(url={closed_url()!r}, env={{}})\n"
        "print(json.dumps([heavy, 'httpx' in sys.modules, r['tried'], r['error']]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    heavy, httpx_loaded, tried, error = json.loads(out.stdout)
    assert heavy == []
    assert httpx_loaded is False
    assert [t["outcome"] for t in tried] == ["refused"]
    assert error["kind"] == "refused" and "connection refused" in error["message"]


def test_refused_client():
    url = closed_url("http")
    with pytest.raises(XpumError) as e:
        XpumClient(url).detect()
    assert e.value.kind == "refused"
    assert "nothing listens on 127.0.0.1:" in str(e.value)


# --------------------------------------------------------------------------- URLs and credentials


def test_candidate_urls_order():
    assert candidate_urls(env={}) == xpum.DEFAULT_URLS
    assert xpum.DEFAULT_URLS[0] == "https://127.0.0.1:30000"
    assert candidate_urls(env={"XPU_MANAGER_URL": "http://10.1.2.3:29999/"}) == ["http://10.1.2.3:29999"]
    assert candidate_urls("https://h:1", env={"XPU_MANAGER_URL": "http://x:2"}) == ["https://h:1"]


@pytest.mark.parametrize(
    "bad, why",
    [
        ("127.0.0.1:30000", "no scheme"),
        ("ftp://127.0.0.1:21", "scheme must be http or https"),
        ("https://127.0.0.1:99999", "out of range"),
        ("https://", "no host"),
        ("http://h:1/?q=1", "no query"),
    ],
)
def test_invalid_url_is_config_error(bad, why):
    with pytest.raises(XpumError) as e:
        candidate_urls(bad, env={})
    assert e.value.kind == "config"
    assert str(e.value).startswith(f"invalid XPU Manager URL '{bad}': ")
    assert why in str(e.value)
    r = gather(url=bad, env={})
    assert r["error"]["kind"] == "config" and r["tried"] == [] and r["explicit"] is True


def test_invalid_url_from_env_in_gather():
    r = gather(env={"XPU_MANAGER_URL": "not a url"})
    assert r["error"]["kind"] == "config"
    assert "invalid XPU Manager URL 'not a url'" in r["error"]["message"]


def test_credentials_env_and_files(tmp_path):
    assert load_credentials(env={}) == (None, None)
    assert load_credentials(env={"XPU_MANAGER_PASSWORD": "p"}) == ("xpumadmin", "p")
    assert load_credentials(env={"XPU_MANAGER_USER": "u", "XPU_MANAGER_PASSWORD": "p"}) == ("u", "p")
    f = tmp_path / "creds"
    f.write_text("# comment\n\nadmin:pa:ss:word\n")
    assert load_credentials(env={}, path=str(f)) == ("admin", "pa:ss:word")
    f.write_text("export XPU_MANAGER_USER=bob\nXPU_MANAGER_PASSWORD='x y'\n")
    assert load_credentials(env={"XPU_MANAGER_PASSWORD": "env"}, path=str(f)) == ("bob", "x y")
    f.write_text("XPU_MANAGER_PASSWORD=only\n")
    assert load_credentials(env={}, path=str(f)) == ("xpumadmin", "only")


def test_garbled_or_unreadable_credentials_file(tmp_path):
    f = tmp_path / "creds"
    f.write_text("xpumadmin:fine\nthis-line-holds-Secret123 only\n")
    with pytest.raises(XpumError) as e:
        load_credentials(env={}, path=str(f))
    assert e.value.kind == "config" and "line 2" in str(e.value)
    assert "Secret123" not in str(e.value) and "Secret123" not in repr(e.value)
    f.write_text("XPU_MANAGER_USER=bob\n")
    with pytest.raises(XpumError, match="has no password"):
        load_credentials(env={}, path=str(f))
    with pytest.raises(XpumError) as e:
        load_credentials(env={}, path=str(tmp_path / "missing"))
    assert e.value.kind == "config" and "cannot read credentials file" in str(e.value)
    r = gather(url="http://127.0.0.1:1", env={}, credentials_file=str(tmp_path / "missing"))
    assert r["error"]["kind"] == "config" and r["tried"] == []


# --------------------------------------------------------------------------- 1.x: TLS


def test_1x_tls_with_ca_file_full_gather():
    gpus = [arc_a770(), max_1550(), flex_170()]
    with Xpum1Rest(gpus=gpus) as srv:
        r = gather(url=srv.url, env=ENV, ca_file=srv.ca_file)
        assert srv.failed_logins == 0 and srv.auth_ok > 0
    assert r["error"] is None
    assert (r["url"], r["line"], r["explicit"], r["credentials"]) == (srv.url, "1.x", True, "env")
    assert r["version"]["xpum_version"] == "1.2.41"
    assert r["tried"] == [
        {"url": srv.url, "outcome": "ok", "message": f"XPU Manager 1.x answers at {srv.url}"}
    ]
    assert r["healtz"] == {"ok": True, "status_code": 200, "text": "healthy"}
    assert [g["device_id"] for g in r["gpus"]] == [0, 1, 2]
    assert [g["pci_device_id"] for g in r["gpus"]] == ["0x56a0", "0x0bd5", "0x56c0"]  # 0xbd5 -> 0x0bd5
    assert [g["pci_bdf_address"] for g in r["gpus"]] == ["0000:03:00.0", "0000:29:00.0", "0000:4d:00.0"]
    assert all(g["health"]["status"] == "healthy" for g in r["gpus"])
    assert r["gpus"][0]["health"]["temperature"] == 45.0
    assert r["gpus"][0]["health"]["power_usage"] == 35.5


def test_1x_tls_not_trusted_without_ca_file():
    with Xpum1Rest() as srv:
        r = gather(url=srv.url, env=ENV)
        assert sum(srv.hits.values()) == 0  # the handshake failed: no HTTP request reached it
    assert r["error"]["kind"] == "tls" and r["url"] is None
    msg = r["error"]["message"]
    assert msg.startswith(f"TLS certificate of {srv.url} not trusted (")
    # F21: --ca-file first (the server's own certificate is a pin); --insecure only as a last resort
    assert "pass --ca-file /usr/lib/xpum/rest/conf/cert.pem (the native server's own certificate" in msg
    assert msg.index("--ca-file") < msg.index("--insecure only as a last resort")
    assert [t["outcome"] for t in r["tried"]] == ["tls"]


def test_1x_tls_wrong_ca_file_and_insecure():
    with Xpum1Rest() as srv:
        with pytest.raises(XpumError) as e:
            client_for(srv, ca_file=srv.other_ca_file).detect()
        assert e.value.kind == "tls" and f"not trusted by --ca-file {srv.other_ca_file}" in str(e.value)
        r = gather(url=srv.url, env=ENV, insecure=True)
        assert r["error"] is None and r["line"] == "1.x" and len(r["gpus"]) == 1


def test_scheme_mismatch_both_ways():
    with Xpum1Rest(tls=True) as tls_srv, Xpum1Rest(tls=False) as plain_srv:
        with pytest.raises(XpumError) as e:
            XpumClient(tls_srv.url.replace("https", "http")).detect()
        assert e.value.kind == "protocol" and "does it speak HTTPS?" in str(e.value)
        with pytest.raises(XpumError) as e:
            XpumClient(plain_srv.url.replace("http", "https"), insecure=True).detect()
        assert e.value.kind == "tls" and "does it speak plain HTTP?" in str(e.value)


def test_missing_ca_file_is_config_error(tmp_path):
    with Xpum1Rest() as srv:
        with pytest.raises(XpumError) as e:
            client_for(srv, ca_file=str(tmp_path / "nope.pem")).detect()
    assert e.value.kind == "config" and "cannot use CA file" in str(e.value)


# --------------------------------------------------------------------------- 1.x: auth


def test_401_is_never_retried():
    with Xpum1Rest(tls=False, gpus=[arc_a770(), flex_170()]) as srv:
        r = gather(url=srv.url, env={"XPU_MANAGER_PASSWORD": "wrong-one"})
        assert srv.failed_logins == 1
        assert srv.hits["/healtz"] == 1
        assert sum(n for p, n in srv.hits.items() if p != "/rest/v1/version") == 1
        assert r["error"]["kind"] == "auth"
        assert r["error"]["message"] == (
            f"401 from {srv.url}/healtz: wrong XPU Manager user or password "
            "(not retried: the server delays each failed login 2^n s)"
        )
        # a client that saw a 401 sends no further login at all
        c = XpumClient(srv.url, password="wrong-one")
        with pytest.raises(XpumError) as e1:
            c.list_gpus()
        for call in (c.list_gpus, lambda: c.gpu_health(0), lambda: c.gpu_metrics(1), c.healtz):
            with pytest.raises(XpumError) as e2:
                call()
            assert e2.value.kind == "auth" and str(e2.value) == str(e1.value)
        assert srv.failed_logins == 2
        assert srv.hits["/rest/v1/devices"] == 1


def test_no_credentials_sends_nothing_authenticated():
    """Upstream's Flask-HTTPAuth calls verify_password("", "") for a request without credentials: a failed login,
    2^n s for every client (rest/xpum_rest_main.py, v1.3.x). Only /rest/v1/version is asked."""
    with Xpum1Rest(tls=False) as srv:
        r = gather(url=srv.url, env={})
        assert srv.failed_logins == 0 and set(srv.hits) == {"/rest/v1/version"}
        with XpumClient(srv.url) as c, pytest.raises(XpumError) as e:
            c.list_gpus()
        assert srv.failed_logins == 0 and set(srv.hits) == {"/rest/v1/version"}
    assert r["credentials"] == "none" and r["error"] is None and r["needs_credentials"] is True
    assert r["line"] == "1.x" and r["gpus"] == []
    assert e.value.kind == "auth"
    assert "set XPU_MANAGER_USER and XPU_MANAGER_PASSWORD or pass --credentials-file" in str(e.value)


def test_basic_auth_from_credentials_file(tmp_path):
    f = tmp_path / "creds"
    f.write_text(f"xpumadmin:{DEFAULT_PASSWORD}\n")
    with Xpum1Rest(tls=False) as srv:
        r = gather(url=srv.url, env={"XPU_MANAGER_PASSWORD": "ignored"}, credentials_file=str(f))
        assert srv.failed_logins == 0
    assert r["credentials"] == "file" and r["error"] is None and len(r["gpus"]) == 1


def test_wrong_user_is_an_auth_failure():
    with Xpum1Rest(tls=False) as srv:
        with pytest.raises(XpumError) as e:
            XpumClient(srv.url, user="root", password=DEFAULT_PASSWORD).list_gpus()
        assert e.value.kind == "auth" and srv.failed_logins == 1


def test_disable_auth_takes_any_password():
    """disableAuth = true cannot be seen from outside: without credentials nothing authenticated is asked; any
    password then works."""
    conf = standin_rest_conf(password="unused", disable_auth=True)
    with Xpum1Rest(tls=False, rest_conf_text=conf, gpus=[arc_a770(), flex_170()]) as srv:
        r = gather(url=srv.url, env={"XPU_MANAGER_PASSWORD": "anything"})
        assert srv.failed_logins == 0
    assert r["error"] is None and r["credentials"] == "env" and len(r["gpus"]) == 2


# --------------------------------------------------------------------------- 1.x: data


def test_healtz_500_without_devices():
    with Xpum1Rest(gpus=[], tls=False) as srv:
        r = gather(url=srv.url, env=ENV)
    assert r["healtz"] == {"ok": False, "status_code": 500, "text": "cannot get any devices"}
    assert r["gpus"] == [] and r["error"] is None


def test_multi_tile_stats_units_and_derivation():
    with Xpum1Rest(gpus=[arc_a770(), max_1550()]) as srv, client_for(srv) as c:
        m = c.gpu_metrics(1)
    assert m["power_usage"] == 63.26  # device level is reported: not the tiles' sum
    assert m["energy"] is None and m["energy_interval"] == pytest.approx(16169.744)  # mJ -> J, first query
    assert m["memory_used"] == pytest.approx((8501719040 + 148901888) / MIB)  # bytes -> MiB, tiles summed
    assert m["memory_total"] == 128 * 1024  # memory_physical_size_byte (a string) -> MiB
    assert m["temperature"] == 37.0 and m["memory_temperature"] == 38.0  # hottest tile
    assert m["gpu_utilization"] == 50.0  # mean of 100 % and 0 %
    assert m["frequency"] == 350.0  # MHz
    assert set(m["derived_from_tiles"]) == {
        "memory_used",
        "temperature",
        "memory_temperature",
        "gpu_utilization",
        "frequency",
    }
    assert [t["tile_id"] for t in m["tiles"]] == [0, 1]
    assert m["tiles"][0]["memory_used"] == pytest.approx(8501719040 / MIB)
    assert m["tiles"][1]["power_usage"] == 8.78
    assert m["memory_utilization"] is None  # not reported: not invented


def test_single_tile_metrics_and_missing_memory_temperature():
    with Xpum1Rest(gpus=[arc_a770()]) as srv, client_for(srv) as c:
        m = c.gpu_metrics(0)
    assert "tiles" not in m and m["derived_from_tiles"] == []
    assert m["memory_temperature"] is None
    assert m["memory_used"] == 1024.0 and m["memory_total"] == 16384.0
    assert (m["gpu_utilization"], m["memory_utilization"], m["temperature"]) == (12.5, 6.25, 45.0)


def test_upstream_stats_sample_mapped_with_units():
    sample = json.loads(SAMPLE.read_text())
    with Xpum1Rest(gpus=[max_1550(raw_stats=sample)], tls=False) as srv, client_for(srv) as c:
        m = c.gpu_metrics(0)
    assert m["power_usage"] == 63.26
    assert m["energy_interval"] == pytest.approx(16169.744)
    t0, t1 = m["tiles"]
    assert t0["memory_used"] == pytest.approx(8107.87109375)  # 8501719040 B
    assert t1["memory_used"] == pytest.approx(142.00390625)  # 148901888 B
    assert (t0["gpu_utilization"], t1["gpu_utilization"]) == (100.0, 0.0)
    assert (t0["frequency"], t1["frequency"]) == (400, 300)
    assert (t0["temperature"], t0["memory_temperature"]) == (37.0, 38.0)
    assert t0["energy_interval"] == pytest.approx(6159.791) and t0["energy"] is None
    assert m["memory_used"] == pytest.approx(8249.875)


def test_health_warning_critical_unknown():
    unknown = {
        c: "Unknown" for c in ("core_temperature", "memory_temperature", "power", "memory", "frequency")
    }
    gpus = [
        arc_a770(health={"power": "Warning"}),
        flex_170(health={"core_temperature": "Critical", "memory": "Warning"}),
        flex_170(bdf="0000:9a:00.0", health=unknown),
    ]
    with Xpum1Rest(gpus=gpus, tls=False) as srv, client_for(srv) as c:
        h = [c.gpu_health(i) for i in range(3)]
    assert [x["status"] for x in h] == ["warning", "critical", "unknown"]
    assert h[0]["components"]["power"] == {
        "status": "Warning",
        "description": "The power is in warning state.",
    }
    assert h[1]["components"]["memory"]["status"] == "Warning"
    assert set(h[0]["components"]) == {
        "core_temperature",
        "memory_temperature",
        "power",
        "memory",
        "xe_link_port",
        "frequency",
    }
    assert (h[1]["temperature"], h[1]["power_usage"]) == (52.0, 78.0)


def test_vanished_gpu_is_notfound():
    with Xpum1Rest(gpus=[arc_a770(), max_1550()], tls=False) as srv, client_for(srv) as c:
        assert len(c.list_gpus()) == 2
        srv.vanish(1)
        for call in (c.gpu_metrics, c.gpu_health):
            with pytest.raises(XpumError) as e:
                call(1)
            assert e.value.kind == "notfound" and "GPU 1 not found" in str(e.value)
        assert c.gpu_metrics(0)["temperature"] == 45.0
        with pytest.raises(XpumError) as e:
            c.gpu_metrics(7)
        assert e.value.kind == "notfound"
        with pytest.raises(XpumError) as e:
            c.gpu_metrics("0")
        assert e.value.kind == "notfound"


def test_gpu_vanishing_during_gather_keeps_others():
    gpus = [arc_a770(), max_1550(vanish_after_list=True)]
    with Xpum1Rest(gpus=gpus, tls=False) as srv:
        r = gather(url=srv.url, env=ENV)
    assert r["error"] is None
    assert r["gpus"][0]["health"]["status"] == "healthy"
    assert r["gpus"][1]["health"]["status"] == "unknown"
    assert r["gpus"][1]["health"]["error"]["kind"] == "notfound"


def test_health_fetched_concurrently():
    gpus = [flex_170(bdf=f"0000:{b:02x}:00.0") for b in (0x10, 0x20, 0x30, 0x40)]
    with Xpum1Rest(gpus=gpus, tls=False, delay=0.25) as srv:
        t = time.monotonic()
        r = gather(url=srv.url, env=ENV)
        took = time.monotonic() - t
    # version, healtz, devices, then 4 x (health, stats): sequential would be 11 x 0.25 s
    assert r["error"] is None and len(r["gpus"]) == 4
    assert took < 2.2, took


# --------------------------------------------------------------------------- misbehaviour


def test_non_json_body_is_protocol_error():
    with Xpum1Rest(tls=False, garbage=True) as srv:
        r = gather(url=srv.url, env=ENV)
    assert r["error"]["kind"] == "protocol"
    assert "answered 200 but not JSON" in r["error"]["message"]


def test_hang_times_out_bounded():
    with Xpum1Rest(tls=True, hang=True) as srv:
        t = time.monotonic()
        r = gather(url=srv.url, env=ENV, ca_file=srv.ca_file, timeout=0.3)
        took = time.monotonic() - t
    assert r["error"]["kind"] == "timeout"
    assert r["error"]["message"] == f"no answer from {srv.url}/rest/v1/version within 0.3 s"
    assert took < 2.0


def test_silent_listener_times_out():
    with SilentListener(max_seconds=10) as sl:
        with pytest.raises(XpumError) as e:
            XpumClient(sl.url, timeout=0.2).detect()
    assert e.value.kind == "timeout" and "within 0.2 s" in str(e.value)


def test_daemon_down_500():
    with Xpum1Rest(tls=False, force_status=500) as srv:
        with pytest.raises(XpumError) as e:
            XpumClient(srv.url).detect()
    assert e.value.kind == "http" and e.value.status == 500 and "systemctl status xpum" in str(e.value)


def test_1x_exporter_only_falls_back_to_metrics():
    """XPUM_EXPORTER_ONLY=1 (upstream's local-only container run): no REST routes, GPUs from /metrics."""
    gpus = [max_1550(), arc_a770()]
    with Xpum1Rest(tls=False, exporter_no_auth=True, exporter_only=True, gpus=gpus) as srv:
        r = gather(url=srv.url, env={"XPU_MANAGER_EXPORTER_NO_AUTH": "1"})
        assert srv.failed_logins == 0
        with XpumClient(srv.url, password="ignored") as c:
            m = c.gpu_metrics(0)  # straight to a device path: HTML 404 -> REST is off -> /metrics
            assert c.rest_api is False
            pvc = c.gpu_metrics(1)
            with pytest.raises(XpumError) as e:
                c.gpu_metrics(2)
            assert e.value.kind == "notfound"
    assert r["line"] == "1.x" and r["error"] is None and r["healtz"]["ok"] is True
    assert [(g["device_id"], g["pci_bdf_address"], g["pci_device_id"]) for g in r["gpus"]] == [
        (0, "0000:03:00.0", "0x56a0"),
        (1, "0000:29:00.0", "0x0bd5"),
    ]
    h = r["gpus"][0]["health"]
    assert h["status"] == "unknown" and "REST API is off" in h["note"]
    # the exporter publishes the stats' avg (AVG x the latest value in the stand-in)
    assert (h["temperature"], h["power_usage"]) == (45.0 * AVG, round(35.5 * AVG, 2))
    assert m["gpu_utilization"] == pytest.approx(12.5 * AVG)  # xpum_engine_ratio -> %
    assert m["memory_used"] == 1024.0 * AVG and m["memory_temperature"] is None and m["memory_total"] is None
    assert pvc["power_usage"] == round(63.26 * AVG, 2) and len(pvc["tiles"]) == 2
    assert pvc["memory_temperature"] == 38.0 * AVG
    assert pvc["memory_used"] == pytest.approx((round(8501719040 * AVG, 2) + round(148901888 * AVG, 2)) / MIB)


def test_1x_exporter_only_with_auth():
    with Xpum1Rest(tls=True, exporter_only=True) as srv:
        r = gather(url=srv.url, env=ENV, ca_file=srv.ca_file)
        assert srv.failed_logins == 0 and srv.hits["/metrics"] == 1
    assert r["error"] is None and len(r["gpus"]) == 1 and r["gpus"][0]["health"]["temperature"] == 45.0 * AVG


def test_default_candidates_tried_in_order(monkeypatch):
    """Not explicit: every candidate is tried; the first that answers wins."""
    with Xpum1Rest(tls=True) as tls_srv, Xpum2Exporter(gpus=[arc_a770()]) as v2:
        monkeypatch.setattr(xpum.settings, "DEFAULT_URLS", [closed_url(), tls_srv.url, v2.url])
        r = gather(env={})
        assert [t["outcome"] for t in r["tried"]] == ["refused", "tls", "ok"]
        assert (r["url"], r["line"], r["explicit"], r["error"]) == (v2.url, "2.x", False, None)
        # nothing answers: the telling error (TLS) wins over "refused"
        monkeypatch.setattr(xpum.settings, "DEFAULT_URLS", [closed_url(), tls_srv.url, closed_url("http")])
        r = gather(env={})
        assert [t["outcome"] for t in r["tried"]] == ["refused", "tls", "refused"]
        assert r["error"]["kind"] == "tls" and r["url"] is None


# --------------------------------------------------------------------------- 2.x


def test_2x_detection_ids_by_bdf_and_units():
    gpus = [flex_170(bdf="0000:4D:00.0"), max_1550(), arc_a770()]  # exporter lists them unsorted
    with Xpum2Exporter(gpus=gpus) as srv, XpumClient(srv.url) as c:
        assert c.detect() == {"url": srv.url, "line": "2.x", "version": None}
        listed = c.list_gpus()
        assert [(g["device_id"], g["pci_bdf_address"]) for g in listed] == [
            (0, "0000:03:00.0"),
            (1, "0000:29:00.0"),
            (2, "0000:4d:00.0"),
        ]
        assert [g["pci_device_id"] for g in listed] == ["0x56a0", "0x0bd5", "0x56c0"]
        srv.gpus.reverse()
        assert c.list_gpus() == listed  # stable across scrapes
        arc = c.gpu_metrics(0)
        pvc = c.gpu_metrics(1)
    assert arc["gpu_utilization"] == pytest.approx(12.5)  # ratio 0.125 -> %
    assert arc["memory_used"] == 1024.0 and arc["memory_total"] == 16384.0  # bytes -> MiB
    assert arc["frequency"] == 2400.0  # Hz -> MHz
    assert arc["energy"] == pytest.approx(1234.567)  # J
    assert arc["memory_temperature"] is None and "tiles" not in arc
    assert pvc["power_usage"] == 63.26 and len(pvc["tiles"]) == 2
    assert pvc["memory_used"] == pytest.approx((8501719040 + 148901888) / MIB)
    assert pvc["memory_total"] == 128 * 1024
    assert pvc["gpu_utilization"] == 50.0 and pvc["tiles"][0]["gpu_utilization"] == 100.0


def test_2x_health_states_and_gather():
    gpus = [
        arc_a770(health={"power": "Warning"}),
        flex_170(health={"frequency": "Critical"}),
        max_1550(hw_status={}),
    ]
    with Xpum2Exporter(gpus=gpus) as srv:
        r = gather(url=srv.url, env={})
        assert srv.hits["/metrics"] == 1  # one scrape serves detection, GPUs and health
        with XpumClient(srv.url) as c:
            assert c.healtz()["ok"] is True
            with pytest.raises(XpumError) as e:
                c.gpu_health(3)
            assert e.value.kind == "notfound"
    assert r["line"] == "2.x" and r["error"] is None and r["healtz"] is None
    status = {g["pci_bdf_address"]: g["health"]["status"] for g in r["gpus"]}
    assert status == {"0000:03:00.0": "warning", "0000:29:00.0": "unknown", "0000:4d:00.0": "critical"}
    arc = r["gpus"][0]["health"]
    assert arc["components"]["gpu"]["status"] == "warning"
    assert (arc["temperature"], arc["power_usage"]) == (45.0, 35.5)


def test_2x_not_xpum_and_garbage():
    with Xpum2Exporter(gpus=[]) as srv:
        with pytest.raises(XpumError) as e:
            XpumClient(srv.url).detect()
        assert e.value.kind == "protocol" and "no hw_gpu_info" in str(e.value)
    with Xpum2Exporter(garbage=True) as srv:
        with pytest.raises(XpumError) as e:
            XpumClient(srv.url).detect()
        assert e.value.kind == "protocol"


# --------------------------------------------------------------------------- the password never leaks

SECRET = "Zq9-very-Secret-pw"


def test_password_never_appears_anywhere(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    seen = []

    def record(obj):
        seen.append(obj if isinstance(obj, str) else json.dumps(obj, default=repr))

    conf = restconf.make_rest_conf(SECRET)
    record(repr(restconf.parse_rest_conf(conf)))
    env = {"XPU_MANAGER_PASSWORD": SECRET}
    creds = tmp_path / "creds"
    creds.write_text(f"xpumadmin:{SECRET}\n{SECRET}\n")
    with Xpum1Rest(rest_conf_text=conf, gpus=[arc_a770(), max_1550()]) as srv, SilentListener() as sl:
        outcomes = [
            gather(url=srv.url, env=env, ca_file=srv.ca_file),  # ok
            gather(url=srv.url, env=env),  # tls
            gather(url=sl.url, env=env, timeout=0.2),  # timeout
            gather(url=closed_url(), env=env),  # refused
            gather(url=srv.url, env={}, credentials_file=str(creds)),  # garbled file
            gather(url=f"https://xpumadmin:{SECRET}@127.0.0.1:1", env=env),  # credentials in URL
        ]
        for o in outcomes:
            record(o)
        assert outcomes[0]["error"] is None and len(outcomes[0]["gpus"]) == 2
        assert [o["error"]["kind"] for o in outcomes[1:]] == ["tls", "timeout", "refused", "config", "config"]
        c = XpumClient(srv.url, password=SECRET, ca_file=srv.ca_file)
        record(repr(c))
        record(str(vars(c)))
        record(c.detect())
        record(c.list_gpus())
        record(c.gpu_health(1))
        record(c.gpu_metrics(1))
        record(c.healtz())
        bad = XpumClient(srv.url, user="other", password=SECRET, ca_file=srv.ca_file)
        with pytest.raises(XpumError) as e:
            bad.list_gpus()
        record(str(e.value))
        record(repr(e.value))
        record(e.value.as_dict())
        record(repr(bad))
    with pytest.raises(XpumError) as e:
        XpumClient(f"http://u:{SECRET}@127.0.0.1:1")
    record(str(e.value))
    with pytest.raises(ValueError) as ve:
        restconf.make_rest_conf(SECRET + "é")
    record(str(ve.value))
    record(caplog.text)
    assert len(seen) > 15
    for text in seen:
        assert SECRET not in text
    assert "***@127.0.0.1:1" in outcomes[-1]["error"]["message"]


# --------------------------------------------------------------------------- rest.conf


def test_rest_conf_accepted_by_standin_and_checked():
    conf = restconf.make_rest_conf("s3cret!")
    fields = restconf.parse_rest_conf(conf)
    assert fields["username"] == "xpumadmin" and fields["disable_auth"] is False
    assert re.fullmatch(r"[A-Za-z0-9]{12}", fields["salt"])
    assert fields["password_hash"] == upstream_hash("s3cret!", fields["salt"])
    assert restconf.hash_password("s3cret!", fields["salt"]) == fields["password_hash"]
    assert restconf.check_password(conf, "xpumadmin", "s3cret!") is True
    assert restconf.check_password(conf, "xpumadmin", "s3cret") is False
    assert restconf.check_password(conf, "root", "s3cret!") is False
    assert restconf.check_password("garbage", "xpumadmin", "s3cret!") is False
    assert restconf.parse_rest_conf(restconf.make_rest_conf("x"))["salt"] != fields["salt"]
    with Xpum1Rest(tls=False, rest_conf_text=conf) as srv:
        r = gather(url=srv.url, env={"XPU_MANAGER_PASSWORD": "s3cret!"})
        assert r["error"] is None and srv.failed_logins == 0 and srv.auth_ok >= 1
    custom = restconf.make_rest_conf("pw", username="ops", salt="abcdefABCDEF")
    assert custom == (
        f"[default]\nusername = ops\nsalt = abcdefABCDEF\npassword = {upstream_hash('pw', 'abcdefABCDEF')}\n"
    )
    assert restconf.check_password(standin_rest_conf(disable_auth=True), "any", "thing") is True


@pytest.mark.parametrize(
    "kw",
    [
        {"password": ""},
        {"password": "pé"},
        {"password": "p", "username": "a\nb"},
        {"password": "p", "salt": "%x"},
    ],
)
def test_rest_conf_refuses_unusable_input(kw):
    with pytest.raises(ValueError) as e:
        restconf.make_rest_conf(**kw)
    assert "pé" not in str(e.value)


def test_restconf_is_stdlib_only():
    src = (ROOT / "checks" / "restconf.py").read_text()
    imports = set(re.findall(r"^(?:from|import) (\w+)", src, re.M))
    assert imports <= {"__future__", "configparser", "hashlib", "hmac", "secrets", "string"}
    assert os.path.basename(restconf.__file__) == "restconf.py"


# --------------------------------------------------------------------------- the stdlib transport


class _KeepAlive:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 counting connections and recording request headers.
    ``idle`` (s): it drops a connection idle that long (as gunicorn does after 2 s)."""

    def __init__(self, idle=5.0):
        import http.server
        import threading

        owner = self
        self.connections, self.headers, self.paths = 0, [], []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle

            def setup(self):
                owner.connections += 1
                super().setup()

            def log_message(self, *a):
                pass

            def do_GET(self):
                owner.headers.append(dict(self.headers))
                owner.paths.append(self.path)
                if self.path == "/moved":
                    return self.answer(302, b"", {"Location": "/healtz"})
                self.answer(200, b"healthy")

            def answer(self, status, body, headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_keep_alive_reuse_stale_connection_redirect_and_user_agent():
    from concurrent.futures import ThreadPoolExecutor

    with _KeepAlive(idle=0.3) as srv, XpumClient(srv.url, password="pw") as c:
        for _ in range(3):
            assert c._get("/healtz").text == "healthy"
        assert srv.connections == 1  # the precheck's socket carried all three
        time.sleep(0.6)  # the server dropped the idle connection meanwhile
        assert c._get("/healtz").status_code == 200 and srv.connections == 2
        with ThreadPoolExecutor(8) as pool:  # concurrent requests: one connection each, never shared
            texts = list(pool.map(lambda _: c._get("/healtz").text, range(32)))
        assert texts == ["healthy"] * 32 and srv.connections <= 2 + 8
        before = srv.connections
        assert [c._get("/healtz").status_code for _ in range(5)] == [200] * 5
        assert srv.connections == before  # kept alive, from the pool
        r = c._get("/moved")
        assert r.status_code == 302 and srv.paths[-1] == "/moved"  # not followed
    assert {h["User-Agent"] for h in srv.headers} == {"xpu-ops"}
    assert all(h["Authorization"].startswith("Basic ") for h in srv.headers)


def test_proxy_variables_are_ignored():
    """Like httpx with trust_env=False: an HTTP(S)_PROXY in the environment is not used."""
    with _KeepAlive() as srv:
        code = f"import checks.xpum as x\nc = x.XpumClient({srv.url!r})\nprint(c._get('/healtz').text)\n"
        proxy = closed_url("http")
        env = {**os.environ, "HTTP_PROXY": proxy, "http_proxy": proxy, "HTTPS_PROXY": proxy, "ALL_PROXY": proxy}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30,
                             env=env, check=True)
    assert out.stdout.strip() == "healthy" and srv.paths == ["/healtz"]


# --------------------------------------------------------------------------- one connection-settings object


def test_connection_settings_flag_then_env(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    cred = tmp_path / "cred"
    cred.write_text("bob:from-file\n")
    env = {"XPU_MANAGER_URL": "http://e:1", "XPU_MANAGER_CA_FILE": str(ca), "XPU_MANAGER_INSECURE": "1",
           "XPU_MANAGER_TIMEOUT": "7", "XPU_MANAGER_CREDENTIALS_FILE": str(cred), "XPU_MANAGER_PASSWORD": "env-pw"}
    s = xpum.ConnectionSettings.resolve(env)
    assert (s.urls, s.explicit, s.ca_file, s.insecure, s.timeout) == (["http://e:1"], True, str(ca), True, 7.0)
    assert (s.user, s.password, s.credentials_source) == ("bob", "from-file", "file")
    assert set(s.sources.values()) == {"XPU_MANAGER_URL", "XPU_MANAGER_CA_FILE", "XPU_MANAGER_INSECURE",
                                       "XPU_MANAGER_TIMEOUT", "XPU_MANAGER_CREDENTIALS_FILE"}
    f = xpum.ConnectionSettings.resolve(env, url="https://f:2", ca_file=str(cred), timeout=0.5,
                                        credentials_file=None, insecure=True)
    assert (f.urls, f.ca_file, f.timeout, f.sources["url"], f.sources["timeout"]) == (
        ["https://f:2"], str(cred), 0.5, "--xpum-url", "--timeout")
    d = xpum.ConnectionSettings.resolve({"XPU_MANAGER_PASSWORD": "Zq-pw-77", "XPU_MANAGER_TIMEOUT": " "})
    assert (d.urls, d.explicit, d.insecure, d.timeout, d.user, d.credentials_source) == (
        xpum.DEFAULT_URLS, False, False, 3.0, "xpumadmin", "env")
    assert "Zq-pw-77" not in repr(d) and "from-file" not in repr(s) and "from-file" not in str(vars(s))
