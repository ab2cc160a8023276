"""Attacks and faults against the XPU Manager client on 127.0.0.1 (issue #11 items 4, 5, 7; security review F3, F5,
F6, F15, F21, F22). Each test performs the attack or fault, and fails on the client before these fixes."""

import json
import os
import time

import pytest

from checks.rules import xpum as rules
from checks.xpum import XpumClient, XpumError, gather
from checks.xpum.settings import ConnectionSettings
from tests.support.hostile_upstream import HostileUpstream
from tests.support.xpum_standins import DEFAULT_PASSWORD, Xpum1Rest, arc_a770, keytool_cert, max_1550

ENV = {"XPU_MANAGER_PASSWORD": DEFAULT_PASSWORD}


def default_candidate(url, password=DEFAULT_PASSWORD):
    """Settings as with no URL given: ``url`` stands for a default candidate the user did not name."""
    return ConnectionSettings(urls=[url], password=password, explicit=False, timeout=2)


def facts(x, installed=False):
    return {"platform": {"wsl2": False, "container": False, "_root": "/"}, "pci": {"gpus": [], "present": False},
            "services": {"binaries": {"/usr/bin/xpumd": installed}, "units": {}, "containers": {}}, "xpum": x}


# --------------------------------------------------------------------------- F3 / item 5: credentials where named


def test_no_credentials_in_clear_to_a_default_candidate():
    """A local user listens on a default port and answers like 1.x: the password never reaches it."""
    with Xpum1Rest(tls=False) as squatter:
        r = gather(settings=default_candidate(squatter.url))
        assert squatter.failed_logins == 0 and squatter.auth_ok == 0
        assert set(squatter.hits) == {"/rest/v1/version"}
    assert r["error"]["kind"] == "config" and f"export XPU_MANAGER_URL={squatter.url}" in r["error"]["message"]
    assert "not sent in clear" in r["error"]["message"]


def test_credentials_go_to_a_named_url():
    with Xpum1Rest(tls=False) as srv:
        r = gather(url=srv.url, env=ENV)
        assert srv.auth_ok > 0
    assert r["error"] is None and len(r["gpus"]) == 1


def test_a_dashboard_on_a_default_port_is_a_skip_when_xpu_manager_is_not_installed():
    with HostileUpstream("dashboard") as dash:
        r = gather(settings=default_candidate(dash.url, password=None))
    status, detail, _, _ = rules.xpum_api(facts(r))
    assert status == "skip" and "not installed" in detail and dash.url in detail
    status, _, _, _ = rules.xpum_api(facts(r, installed=True))
    assert status == "fail"  # installed: something else on its port is a real problem


# --------------------------------------------------------------------------- item 4: no login penalty, NO_AUTH


def test_credentials_less_run_never_calls_an_authenticated_route():
    with Xpum1Rest(tls=False) as srv:
        t0 = time.monotonic()
        r = gather(url=srv.url, env={})
        assert srv.failed_logins == 0 and set(srv.hits) == {"/rest/v1/version"}
        assert time.monotonic() - t0 < 1.5  # no 2 s login penalty
    status, detail, remedy, _ = rules.xpum_api(facts(r, installed=True))
    assert status == "warn" and "needs its user and password" in detail and "XPU_MANAGER_PASSWORD" in remedy
    assert rules.xpum_health(facts(r, installed=True))[0] == "skip"


def test_exporter_no_auth_is_recognised_and_metrics_read():
    """XPUM_EXPORTER_NO_AUTH=1: upstream never loads rest.conf, every REST route answers 500 (NameError), /metrics
    and /healtz are open (rest/xpum_rest_main.py, v1.3.x)."""
    with Xpum1Rest(tls=False, exporter_no_auth=True, gpus=[arc_a770(), max_1550()]) as srv:
        r = gather(url=srv.url, env=ENV)
        assert srv.failed_logins == 0
    assert r["error"] is None and [g["pci_bdf_address"] for g in r["gpus"]] == ["0000:03:00.0", "0000:29:00.0"]
    assert r["gpus"][0]["health"]["temperature"] is not None


def test_the_login_penalty_is_a_credentials_problem():
    """After one failed login (any client), the next sleeps 4 s, longer than the 3 s default timeout."""
    with Xpum1Rest(tls=False) as srv:
        srv.login_failure_count = 1
        with XpumClient(srv.url, password="not-the-password", timeout=3) as c, pytest.raises(XpumError) as e:
            c.list_gpus()
        assert srv.failed_logins == 1
    assert e.value.kind == "auth" and "wrong XPU Manager user or password" in str(e.value)


# --------------------------------------------------------------------------- F5, F6, F15: hostile answers


def test_a_trickling_answer_is_cut_at_the_deadline():
    with HostileUpstream("trickle", interval=0.2) as slow:
        t0 = time.monotonic()
        r = gather(url=slow.url, env=ENV, timeout=1)
        wall = time.monotonic() - t0
    assert r["error"]["kind"] in ("timeout", "auth") and wall < 7, (wall, r["error"])


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_answer_is_not_read(chunked):
    with HostileUpstream("huge", size=200 * 1024 * 1024, chunked=chunked) as big:
        r = gather(url=big.url, env=ENV, timeout=5)
        sent = big.sent
    assert r["error"]["kind"] == "protocol" and "more than 16 MiB" in r["error"]["message"]
    assert sent < 40 * 1024 * 1024


def test_echoed_authorization_header_is_scrubbed():
    with HostileUpstream("echo") as echo:
        r = gather(url=echo.url, env=ENV)
        assert any("Authorization" in h for _, h in echo.requests)  # named URL: credentials were sent
    import base64

    token = base64.b64encode(f"xpumadmin:{DEFAULT_PASSWORD}".encode()).decode()
    text = json.dumps(r)
    assert token not in text and DEFAULT_PASSWORD not in text and "Authorization: ***" in text


# --------------------------------------------------------------------------- item 7: upstream's certificate, keep-alive


def test_the_servers_own_keytool_certificate_is_a_pin(tmp_path):
    (tmp_path / "server").mkdir()
    (tmp_path / "other").mkdir()
    cert, key = keytool_cert(tmp_path / "server")
    other, _ = keytool_cert(tmp_path / "other")
    with Xpum1Rest(cert_pair=(cert, key)) as srv:
        r = gather(url=srv.url, env=ENV, ca_file=cert)
        assert r["error"] is None and len(r["gpus"]) == 1
        r = gather(url=srv.url, env=ENV, ca_file=other)
        assert srv.auth_ok > 0
    assert r["error"]["kind"] == "tls" and "accepted as a pin" in r["error"]["message"]
    status, _, remedy, _ = rules.xpum_api(facts(r, installed=True))
    assert status == "fail" and remedy.index("--ca-file") < remedy.index("--insecure")


def test_polls_across_the_keep_alive_close_all_succeed():
    """gunicorn closes an idle kept-alive connection after 2 s: polls at about that interval never fail."""
    with Xpum1Rest(tls=False) as srv, XpumClient(srv.url, password=DEFAULT_PASSWORD) as c:
        failures = []
        for pause in (1.9, 2.0, 2.05, 1.95):
            try:
                c.gpu_state(0)
            except XpumError as e:
                failures.append(str(e))
            time.sleep(pause)
        c.gpu_state(0)
    assert failures == []


def test_energy_is_never_a_falling_counter():
    with Xpum1Rest(tls=False, gpus=[max_1550()]) as srv, XpumClient(srv.url, password=DEFAULT_PASSWORD) as c:
        first = c.gpu_metrics(0)
        time.sleep(0.2)
        second = c.gpu_metrics(0)
    assert first["energy"] is None and second["energy"] is None  # 1.x /stats has no counter
    assert first["energy_interval"] == pytest.approx(16169.744)  # the first query: the configured 16169744 mJ
    assert 0 < second["energy_interval"] < first["energy_interval"]  # power x the time since the first query


# --------------------------------------------------------------------------- F22


def test_a_loose_credentials_file_is_warned(tmp_path):
    f = tmp_path / "creds"
    f.write_text(f"xpumadmin:{DEFAULT_PASSWORD}\n")
    os.chmod(f, 0o644)
    with Xpum1Rest(tls=False) as srv:
        r = gather(url=srv.url, env={}, credentials_file=str(f))
    status, detail, remedy, _ = rules.xpum_api(facts(r, installed=True))
    assert status == "warn" and "chmod 600" in detail and "(mode 0644)" in detail
    os.chmod(f, 0o600)
    with Xpum1Rest(tls=False) as srv:
        assert gather(url=srv.url, env={}, credentials_file=str(f))["notes"] == []


def test_a_systemd_credential_is_not_warned(tmp_path, monkeypatch):
    """systemd hands LoadCredential= files to the service as 0440 in $CREDENTIALS_DIRECTORY
    (deploy/xpu-ops-api.service):
    that private copy is not a loose file; the same mode elsewhere still is."""
    from checks.xpum.settings import loose_mode

    creds = tmp_path / "credentials"
    creds.mkdir()
    f = creds / "xpum"
    f.write_text(f"xpumadmin:{DEFAULT_PASSWORD}\n")
    os.chmod(f, 0o440)
    assert "readable by its group" in loose_mode(str(f))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert loose_mode(str(f)) is None
    other = tmp_path / "elsewhere"
    other.write_text("u:p\n")
    os.chmod(other, 0o440)
    assert "readable by its group" in loose_mode(str(other))
