"""xpu_ops.monitor (and checks.xpum's overview/gpu_state/connect) against the 1.x and 2.x stand-ins over
real HTTP(S) on 127.0.0.1: shapes, units, health, tiles, vanishing GPUs, slow/failing upstream, the cache."""

import json
import threading
import time

import pytest

from checks import xpum
from xpu_ops import monitor as M
from xpu_ops.monitor import (
    ConfigError,
    GPUNotFound,
    InvalidDeviceId,
    Settings,
    XPUManagerUnavailable,
    XPUMonitorService,
    get_xpu_monitor_service,
    pytorch_gpu,
    reset_xpu_monitor_service,
)
from tests.support.monitor_helpers import (
    CONTRACT_METRICS,
    FAKE_PROBE,
    MIB,
    SAMPLE,
    FakeClock,
    monitor_for,
    per_gpu_hits,
    three_gpus,
)
from tests.support.xpum_standins import (
    DEFAULT_PASSWORD,
    Xpum1Rest,
    Xpum2Exporter,
    arc_a770,
    closed_url,
    flex_170,
    max_1550,
)

# --------------------------------------------------------------------------- 1.x: shapes, units, health


def test_status_1x_several_gpus_shapes_and_units():
    with Xpum1Rest(gpus=three_gpus()) as srv:
        st = monitor_for(srv).get_status()
    assert set(st) == {"pytorch_gpu", "xpu_manager", "telemetry", "timestamp"}
    x = st["xpu_manager"]
    assert x["available"] is True and x["reason"] is None
    assert (x["line"], x["version"], x["url"]) == ("1.x", "1.2.41", srv.url)
    assert [g["device_id"] for g in x["gpus"]] == [0, 1, 2]
    arc, mx, flex = x["gpus"]
    assert arc["device_name"] == "Intel(R) Arc(TM) A770 Graphics" and arc["pci_bdf_address"] == "0000:03:00.0"
    assert set(arc) == {"device_id", "device_name", "pci_bdf_address", "health", "metrics", "reason", "source"}
    m = arc["metrics"]
    assert CONTRACT_METRICS <= set(m)
    assert m["gpu_utilization"] == 12.5  # %
    assert m["memory_used"] == 1024.0 and m["memory_total"] == 16384.0  # MiB (1 GiB of 16 GiB)
    assert m["temperature"] == 45.0 and m["power_usage"] == 35.5  # C, W
    assert m["memory_temperature"] is None  # Arc: no sensor, reported as null, not invented
    assert m["frequency"] == 2400.0  # MHz
    # /stats ENERGY is the energy since the previous /stats query (mJ -> J), not a counter: energy_interval
    assert m["energy"] is None and m["energy_interval"] == pytest.approx(1234.567)
    assert m["tiles"] == []
    assert (arc["health"]["status"], mx["health"]["status"], flex["health"]["status"]) == (
        "warning", "healthy", "critical")
    assert arc["health"]["components"]["power"] == {"status": "Warning",
                                                    "description": "The power is in warning state."}
    assert flex["health"]["components"]["memory"]["status"] == "Warning"
    assert (flex["health"]["temperature"], flex["health"]["power_usage"]) == (52.0, 78.0)
    assert flex["metrics"]["memory_temperature"] == 48.0
    assert st["pytorch_gpu"] == {"available": True, "device": "xpu:0", "count": 1,
                                 "names": ["Intel(R) Arc(TM) A770 Graphics"], "intel_extension": False,
                                 "torch_version": "2.7.0+xpu", "ipex_version": None, "reason": None}
    assert st["timestamp"].endswith("+00:00")


def test_multi_tile_metrics_from_tiles():
    with Xpum1Rest(gpus=[max_1550()], tls=False) as srv:
        m = monitor_for(srv).get_gpu_metrics(0)
    assert [t["tile_id"] for t in m["tiles"]] == [0, 1]
    assert m["power_usage"] == 63.26  # device level has it
    assert m["gpu_utilization"] == 50.0  # mean of the tiles' 100 and 0
    assert m["memory_used"] == pytest.approx((8501719040 + 148901888) / MIB)  # sum
    assert (m["temperature"], m["memory_temperature"]) == (37.0, 38.0)  # max
    assert m["memory_total"] == 128 * 1024.0
    assert m["tiles"][1] == {"tile_id": 1, "gpu_utilization": 0.0, "memory_used": pytest.approx(142.00390625),
                             "temperature": 37.0, "power_usage": 8.78, "memory_utilization": None,
                             "memory_temperature": 35.0, "frequency": 300.0, "energy": None,
                             "energy_interval": pytest.approx(2243.484)}


def test_upstream_stats_sample_units():
    """The verbatim upstream /stats sample -> our metrics: W, J, MHz, C, MiB, %."""
    sample = json.loads(SAMPLE.read_text())
    with Xpum1Rest(gpus=[max_1550(raw_stats=sample)]) as srv:
        mon = monitor_for(srv)
        body = mon.get_gpu_status(0)
        health = mon.get_gpu_health(0)
    m = body["metrics"]
    assert m["power_usage"] == 63.26  # W, device level "value"
    assert m["energy_interval"] == pytest.approx(16169.744) and m["energy"] is None  # 16169744 mJ
    assert m["memory_used"] == pytest.approx(8249.875)  # (8501719040 + 148901888) B / MiB
    assert m["memory_total"] == 131072.0  # 128 GiB
    assert m["gpu_utilization"] == 50.0
    assert m["temperature"] == 37.0 and m["memory_temperature"] == 38.0
    assert m["frequency"] == 350.0
    assert m["memory_utilization"] is None
    t0, t1 = m["tiles"]
    assert t0["memory_used"] == pytest.approx(8107.87109375) and t1["memory_used"] == pytest.approx(142.00390625)
    assert (t0["frequency"], t1["frequency"]) == (400.0, 300.0)
    assert t0["energy_interval"] == pytest.approx(6159.791)
    assert body["health"] == health
    assert (health["status"], health["temperature"], health["power_usage"]) == ("healthy", 37.0, 63.26)
    assert set(body) == {"device_id", "health", "metrics", "timestamp", "source"}


def test_counters_value_only_entries():
    """1.x counters (ENERGY, RAS_*) carry only "value": energy is read (mJ -> J), RAS counters ignored."""
    gpu = flex_170()
    gpu.stats["XPUM_STATS_RAS_ERROR_CAT_RESET"] = 3
    with Xpum1Rest(gpus=[gpu], tls=False) as srv:
        m = monitor_for(srv).get_gpu_metrics(0)
    assert m["energy_interval"] == pytest.approx(9876.543)
    assert set(m) == set(M.METRIC_KEYS) | {"tiles"}


def test_unknown_health_everywhere():
    unknown = {c: "Unknown" for c in ("core_temperature", "memory_temperature", "power", "memory", "frequency")}
    with Xpum1Rest(gpus=[flex_170(health=unknown)], tls=False) as srv:
        assert monitor_for(srv).get_gpu_health(0)["status"] == "unknown"


# --------------------------------------------------------------------------- 2.x exporter


def test_status_2x_ids_by_bdf_health_units_tiles():
    gpus = [max_1550(), flex_170(hw_status={"gpu": "ok", "memory": "warning"}), arc_a770(health={"power": "Critical"})]
    with Xpum2Exporter(gpus=gpus) as srv:
        mon = monitor_for(srv)
        st = mon.get_status()
        listed = mon.get_gpu_list()
        assert [(g["device_id"], g["pci_bdf_address"]) for g in listed] == [
            (g["device_id"], g["pci_bdf_address"]) for g in st["xpu_manager"]["gpus"]]
        hits = srv.hits["/metrics"]
        mon.get_gpu_metrics(2)
        assert srv.hits["/metrics"] == hits  # served from the status round
    x = st["xpu_manager"]
    assert x["line"] == "2.x" and x["available"] is True
    assert [(g["device_id"], g["pci_bdf_address"]) for g in x["gpus"]] == [
        (0, "0000:03:00.0"), (1, "0000:29:00.0"), (2, "0000:4d:00.0")]  # BDF order, not the exporter's
    arc, mx, flex = x["gpus"]
    assert arc["health"]["status"] == "critical" and flex["health"]["status"] == "warning"
    assert flex["health"]["components"]["memory"]["status"] == "warning"
    assert mx["health"]["status"] == "healthy"
    assert arc["metrics"]["gpu_utilization"] == pytest.approx(12.5)  # ratio 0.125 -> %
    assert arc["metrics"]["frequency"] == pytest.approx(2400.0)  # Hz -> MHz
    assert arc["metrics"]["memory_used"] == 1024.0 and arc["metrics"]["memory_total"] == 16384.0  # B -> MiB
    assert arc["metrics"]["energy"] == pytest.approx(1234.567)  # J
    assert arc["metrics"]["memory_temperature"] is None
    assert [t["tile_id"] for t in mx["metrics"]["tiles"]] == [0, 1]
    assert mx["metrics"]["gpu_utilization"] == 50.0 and mx["metrics"]["memory_temperature"] == 38.0


def test_2x_gpu_vanishes_after_list():
    with Xpum2Exporter(gpus=[arc_a770(), flex_170()]) as srv:
        mon = monitor_for(srv, clock=FakeClock())
        assert [g["device_id"] for g in mon.get_gpu_list()] == [0, 1]
        srv.vanish(1)
        with pytest.raises(GPUNotFound) as e:
            mon.get_gpu_metrics(1)
        assert "vanished" in str(e.value)
        assert mon.get_gpu_metrics(0)["temperature"] == 45.0


# --------------------------------------------------------------------------- vanishing, unknown ids


def test_gpu_vanishing_between_list_and_stats_in_status():
    with Xpum1Rest(gpus=[arc_a770(), max_1550(vanish_after_list=True)], tls=False) as srv:
        mon = monitor_for(srv)
        gpus = mon.get_status()["xpu_manager"]["gpus"]
        assert gpus[0]["reason"] is None and gpus[0]["health"]["status"] == "healthy"
        gone = gpus[1]
        assert "GPU 1 not found" in gone["reason"]
        assert gone["health"] == {"status": "unknown", "temperature": None, "power_usage": None, "components": {}}
        assert all(v is None for k, v in gone["metrics"].items() if k != "tiles")
        with pytest.raises(GPUNotFound) as e:
            mon.get_gpu_metrics(1)
        assert e.value.device_id == 1


def test_gpu_vanishing_between_list_and_stats_per_device():
    with Xpum1Rest(gpus=[arc_a770(), max_1550()], tls=False) as srv:
        mon = monitor_for(srv, clock=FakeClock())
        assert len(mon.get_gpu_list()) == 2  # cached list: GPU 1 is known
        srv.vanish(1)
        with pytest.raises(GPUNotFound) as e:
            mon.get_gpu_metrics(1)
        assert "vanished" in str(e.value) and e.value.known == [0]
        with pytest.raises(GPUNotFound) as e:
            mon.get_gpu_health(1)
        assert e.value.known == [0]  # the list was asked again


def test_unknown_and_invalid_ids():
    with Xpum1Rest(gpus=[arc_a770()], tls=False) as srv:
        mon = monitor_for(srv)
        with pytest.raises(GPUNotFound) as e:
            mon.get_gpu_metrics(5)
        assert str(e.value) == "GPU 5 not found (XPU Manager lists GPU ids: 0)"
        assert srv.hits["/rest/v1/devices/5/stats"] == 0  # decided from the list
        for bad in (-1, "0", 1.0, True, None):
            with pytest.raises(InvalidDeviceId):
                mon.get_gpu_metrics(bad)


# --------------------------------------------------------------------------- slow and failing upstream


def test_slow_upstream_per_gpu_requests_concurrent():
    gpus = [flex_170(bdf=f"0000:{b:02x}:00.0") for b in (0x10, 0x20, 0x30, 0x40)]
    with Xpum1Rest(gpus=gpus, tls=False, delay=0.2) as srv:
        t = time.monotonic()
        st = monitor_for(srv).get_status()
        took = time.monotonic() - t
    # version, devices, then 12 per-GPU requests at once: 3 x 0.2 s; one after the other: 14 x 0.2 s
    assert st["xpu_manager"]["available"] and len(st["xpu_manager"]["gpus"]) == 4
    assert took < 1.6, took


def test_failing_upstream_500():
    with Xpum1Rest(tls=False, force_status=500) as srv:
        mon = monitor_for(srv)
        st = mon.get_status()
        assert st["xpu_manager"]["available"] is False and st["xpu_manager"]["gpus"] == []
        assert "HTTP 500" in st["xpu_manager"]["reason"] and "systemctl status xpum" in st["xpu_manager"]["reason"]
        assert st["pytorch_gpu"]["device"] == "xpu:0"  # the PyTorch part still answers
        with pytest.raises(XPUManagerUnavailable) as e:
            mon.get_gpu_metrics(0)
        assert e.value.kind == "http"
        assert mon.available is False and "HTTP 500" in mon.reason


def test_failing_mid_life_then_recovering_reconnects():
    clock = FakeClock()
    with Xpum1Rest(tls=False) as srv:
        mon = monitor_for(srv, clock=clock)
        assert mon.get_status()["xpu_manager"]["available"]
        srv.force_status = 500
        clock.advance(2.0)
        st = mon.get_manager_status()
        assert st["available"] is False and "HTTP 500 from" in st["reason"]
        srv.force_status = None
        clock.advance(2.0)
        assert mon.get_manager_status()["available"] is True
        assert srv.hits["/rest/v1/version"] == 2  # the failed client was dropped, a new one detected
        assert mon.connects == 2


def test_hanging_upstream_bounded_and_failure_cached():
    with Xpum1Rest(hang=True, hang_seconds=10) as srv:
        mon = monitor_for(srv, XPU_MANAGER_TIMEOUT="0.3")
        t = time.monotonic()
        st = mon.get_status()
        took = time.monotonic() - t
        assert took < 2.0, took
        assert st["xpu_manager"]["available"] is False
        assert st["xpu_manager"]["reason"] == f"no answer from {srv.url}/rest/v1/version within 0.3 s"
        hits = sum(srv.hits.values())
        t = time.monotonic()
        for _ in range(5):
            assert mon.get_status()["xpu_manager"]["available"] is False
            assert mon.available is False
        assert time.monotonic() - t < 0.5  # the failure is cached: no request waits again
        assert sum(srv.hits.values()) == hits


def test_hang_after_list_marks_gpus_not_service():
    clock = FakeClock()
    with Xpum1Rest(gpus=[arc_a770()], tls=False, hang_seconds=10) as srv:
        mon = monitor_for(srv, clock=clock, XPU_MANAGER_TIMEOUT="0.3")
        assert mon.get_gpu_list()
        srv.hang = True
        clock.advance(5)
        with pytest.raises(XPUManagerUnavailable) as e:
            mon.get_gpu_metrics(0)
        assert e.value.kind == "timeout"
        srv.hang = False


def test_refused():
    url = closed_url("http")
    mon = XPUMonitorService(settings=Settings.from_env({"XPU_MANAGER_URL": url}), torch_probe=lambda: FAKE_PROBE)
    st = mon.get_status()
    assert st["xpu_manager"]["available"] is False
    assert "connection refused" in st["xpu_manager"]["reason"]
    assert mon.available is False and mon.manager_info()["url"] == url


def test_refused_everywhere_names_every_default_url(monkeypatch):
    urls = [closed_url("https"), closed_url("http")]
    monkeypatch.setattr(xpum.settings, "DEFAULT_URLS", urls)
    mon = XPUMonitorService(settings=Settings.from_env({}), torch_probe=lambda: FAKE_PROBE)
    reason = mon.get_manager_status()["reason"]
    assert reason.startswith(f"no XPU Manager answers at {urls[0]}, {urls[1]} (connection refused)")
    assert "XPU_MANAGER_URL" in reason


# --------------------------------------------------------------------------- the cache


def test_polls_in_one_interval_cost_one_upstream_round():
    clock = FakeClock()
    with Xpum1Rest(gpus=three_gpus()) as srv:
        mon = monitor_for(srv, clock=clock)
        for _ in range(20):
            mon.get_status()
            for i in range(3):
                mon.get_gpu_metrics(i)
                mon.get_gpu_health(i)
            mon.get_gpu_list()
            assert mon.available
        assert srv.hits["/rest/v1/version"] == 1
        assert srv.hits["/rest/v1/devices"] == 1
        assert all(per_gpu_hits(srv, i) == [1, 1, 1] for i in range(3))
        clock.advance(1.9)
        mon.get_status()
        assert srv.hits["/rest/v1/devices"] == 1
        clock.advance(0.1)  # the 2 s default interval is over
        mon.get_status()
        # health and stats again; /devices/2 (the memory size) is static and known
        assert srv.hits["/rest/v1/devices"] == 2 and per_gpu_hits(srv, 2) == [2, 2, 1]
        assert srv.hits["/rest/v1/version"] == 1  # the connection is kept


def test_per_device_polling_asks_only_for_that_gpu():
    with Xpum1Rest(gpus=three_gpus(), tls=False) as srv:
        mon = monitor_for(srv, clock=FakeClock())
        for _ in range(10):
            mon.get_gpu_metrics(1)
            mon.get_gpu_health(1)
        assert srv.hits["/rest/v1/devices"] == 1
        assert per_gpu_hits(srv, 1) == [1, 1, 1]
        assert per_gpu_hits(srv, 0) == [0, 0, 0] and per_gpu_hits(srv, 2) == [0, 0, 0]


def test_concurrent_polls_share_one_round():
    with Xpum1Rest(gpus=three_gpus(), tls=False, delay=0.1) as srv:
        mon = monitor_for(srv, clock=FakeClock())
        results = []
        threads = [threading.Thread(target=lambda: results.append(mon.get_status())) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(results) == 16 and all(r["xpu_manager"]["available"] for r in results)
        assert srv.hits["/rest/v1/devices"] == 1 and srv.hits["/rest/v1/version"] == 1


def test_cache_seconds_configurable_zero_means_every_call():
    with Xpum1Rest(gpus=[arc_a770()], tls=False) as srv:
        mon = monitor_for(srv, XPU_OPS_CACHE_SECONDS="0")
        for _ in range(3):
            mon.get_status()
        assert srv.hits["/rest/v1/devices"] == 3


def test_results_are_copies():
    with Xpum1Rest(gpus=[arc_a770()], tls=False) as srv:
        mon = monitor_for(srv, clock=FakeClock())
        mon.get_gpu_metrics(0)["temperature"] = -1
        mon.get_status()["xpu_manager"]["gpus"][0]["metrics"]["temperature"] = -1
        assert mon.get_gpu_metrics(0)["temperature"] == 45.0


# --------------------------------------------------------------------------- auth, TLS, configuration


def test_wrong_password_one_failed_login_ever():
    clock = FakeClock()
    with Xpum1Rest(gpus=three_gpus()) as srv:
        mon = monitor_for(srv, clock=clock, XPU_MANAGER_PASSWORD="wrong-Passw0rd")
        for _ in range(4):
            st = mon.get_status()
            with pytest.raises(XPUManagerUnavailable):
                mon.get_gpu_metrics(0)
            clock.advance(3)
        assert srv.failed_logins == 1
        reason = st["xpu_manager"]["reason"]
        assert "401" in reason and "not retried" in reason and "restart" in reason
        assert "wrong-Passw0rd" not in json.dumps(st) and DEFAULT_PASSWORD not in json.dumps(st)


def test_a_401_is_retried_once_after_a_long_back_off():
    """F22: a transient 401 (rest.conf rewritten at start-up) must not need a restart: one more login after
    AUTH_RETRY_SECONDS, none before."""
    from tests.support import xpum_standins as xs
    from xpu_ops.monitor import AUTH_RETRY_SECONDS

    clock = FakeClock()
    with Xpum1Rest(gpus=three_gpus(), rest_conf_text=xs.standin_rest_conf(password="not-yet")) as srv:
        mon = monitor_for(srv, clock=clock, XPU_MANAGER_PASSWORD=DEFAULT_PASSWORD)
        assert mon.get_status()["xpu_manager"]["available"] is False and srv.failed_logins == 1
        srv._conf = xs._read_rest_conf(xs.standin_rest_conf())  # the right password now
        clock.advance(AUTH_RETRY_SECONDS - 5)
        assert mon.get_status()["xpu_manager"]["available"] is False and srv.auth_ok == 0
        clock.advance(10)
        st = mon.get_status()
        assert st["xpu_manager"]["available"] is True and len(st["xpu_manager"]["gpus"]) == 3
        assert srv.failed_logins == 1


def test_health_answers_from_the_last_state_while_a_ping_waits_on_a_slow_upstream():
    """F5: /api/v1/health (manager_info) must not wait for an upstream that answers slowly once a state is known."""
    import threading

    clock = FakeClock()
    with Xpum1Rest(gpus=three_gpus()) as srv:
        mon = monitor_for(srv, clock=clock)
        assert mon.manager_info()["available"] is True
        srv.delay = 1.5
        clock.advance(10)
        first = threading.Thread(target=mon.manager_info)
        first.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        info = mon.manager_info()
        waited = time.monotonic() - t0
        first.join(10)
    assert info["available"] is True and waited < 0.5, waited


def test_tls_untrusted_names_the_env_variables():
    with Xpum1Rest() as srv:
        mon = XPUMonitorService(settings=Settings.from_env({"XPU_MANAGER_URL": srv.url}),
                                torch_probe=lambda: FAKE_PROBE)
        reason = mon.get_manager_status()["reason"]
    assert "not trusted" in reason and "XPU_MANAGER_CA_FILE" in reason and "XPU_MANAGER_INSECURE=1" in reason


def test_insecure_and_credentials_file(tmp_path):
    creds = tmp_path / "creds"
    creds.write_text(f"XPU_MANAGER_USER=xpumadmin\nXPU_MANAGER_PASSWORD={DEFAULT_PASSWORD}\n")
    with Xpum1Rest(gpus=[arc_a770()]) as srv:
        env = {"XPU_MANAGER_URL": srv.url, "XPU_MANAGER_INSECURE": "1", "XPU_MANAGER_CREDENTIALS_FILE": str(creds)}
        mon = XPUMonitorService(settings=Settings.from_env(env), torch_probe=lambda: FAKE_PROBE)
        assert mon.get_gpu_metrics(0)["temperature"] == 45.0
        assert srv.failed_logins == 0


@pytest.mark.parametrize("env,message", [
    ({"XPU_MANAGER_URL": "localhost:30000"}, "no scheme"),
    ({"XPU_MANAGER_URL": "https://u:pw@h:1"}, "credentials do not belong in the URL"),
    ({"XPU_MANAGER_INSECURE": "maybe"}, "XPU_MANAGER_INSECURE='maybe' is not a boolean"),
    ({"XPU_OPS_CACHE_SECONDS": "soon"}, "XPU_OPS_CACHE_SECONDS='soon' is not a number"),
    ({"XPU_OPS_CACHE_SECONDS": "-1"}, "must be a number >= 0"),
    ({"XPU_MANAGER_TIMEOUT": "nan"}, "XPU_MANAGER_TIMEOUT='nan' must be"),
    ({"XPU_MANAGER_CA_FILE": "/nonexistent/ca.pem"}, "CA file /nonexistent/ca.pem does not exist"),
    ({"XPU_MANAGER_CREDENTIALS_FILE": "/nonexistent/creds"}, "cannot read credentials file /nonexistent/creds"),
])
def test_config_errors(env, message):
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env)
    assert message in str(e.value)
    assert "pw" not in str(e.value).replace("password", "")
    mon = XPUMonitorService(env=env, torch_probe=lambda: FAKE_PROBE)  # a service reports it, does not crash
    assert mon.available is False and message in mon.reason
    st = mon.get_status()
    assert st["xpu_manager"]["available"] is False and message in st["xpu_manager"]["reason"]
    with pytest.raises(XPUManagerUnavailable) as e:
        mon.get_gpu_metrics(0)
    assert e.value.kind == "config"


def test_settings_defaults_and_repr():
    s = Settings.from_env({"XPU_MANAGER_PASSWORD": DEFAULT_PASSWORD})
    assert s.urls == xpum.DEFAULT_URLS and s.user == "xpumadmin" and s.password == DEFAULT_PASSWORD
    assert (s.timeout, s.cache_seconds, s.torch_timeout, s.torch_cache_seconds) == (3.0, 2.0, 60.0, 300.0)
    assert DEFAULT_PASSWORD not in repr(s) and DEFAULT_PASSWORD not in repr(XPUMonitorService(settings=s))
    assert DEFAULT_PASSWORD not in str(vars(s))


def test_shared_instance_honours_env(monkeypatch):
    with Xpum1Rest(gpus=[arc_a770()], tls=False) as srv:
        monkeypatch.setenv("XPU_MANAGER_URL", srv.url)
        monkeypatch.setenv("XPU_MANAGER_PASSWORD", DEFAULT_PASSWORD)
        reset_xpu_monitor_service()
        try:
            a = get_xpu_monitor_service()
            assert a is get_xpu_monitor_service()
            assert a.available is True and a.url == srv.url and a.line == "1.x"
            assert a.get_gpu_list()[0]["device_name"] == "Intel(R) Arc(TM) A770 Graphics"
        finally:
            reset_xpu_monitor_service()
        assert get_xpu_monitor_service() is not a
        reset_xpu_monitor_service()


def test_gpu_list_same_shape_from_list_or_status():
    with Xpum1Rest(gpus=three_gpus(), tls=False) as srv:
        a = monitor_for(srv).get_gpu_list()
        mon = monitor_for(srv, clock=FakeClock())
        mon.get_status()
        b = mon.get_gpu_list()
    assert a == b
    assert {"device_id", "device_name", "pci_bdf_address", "pci_device_id", "uuid"} <= set(a[0])


# --------------------------------------------------------------------------- PyTorch


@pytest.mark.parametrize("probe,expect", [
    (FAKE_PROBE, {"available": True, "device": "xpu:0", "count": 1, "intel_extension": False, "reason": None}),
    (dict(FAKE_PROBE, tensor_op=False, tensor_error="RuntimeError: UR error"),
     {"available": True, "device": "cpu", "reason": "a tensor op on xpu:0 failed: RuntimeError: UR error"}),
    (dict(FAKE_PROBE, ipex_version="2.7.10+xpu", ipex_matches=True, ipex_import=True),
     {"intel_extension": True, "ipex_version": "2.7.10+xpu"}),
    (dict(FAKE_PROBE, ipex_version="2.3.110+xpu", ipex_matches=False), {"intel_extension": False}),
    (dict(FAKE_PROBE, ipex_version="2.7.10+xpu", ipex_matches=True, ipex_import=False), {"intel_extension": False}),
    (dict(FAKE_PROBE, available=False, count=0, names=[], torch_xpu_build=None, torch="2.13.0+cpu"),
     {"available": False, "device": "cpu", "count": 0, "names": [],
      "reason": "torch 2.13.0+cpu has no XPU support (a CPU build)"}),
    (dict(FAKE_PROBE, available=False, count=0, names=[]),
     {"device": "cpu", "reason": "torch.xpu.is_available() is False"}),
    ({"outcome": "ok", "python": "/p", "torch": None, "ipex_version": None},
     {"device": "cpu", "torch_version": None, "reason": "PyTorch is not installed in /p"}),
    ({"outcome": "timeout", "python": "/p", "reason": "the PyTorch probe did not finish within 60 s"},
     {"available": False, "device": "cpu", "reason": "the PyTorch probe did not finish within 60 s"}),
])
def test_pytorch_gpu_mapping(probe, expect):
    got = pytorch_gpu(probe)
    assert set(got) == {"available", "device", "count", "names", "intel_extension", "torch_version",
                        "ipex_version", "reason"}
    assert {k: got[k] for k in expect} == expect


def test_real_torch_probe_is_the_checks_probe(monkeypatch):
    """pytorch_gpu comes from checks.torch_run's child process (CPU torch here: device cpu)."""
    from checks import torch_run

    started = []
    real_init = torch_run.TorchProbe.__init__

    def spy(self, python, timeout, env=None):
        started.append((python, timeout, env))
        real_init(self, python, timeout, env)

    monkeypatch.setattr(torch_run.TorchProbe, "__init__", spy)
    monkeypatch.setenv("XPU_MANAGER_PASSWORD", DEFAULT_PASSWORD)
    mon = XPUMonitorService(settings=Settings.from_env({"XPU_MANAGER_URL": closed_url()}))
    t = mon.get_pytorch_gpu()
    assert mon.get_pytorch_gpu() == t and len(started) == 1  # cached
    assert t["available"] is False and t["device"] == "cpu" and t["torch_version"].startswith("2.")
    assert t["intel_extension"] is False and "no XPU support" in t["reason"]
    assert "XPU_MANAGER_PASSWORD" not in started[0][2]  # the child does not get the password


# --------------------------------------------------------------------------- checks.xpum: the round primitives


def test_overview_requests_each_path_once_concurrently():
    with Xpum1Rest(gpus=three_gpus(), tls=False) as srv, xpum.XpumClient(srv.url, password=DEFAULT_PASSWORD) as c:
        gpus = c.overview()
        assert [g["device_id"] for g in gpus] == [0, 1, 2]
        assert all(g["error"] is None and g["health"] and g["metrics"] for g in gpus)
        assert srv.hits["/rest/v1/devices"] == 1 and all(per_gpu_hits(srv, i) == [1, 1, 1] for i in range(3))
        srv.reset_counters()
        st = c.gpu_state(2)
        assert st["health"]["status"] == "critical" and st["metrics"]["memory_total"] == 16384.0
        assert sum(srv.hits.values()) == 2  # /health and /stats; the memory size is known
        srv.vanish(2)
        with pytest.raises(xpum.XpumError) as e:
            c.gpu_state(2)
        assert e.value.kind == "notfound"


def test_gpu_state_wrong_password_costs_one_login():
    with Xpum1Rest(gpus=[arc_a770()], tls=False) as srv:
        with xpum.XpumClient(srv.url, password="wrong-Passw0rd") as c, pytest.raises(xpum.XpumError) as e:
            c.gpu_state(0)
        assert e.value.kind == "auth" and srv.failed_logins == 1


def test_connect_takes_the_first_that_answers():
    with Xpum2Exporter(gpus=[arc_a770()]) as srv:
        tried = []
        c = xpum.connect([closed_url("http"), srv.url], tried=tried)
        try:
            assert c.line == "2.x" and c.url == srv.url
        finally:
            c.close()
    assert [t["outcome"] for t in tried] == ["refused", "ok"]


def test_overview_later_rounds_are_one_wave_and_follow_the_list():
    gpus = [flex_170(bdf=f"0000:{b:02x}:00.0") for b in (0x10, 0x20, 0x30, 0x40)]
    with Xpum1Rest(gpus=gpus, tls=False, delay=0.3) as srv, xpum.XpumClient(srv.url, password=DEFAULT_PASSWORD) as c:
        c.overview()  # first round: the list, then the GPUs
        t = time.monotonic()
        assert len(c.overview()) == 4
        took = time.monotonic() - t
        assert took < 0.55, took  # the list and the 12 per-GPU requests in one wave of 0.3 s, not two
        srv.vanish(1)
        srv.gpus.append(arc_a770(bdf="0000:80:00.0"))
        srv.reset_counters()
        ov = c.overview()
    assert [g["device_id"] for g in ov] == [0, 2, 3, 4]
    assert all(g["error"] is None for g in ov) and ov[-1]["metrics"]["memory_temperature"] is None
    assert srv.hits["/rest/v1/devices/1/stats"] == 1  # asked with the list, dropped: no longer listed
    assert per_gpu_hits(srv, 4) == [1, 1, 1]  # new: fetched in a second wave
    assert per_gpu_hits(srv, 0) == [1, 1, 0]  # known: its memory size is not asked again


def test_other_gpu_under_a_known_id_is_asked_afresh():
    with Xpum1Rest(gpus=[arc_a770(), flex_170()], tls=False) as srv, \
            xpum.XpumClient(srv.url, password=DEFAULT_PASSWORD) as c:
        c.overview()
        srv.gpus[1] = max_1550(bdf="0000:9a:00.0")  # swapped: same id, another BDF
        srv.reset_counters()
        ov = c.overview()
    assert ov[1]["device_name"] == "Intel(R) Data Center GPU Max 1550"
    assert ov[1]["metrics"]["memory_total"] == 131072.0 and per_gpu_hits(srv, 1) == [2, 2, 1]


def test_per_device_polling_is_one_wave_once_the_list_is_known():
    clock = FakeClock()
    with Xpum1Rest(gpus=three_gpus(), tls=False) as srv:
        mon = monitor_for(srv, clock=clock)
        mon.get_gpu_metrics(1)
        srv.reset_counters()
        clock.advance(5)
        mon.get_gpu_metrics(1)
        assert srv.hits["/rest/v1/devices"] == 0 and per_gpu_hits(srv, 1) == [1, 1, 0]
        with pytest.raises(GPUNotFound):
            mon.get_gpu_metrics(3)  # not known: the list is asked again, once per interval
        with pytest.raises(GPUNotFound):
            mon.get_gpu_metrics(4)
        assert srv.hits["/rest/v1/devices"] == 1


def test_ttl_cache_single_flight_errors_cached_and_interrupts_reach_waiters():
    clock = FakeClock()
    cache = M.TTLCache(2.0, clock)
    calls = []

    def boom():
        calls.append(1)
        raise ValueError("down")

    for _ in range(3):
        with pytest.raises(ValueError):
            cache.get("k", boom)
    assert len(calls) == 1 and cache.peek("k") is None  # the failure is reused, but peek gives only successes
    clock.advance(2.0)
    assert cache.get("k", lambda: 42) == 42 and cache.peek("k") == 42

    started, release, got = threading.Event(), threading.Event(), []

    def interrupted():
        started.set()
        release.wait(5)
        raise KeyboardInterrupt

    def waiter():
        try:
            cache.get("i", lambda: 0)
        except KeyboardInterrupt:
            got.append("interrupt")

    owner = threading.Thread(target=lambda: _swallow(lambda: cache.get("i", interrupted)))
    owner.start()
    started.wait(5)
    w = threading.Thread(target=waiter)
    w.start()
    release.set()
    owner.join(5)
    w.join(5)
    assert got == ["interrupt"] and not w.is_alive()


def _swallow(fn):
    try:
        fn()
    except KeyboardInterrupt:
        pass
