"""xpum.api and xpum.health through `python -m checks`, against the XPU Manager stand-ins over real
HTTP(S) on 127.0.0.1 (tests/support/xpum_standins.py), on a host tree with the same GPU."""
from tests.support import hosttree as ht
import pytest
from tests.support import xpum_standins as xs

from tests.support.verify_run import assert_clean_error, check_of, run_json, run_verify

ONLY = "xpum.api,xpum.health"
PASSWORD = xs.DEFAULT_PASSWORD


@pytest.fixture()
def arc_root(tmp_path):
    root = tmp_path / "arc"
    ht.arc_a_i915(root)
    return root


def creds(password=PASSWORD, user=xs.DEFAULT_USER):
    return {"XPU_MANAGER_USER": user, "XPU_MANAGER_PASSWORD": password}


def verify(root, *args, env=None):
    r, rep = run_json("--root", root, "--only", ONLY, *args, env=env)
    assert PASSWORD not in r.stdout + r.stderr
    return r, rep


def test_1x_rest_over_tls_with_ca_file(arc_root):
    with xs.Xpum1Rest(gpus=[xs.arc_a770("0000:03:00.0")]) as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--ca-file", s.ca_file, env=creds())
    api, health = check_of(rep, "xpum.api"), check_of(rep, "xpum.health")
    assert api["status"] == "pass", api
    assert "XPU Manager 1.x at %s" % s.url in api["detail"]
    assert api["evidence"]["api_gpus"] == ["0000:03:00.0"]
    assert health["status"] == "pass", health
    assert r.returncode == 0
    assert s.hits["/rest/v1/version"] >= 1 and s.hits["/healtz"] == 1


def test_1x_credentials_from_a_file(arc_root, tmp_path):
    f = tmp_path / "xpum.cred"
    f.write_text("%s:%s\n" % (xs.DEFAULT_USER, PASSWORD))
    with xs.Xpum1Rest() as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--ca-file", s.ca_file, "--credentials-file", f)
    assert check_of(rep, "xpum.api")["evidence"]["credentials"] == "file"
    assert check_of(rep, "xpum.api")["status"] in ("pass", "warn")


def test_url_from_the_environment(arc_root):
    with xs.Xpum1Rest(gpus=[xs.arc_a770()]) as s:
        r, rep = verify(arc_root, "--ca-file", s.ca_file, env=dict(creds(), XPU_MANAGER_URL=s.url))
    api = check_of(rep, "xpum.api")
    assert api["status"] == "pass" and api["evidence"]["explicit"] is True


def test_self_signed_certificate_not_trusted(arc_root):
    with xs.Xpum1Rest() as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, env=creds())
    api = check_of(rep, "xpum.api")
    assert api["status"] == "fail" and r.returncode == 1
    assert "--ca-file" in api["remedy"] and "--insecure" in api["remedy"]
    assert check_of(rep, "xpum.health")["status"] == "skip"


def test_insecure_is_explicit(arc_root):
    with xs.Xpum1Rest(gpus=[xs.arc_a770()]) as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--insecure", env=creds())
    assert check_of(rep, "xpum.api")["status"] == "pass"


def test_wrong_password_is_not_retried_and_never_printed(arc_root):
    wrong = "wr0ng-Secret-123"
    with xs.Xpum1Rest() as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--ca-file", s.ca_file, env=creds(password=wrong))
        assert s.failed_logins == 1          # one attempt: the server delays each failed login 2^n s
    api = check_of(rep, "xpum.api")
    assert api["status"] == "fail" and "401" in api["detail"]
    assert "XPU_MANAGER_PASSWORD" in api["remedy"]
    text = run_verify("--root", arc_root, "--only", ONLY, "--xpum-url", s.url, env=creds(password=wrong))
    assert wrong not in r.stdout + r.stderr + text.stdout + text.stderr


def test_healtz_500_when_xpum_sees_no_device(arc_root):
    with xs.Xpum1Rest(gpus=[]) as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--ca-file", s.ca_file, env=creds())
    api = check_of(rep, "xpum.api")
    assert api["status"] == "fail" and "cannot get any devices" in api["detail"]
    assert check_of(rep, "xpum.health")["status"] == "fail"


@pytest.mark.parametrize("state,status", [("Warning", "warn"), ("Critical", "fail")])
def test_health_warning_and_critical(arc_root, state, status):
    gpu = xs.arc_a770(health={"core_temperature": state})
    with xs.Xpum1Rest(gpus=[gpu]) as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--ca-file", s.ca_file, env=creds())
    h = check_of(rep, "xpum.health")
    assert h["status"] == status, h
    assert "core_temperature %s" % state in h["detail"]


def test_2x_exporter(arc_root):
    gpu = xs.arc_a770(hw_status={"gpu": "warning"})
    with xs.Xpum2Exporter(gpus=[gpu]) as s:
        r, rep = verify(arc_root, "--xpum-url", s.url)
    api, h = check_of(rep, "xpum.api"), check_of(rep, "xpum.health")
    assert api["status"] == "pass" and "XPU Manager 2.x" in api["detail"]
    assert h["status"] == "warn"


def test_gpu_reported_by_api_but_not_on_the_bus(arc_root):
    with xs.Xpum1Rest(gpus=[xs.arc_a770("0000:03:00.0"), xs.flex_170("0000:4d:00.0")]) as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--ca-file", s.ca_file, env=creds())
    api = check_of(rep, "xpum.api")
    assert api["status"] == "warn" and "0000:4d:00.0" in api["detail"]


def test_explicit_url_refused(arc_root):
    r, rep = verify(arc_root, "--xpum-url", xs.closed_url("http"))
    api = check_of(rep, "xpum.api")
    assert api["status"] == "fail" and r.returncode == 1


def test_nothing_installed_nothing_listening_is_skipped(arc_root, monkeypatch):
    """No URL given, no XPU Manager in the tree: the defaults are tried and the check skips."""
    r, rep = verify(arc_root)
    api = check_of(rep, "xpum.api")
    if any(t["outcome"] != "refused" for t in api["evidence"]["tried"]):
        pytest.skip("something listens on a default XPU Manager port on this machine")
    assert api["status"] == "skip" and "not installed" in api["detail"]
    assert [t["url"] for t in api["evidence"]["tried"]][0] == "https://127.0.0.1:30000"


def test_installed_but_rest_off_warns(arc_root):
    t = ht.HostTree(arc_root)
    t.binary("/usr/bin/xpumd")
    t.systemd_unit("xpum.service")
    t.systemd_unit("xpum_rest.service", enabled=False)
    r, rep = verify(arc_root)
    api = check_of(rep, "xpum.api")
    if any(x["outcome"] != "refused" for x in api["evidence"]["tried"]):
        pytest.skip("something listens on a default XPU Manager port on this machine")
    assert api["status"] == "warn" and "enable_restful.sh" in api["remedy"]


def test_server_that_never_answers_is_bounded(arc_root):
    with xs.SilentListener(max_seconds=20) as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--timeout", "1")
    api = check_of(rep, "xpum.api")
    assert api["status"] == "fail" and api["evidence"]["tried"][0]["outcome"] == "timeout"


@pytest.mark.parametrize("knob", [{"force_status": 500}, {"garbage": True}])
def test_500_and_non_json(arc_root, knob):
    with xs.Xpum1Rest(**knob) as s:
        r, rep = verify(arc_root, "--xpum-url", s.url, "--ca-file", s.ca_file, env=creds())
    api = check_of(rep, "xpum.api")
    assert api["status"] == "fail" and r.returncode == 1
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("bad", ["ftp://127.0.0.1:21", "http://", "not a url", "http://127.0.0.1:99999"])
def test_invalid_url_is_a_config_error(arc_root, bad):
    line = assert_clean_error(run_verify("--root", arc_root, "--only", ONLY, env={"XPU_MANAGER_URL": bad}))
    assert "URL" in line


def test_unreadable_credentials_file_is_a_config_error(arc_root, tmp_path):
    line = assert_clean_error(run_verify("--root", arc_root, "--only", ONLY,
                                         "--credentials-file", tmp_path / "missing"))
    assert "missing" in line


def test_wsl2_skips_xpum_with_the_reason(tmp_path):
    root = tmp_path / "w"
    ht.wsl2(root)
    r, rep = run_json("--root", root, "--only", "xpum.service,xpum.api,xpum.health")
    for c in rep["checks"]:
        assert c["status"] == "skip" and "does not support WSL2" in c["detail"]


# --------------------------------------------------------------------------- one connection-settings object:
# every XPU_MANAGER_* variable reaches verify; a flag beats its variable; a bad value names its source


def test_ca_file_from_env_makes_tls_verification_pass(arc_root):
    with xs.Xpum1Rest() as s:
        _, without = verify(arc_root, env={**creds(), "XPU_MANAGER_URL": s.url})
        _, rep = verify(arc_root, env={**creds(), "XPU_MANAGER_URL": s.url, "XPU_MANAGER_CA_FILE": s.ca_file})
    assert check_of(without, "xpum.api")["evidence"]["tried"][0]["outcome"] == "tls"
    assert check_of(rep, "xpum.api")["status"] == "pass" and check_of(rep, "xpum.health")["status"] == "pass"


@pytest.mark.parametrize("value, outcome", [("1", "ok"), ("yes", "ok"), ("0", "tls")])
def test_insecure_from_env(arc_root, value, outcome):
    with xs.Xpum1Rest() as s:
        _, rep = verify(arc_root, env={**creds(), "XPU_MANAGER_URL": s.url, "XPU_MANAGER_INSECURE": value})
    assert check_of(rep, "xpum.api")["evidence"]["tried"][0]["outcome"] == outcome


def test_credentials_file_from_env(arc_root, tmp_path):
    f = tmp_path / "xpum.cred"
    f.write_text(f"xpumadmin:{PASSWORD}\n")
    f.chmod(0o600)
    with xs.Xpum1Rest(tls=False) as s:
        _, rep = verify(arc_root, env={"XPU_MANAGER_URL": s.url, "XPU_MANAGER_CREDENTIALS_FILE": str(f)})
        assert s.failed_logins == 0 and s.auth_ok > 0
    api = check_of(rep, "xpum.api")
    assert api["status"] == "pass" and api["evidence"]["credentials"] == "file"


def test_timeout_from_env(arc_root):
    with xs.SilentListener(max_seconds=20) as s:
        _, rep = verify(arc_root, env={"XPU_MANAGER_URL": s.url, "XPU_MANAGER_TIMEOUT": "0.3"})
    tried = check_of(rep, "xpum.api")["evidence"]["tried"]
    assert tried[0]["outcome"] == "timeout" and "within 0.3 s" in tried[0]["message"]


def test_flags_beat_the_environment(arc_root, tmp_path):
    wrong = tmp_path / "wrong.cred"
    wrong.write_text("xpumadmin:not-the-password\n")
    good = tmp_path / "good.cred"
    good.write_text(f"xpumadmin:{PASSWORD}\n")
    good.chmod(0o600)
    with xs.Xpum1Rest() as s:
        env = {"XPU_MANAGER_URL": xs.closed_url(), "XPU_MANAGER_CA_FILE": s.other_ca_file,
               "XPU_MANAGER_CREDENTIALS_FILE": str(wrong), "XPU_MANAGER_TIMEOUT": "not a number",
               "XPU_MANAGER_INSECURE": "0"}
        _, rep = verify(arc_root, "--xpum-url", s.url, "--ca-file", s.ca_file, "--credentials-file", good,
                        "--timeout", "5", env=env)
        assert s.failed_logins == 0
        _, insecure = verify(arc_root, "--xpum-url", s.url, "--credentials-file", good, "--insecure", "--timeout", "5",
                             env=env)
    assert check_of(rep, "xpum.api")["status"] == "pass" and check_of(rep, "xpum.health")["status"] == "pass"
    assert check_of(insecure, "xpum.api")["status"] == "pass"


@pytest.mark.parametrize("args, env, message", [
    ((), {"XPU_MANAGER_TIMEOUT": "abc"}, "XPU_MANAGER_TIMEOUT='abc' is not a number"),
    (("--timeout", "abc"), {}, "--timeout abc is not a number"),
    (("--timeout", "0"), {"XPU_MANAGER_TIMEOUT": "5"}, "--timeout 0 must be at least 0.05 s"),
    ((), {"XPU_MANAGER_TIMEOUT": "inf"}, "XPU_MANAGER_TIMEOUT='inf' must be at least 0.05 s"),
    ((), {"XPU_MANAGER_INSECURE": "maybe"}, "XPU_MANAGER_INSECURE='maybe' is not a boolean"),
    ((), {"XPU_MANAGER_CA_FILE": "/nonexistent/ca.pem"}, "CA file /nonexistent/ca.pem does not exist "
                                                         "(XPU_MANAGER_CA_FILE)"),
    ((), {"XPU_MANAGER_CREDENTIALS_FILE": "/nonexistent/c"},
     "cannot read credentials file /nonexistent/c: No such file or directory (XPU_MANAGER_CREDENTIALS_FILE)"),
    ((), {"XPU_MANAGER_URL": "ftp://h:1"}, "scheme must be http or https (XPU_MANAGER_URL)"),
    (("--xpum-url", "ftp://h:1"), {"XPU_MANAGER_URL": "http://127.0.0.1:1"},
     "scheme must be http or https (--xpum-url)"),
])
def test_bad_values_name_their_source(arc_root, args, env, message):
    r = run_verify("--root", arc_root, "--only", ONLY, *args, env={**creds(), **env})
    line = assert_clean_error(r)
    assert message in line and PASSWORD not in r.stdout + r.stderr
