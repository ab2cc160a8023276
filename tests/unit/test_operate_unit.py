"""diag, bundle, gpu_config and firmware pieces without a test host: checks.diag and checks.bundle on this machine
against the xpu-smi stand-in (tests/support/xpu_smi_standin.py, a real child process), the modules' decisions, and
the invoke tasks' usage errors (exit 2, one line, before any connection)."""
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from checks import bundle as B
from checks import diag as D
from tests.support import xpu_smi_standin as S

REPO = Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "plugins/modules" / (name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def smi(tmp_path, monkeypatch):
    """xpu-smi = the stand-in, its state in tmp_path; returns a function to set the first GPU's state."""
    wrapper = tmp_path / "xpu-smi"
    wrapper.write_text("#!/bin/sh\nexec %s %s \"$@\"\n" % (sys.executable, REPO / "tests/support/xpu_smi_standin.py"))
    wrapper.chmod(0o755)
    state = tmp_path / "state.json"
    monkeypatch.setenv("XPU_SMI", str(wrapper))
    monkeypatch.setenv("XPU_SMI_STANDIN_STATE", str(state))

    def set_state(**device):
        s = json.loads(json.dumps(S.DEFAULT_STATE))
        s["devices"][0].update(device)
        state.write_text(json.dumps(s))
    set_state()
    return set_state


def test_diag_reads_xpu_smi_levels(smi):
    for level in (1, 2, 3):
        rep = D.run(level)
        assert rep["source"] == "xpu-smi" and rep["ok"]
        want = [name for lv in range(1, level + 1) for _, name, _ in S.LEVEL_TESTS[lv]]
        assert [c["title"] for c in rep["checks"]] == want


def test_diag_failed_test_and_busy_gpu(smi):
    smi(diag_fail=["XPUM_DIAG_LIGHT_COMPUTATION"],
        processes=[{"process_id": 1, "process_name": "a"}, {"process_id": 2, "process_name": "b"}])
    rep = D.run(1)
    by = {c["title"]: c for c in rep["checks"]}
    assert not rep["ok"] and by["Computation Check"]["status"] == "fail" and by["Computation Check"]["remedy"]
    assert by["Software Exclusive"]["status"] == "warn"        # upstream: "Warning: 2 processses are using..."
    assert D.main(["--level", "1"]) == 1


@pytest.mark.parametrize("level", ["0", "4", "x"])
def test_diag_level_out_of_range_is_a_usage_error(level, capsys):
    assert D.main(["--level", level]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("xpu-ops diag: error: ")


def test_diag_without_xpu_smi_is_verify_plus_skips(monkeypatch, tmp_path):
    monkeypatch.setenv("XPU_SMI", str(tmp_path / "absent"))
    with pytest.raises(D.Usage, match="no such executable"):
        D.run(1, python=str(tmp_path / "no-python"))
    rep = D.run(3, torch_timeout=30)
    ids = {c["id"]: c for c in rep["checks"]}
    assert rep["source"] == "xpu-ops" and "verify.pci.gpu" in ids
    assert ids["torch.diag"]["status"] == "skip" and "not usable" in ids["torch.diag"]["detail"]
    assert ids["xpum.level3"]["status"] == "skip" and "xpu-smi is not installed" in ids["xpum.level3"]["detail"]


def test_scrub_removes_every_secret_shape():
    text = ("password = hunter2\nXPU_MANAGER_PASSWORD=abc123\nAuthorization: Basic eHB1bWFkbWluOnB3\n"
            "url https://xpumadmin:pw0rd@127.0.0.1:30000/rest\ntoken: t0k3n\nsalt = abcdefabcdef\n"
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nplain line stays\n"
            "xpu-smi updatefw -u admin --password s3cr3tpw\nset XPU_MANAGER_PASSWORD or pass --credentials-file F\n")
    out = B.scrub(text, extra=["envsecret"]) + B.scrub("x envsecret y", extra=["envsecret"])
    for secret in ("hunter2", "abc123", "eHB1bWFkbWluOnB3", "pw0rd", "t0k3n", "abcdefabcdef", "MIIEow", "envsecret",
                   "s3cr3tpw"):
        assert secret not in out, secret
    assert "plain line stays" in out and "set XPU_MANAGER_PASSWORD or pass --credentials-file F" in out


def test_kernel_gpu_lines_keep_context():
    log = "\n".join(["boot %d" % i for i in range(10)] + ["i915 0000:03:00.0: [drm] GuC firmware load failed"] +
                    ["after %d" % i for i in range(5)] + ["xe 0000:04:00.0: probe"])
    out = B.kernel_gpu_lines(log).splitlines()
    assert out == ["boot 8", "boot 9", "i915 0000:03:00.0: [drm] GuC firmware load failed", "after 0", "after 1",
                   "--", "after 3", "after 4", "xe 0000:04:00.0: probe"]


def test_redact_replaces_whole_names_only():
    assert B.redact("gpu07 gpu07.lab /home/alice alicex", ["gpu07"], ["alice"]) == \
        "host-redacted host-redacted.lab /home/user-redacted alicex"


def test_local_bundle_holds_the_pieces_and_no_secret(smi, tmp_path, monkeypatch):
    monkeypatch.setenv("XPU_MANAGER_PASSWORD", "S3cr3t-unit-value")
    out = tmp_path / "b.tar.gz"
    r = subprocess.run([sys.executable, "-m", "xpu_ops.bundle", "--output", str(out)], cwd=REPO, capture_output=True,
                       text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(out) as tar:
        names = {m.name for m in tar.getmembers()}
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers())
    assert {"xpu-ops-bundle/verify.json", "xpu-ops-bundle/xpu-smi-discovery.json",
            "xpu-ops-bundle/commands.txt"} <= names
    assert b"S3cr3t-unit-value" not in blob


def test_gpu_config_plan_only_what_differs():
    m = _load("xpu_ops_gpu_config")
    cfg = S._config_view(json.loads(json.dumps(S.DEFAULT_STATE))["devices"][0])
    gpu = {"device_id": 0}
    same = {"power_limit": 150, "standby": "default", "frequency_min": 300, "frequency_max": 2050,
            "scheduler": "timeslice", "scheduler_interval": 5000, "scheduler_yield_timeout": 640000, "ecc": True}
    assert m.plan(gpu, cfg, same) == []
    items = m.plan(gpu, cfg, dict(same, power_limit=120, scheduler="exclusive", ecc=False))
    assert [(i[0], i[1], i[2], i[3]) for i in items] == [
        ("power_limit", None, 150.0, 120), ("ecc", None, "enabled", "disabled"),
        ("scheduler", "0", "timeslice,5000,640000", "exclusive")]
    assert items[0][4] == ["--powerlimit", "120"] and items[0][5] == ["--powerlimit", "150"]
    assert m.validate(gpu, {"scheduler": "timeout"}) == [
        "GPU 0: scheduler timeout needs scheduler_timeout between 5000 and 100000000 us"]
    assert m.wanted_for({"device_id": 1, "pci_device_id": "0x56c0", "pci_bdf_address": "0000:4d:00.0"}, {
        "defaults": {"power_limit": 100, "standby": "never", "ecc": True},
        "by_family": {"flex": {"ecc": False, "power_limit": 105}, "max": {"ecc": None, "standby": "x"}},
        "families": {"flex": ["0x56C0", "0x56C1"], "max": ["0x0B69"]},
        "by_model": {"0x56C0": {"power_limit": 110}},
        "by_gpu": {"0000:4d:00.0": {"standby": "default"}, "1": {"bogus": 1}}}) == (
        {"power_limit": 110, "standby": "default", "ecc": False, "bogus": 1}, ["bogus"])


def test_firmware_container_guard():
    m = _load("xpu_ops_firmware")
    full = "CapEff:\t000001ffffffffff\n"
    none = "CapEff:\t00000000a80425fb\n"              # podman's default set: no CAP_SYS_ADMIN (bit 21)
    assert m.container_refusal(False, [], none) is None
    assert "without /dev/mei*" in m.container_refusal(True, ["dri", "null"], full)
    assert "unprivileged container" in m.container_refusal(True, ["mei0"], none)
    assert m.container_refusal(True, ["mei0"], full) is None


def _invoke(*args, stdin=subprocess.DEVNULL):
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, stdin=stdin)


@pytest.mark.parametrize("args, message", [
    (["firmware", "--host", "h", "--image", "/nonexistent/fw.bin", "--yes"], "--image /nonexistent/fw.bin: no such"),
    (["firmware", "--host", "h", "--image", __file__, "--type", "OPROM"], "--type OPROM"),
    (["firmware", "--host", "h", "--image", __file__], "no terminal to confirm on"),
    (["diag", "--level", "9"], "--level must be 1, 2 or 3"),
    (["bundle"], "give --output"),
    (["configure"], "xpu-ops configure: error: give --host H or --inventory FILE"),
    (["bundle", "--output", "/nonexistent/dir/b.tar.gz"], "no such folder"),
])
def test_usage_errors_before_any_connection(args, message):
    r = _invoke(*args)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


# ------------------------------------------------------------------ diag through XPU Manager 1.x REST

def test_diag_through_rest_polls_until_finished(monkeypatch, tmp_path):
    from tests.support.xpum_ops_standin import Xpum1RestOps
    from tests.support.xpum_standins import DEFAULT_PASSWORD, flex_170
    monkeypatch.setenv("XPU_SMI", str(tmp_path / "absent"))
    with Xpum1RestOps(gpus=[flex_170(), flex_170(bdf="0000:4e:00.0")], diag_polls=2,
                      diag_fail=["XPUM_DIAG_INTEGRATION_PCIE"]) as srv:
        env = {"XPU_MANAGER_PASSWORD": DEFAULT_PASSWORD, "XPU_SMI": str(tmp_path / "absent")}
        rep = D.run(2, env=env, xpum={"url": srv.url, "ca_file": srv.ca_file}, poll=0.01)
        assert srv.diag_posts == [(0, {"level": 2}), (1, {"level": 2})]
        assert srv.hits["/rest/v1/devices/0/diagnostics"] == 1 + 3        # POST, then 2 unfinished GETs + 1
    assert rep["source"] == "xpum-rest" and not rep["ok"]
    titles = [c["title"] for c in rep["checks"] if c["device"].startswith("0 ")]
    assert titles == ["Software Env Variables", "Software Library", "Software Permission", "Software Exclusive",
                      "Light Computation", "Integration PCIe", "Media Codec"]
    assert {c["title"] for c in rep["checks"] if c["status"] == "fail"} == {"Integration PCIe"}


def test_diag_through_rest_errors_are_results_not_tracebacks(monkeypatch, tmp_path):
    from tests.support.xpum_ops_standin import Xpum1RestOps
    monkeypatch.setenv("XPU_SMI", str(tmp_path / "absent"))
    with Xpum1RestOps() as srv:
        env = {"XPU_MANAGER_PASSWORD": "wrong", "XPU_SMI": str(tmp_path / "absent")}
        rep = D.run(1, env=env, xpum={"url": srv.url, "ca_file": srv.ca_file}, poll=0.01)
    (item,) = rep["checks"]
    assert item["status"] == "fail" and "401" in item["detail"] and "wrong" not in json.dumps(rep)
    with pytest.raises(D.Usage, match="CA file"):
        D.run(1, env={"XPU_SMI": "/absent"}, xpum={"url": "https://127.0.0.1:1", "ca_file": "/absent.pem"})


def test_rest_standin_answers_as_upstream_views():
    """The stand-in's own contract (upstream rest/views/diagnostics.py and device_config.py)."""
    import base64
    import http.client
    import ssl
    from tests.support.xpum_ops_standin import Xpum1RestOps
    from tests.support.xpum_standins import DEFAULT_PASSWORD
    with Xpum1RestOps() as srv:
        ctx = ssl.create_default_context(cafile=srv.ca_file)
        auth = {"Authorization": "Basic " + base64.b64encode(("xpumadmin:" + DEFAULT_PASSWORD).encode()).decode(),
                "Content-Type": "application/json"}

        def call(method, path, body=None):
            c = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=5)
            c.request(method, path, body=None if body is None else json.dumps(body), headers=auth)
            r = c.getresponse()
            return r.status, json.loads(r.read())
        assert call("GET", "/rest/v1/devices/0/diagnostics") == (500, {"Status": 1, "Message": "Error"})
        assert call("POST", "/rest/v1/devices/0/diagnostics", {"level": 4}) == (
            400, {"Status": 1, "Message": "invalid level"})
        assert call("POST", "/rest/v1/devices/7/diagnostics", {"level": 1}) == (
            404, {"Status": 1, "Message": "device not found"})
        assert call("POST", "/rest/v1/devices/0/diagnostics", {"level": 1}) == (201, {"result": "OK"})
        status, res = call("GET", "/rest/v1/devices/0/diagnostics")
        assert status == 200 and res["finished"] and res["result"] == "Pass" and res["component_count"] == 5
        assert call("GET", "/rest/v1/devices/0/config") == (500, "json string is missing")
        assert call("GET", "/rest/v1/devices/0/config", {"tile_id": "0"}) == (500, "Invalid Parameter tileId")
        status, cfg = call("GET", "/rest/v1/devices/0/config", {"tile_id": -1})
        assert status == 200 and cfg["power_limit"] == 150.0 and cfg["tile_config_data"][0]["tile_id"] == "0/0"


def test_diag_on_an_inventory_is_one_report_per_host(smi, tmp_path):
    """Two inventory hosts (ansible_connection=local: the same path as over ssh, without sshd): one JSON object
    per host under "hosts", one JUnit testsuite each; a failed test on any host is exit 1."""
    smi(diag_fail=["XPUM_DIAG_SOFTWARE_LIBRARY"])
    inv = tmp_path / "inv.ini"
    inv.write_text("[gpus]\ngpu-a ansible_connection=local ansible_python_interpreter=%s\n"
                   "gpu-b ansible_connection=local ansible_python_interpreter=%s\n" % (sys.executable, sys.executable))
    junit = tmp_path / "diag.xml"
    r = subprocess.run([sys.executable, "-m", "xpu_ops.diag", "--inventory", str(inv), "--level", "1", "--json",
                        "--junit", str(junit)], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 1, r.stderr
    hosts = json.loads(r.stdout)["hosts"]
    assert sorted(hosts) == ["gpu-a", "gpu-b"]
    assert all(h["source"] == "xpu-smi" and not h["ok"] for h in hosts.values())
    import xml.etree.ElementTree as ET
    suites = ET.parse(junit).getroot()
    assert [s.get("hostname") for s in suites] == ["gpu-a", "gpu-b"]
    assert all(s.get("failures") == "1" and s.get("name") == "xpu-ops diag level 1" for s in suites)


def test_torch_test_results_against_the_pcie_link(tmp_path):
    """checks.diag's reading of the PyTorch child (checks/torch_diag.py's output line), with a stand-in interpreter
    that prints one: a wrong matmul fails, a copy under half of what the link carries warns."""
    fake = tmp_path / "python"
    line = {"devices": [
        {"index": 0, "name": "GPU A", "matmul_ok": True, "matmul_max_abs_error": 1e-5, "h2d_gbps": 24.0,
         "d2h_gbps": 22.0},
        {"index": 1, "name": "GPU B", "matmul_ok": False, "matmul_max_abs_error": 3.5, "h2d_gbps": 5.0,
         "d2h_gbps": 6.0}]}
    fake.write_text("#!/bin/sh\necho 'XPUOPS-DIAG %s'\n" % json.dumps(line))
    fake.chmod(0o755)
    rep = {"checks": [{"id": "torch.xpu", "status": "pass", "detail": "", "evidence": {"available": True}}],
           "gpus": [{"link": {"current_speed": 16.0, "current_width": 16}}]}     # 16 GT/s x16: 31.5 GB/s
    items = {i["id"]: i for i in D.torch_tests(str(fake), 10, rep)}
    assert items["xpu0.matmul"]["status"] == "pass" and items["xpu0.copy"]["status"] == "pass"
    assert "the link carries 31.5 GB/s" in items["xpu0.copy"]["detail"]
    assert items["xpu1.matmul"]["status"] == "fail" and items["xpu1.copy"]["status"] == "warn"
    rep["gpus"] = [{"link": None}]
    assert {i["id"]: i["status"] for i in D.torch_tests(str(fake), 10, rep)}["xpu0.copy"] == "skip"
    rep["checks"][0]["evidence"] = {"available": False}
    (skipped,) = D.torch_tests(str(fake), 10, rep)
    assert skipped["status"] == "skip" and skipped["detail"].startswith("skipped: ")


def test_torch_child_says_why_without_an_xpu():
    src = (REPO / "checks/torch_diag.py").read_text()
    r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, timeout=120)
    (line,) = [x for x in r.stdout.splitlines() if x.startswith(D.MARK)]
    out = json.loads(line[len(D.MARK):])
    assert out["devices"] == []
    assert out["error"] == "torch.xpu.is_available() is False" or out["error"].startswith("torch is not importable")


def test_bundle_sysfs_covers_each_gpu_and_its_upstream_ports_once():
    pci = {"gpus": [{"bdf": "00fe:03:00.0", "ancestors": ["00fe:00:01.0", "00fe:01:00.0", "00fe:02:01.0"]},
                    {"bdf": "00fe:04:00.0", "ancestors": ["00fe:00:01.0", "00fe:01:00.0", "00fe:02:02.0"]}]}
    text = B._sysfs(pci)
    heads = []
    for line in text.splitlines():
        if line.startswith("/sys/bus/pci/devices/") and line.endswith("/vendor: (No such file or directory)"):
            heads.append(line.split("/")[5])
    assert heads == ["00fe:03:00.0", "00fe:02:01.0", "00fe:01:00.0", "00fe:00:01.0", "00fe:04:00.0", "00fe:02:02.0"]
    assert "current_link_speed" in text and "max_link_width" in text


def test_firmware_module_amc_is_every_card_at_once(smi, tmp_path):
    """AMC through the module as Ansible runs it (ad hoc, local): no per-device call (upstream refuses one, errno 24),
    current versions in the plan, the versions after the update."""
    image = tmp_path / "amc.bin"
    image.write_text("AMC image\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    out = {}
    for state in ("planned", "updated"):
        args = "image=%s type=AMC state=%s xpu_smi=%s" % (image, state, os.environ["XPU_SMI"])
        r = subprocess.run(["ansible", "localhost", "-c", "local", "-o", "-e",
                            "ansible_python_interpreter=" + sys.executable, "-m", "xpu_ops_firmware", "-a", args],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        out[state] = json.loads(r.stdout.split("=>", 1)[1])["gpus"][0]
    assert out["planned"]["current"] == "6.5.0.0" and "no AMC image version" in out["planned"]["image"]
    assert out["updated"]["after"] == "6.5.1.0"


def test_a_hosts_terminal_escapes_do_not_reach_our_terminal(monkeypatch):
    """F14 for diag and bundle: what a host writes on stderr is foreign text (escaped before anyone prints it)."""
    from types import SimpleNamespace

    from xpu_ops import hostrun, remote

    noisy = ["sh", "-c", r"printf '\033]0;owned\007bad\n' >&2; exit 3"]
    monkeypatch.setattr(remote, "ssh_command", lambda t, argv: noisy)
    r = hostrun.run_one(SimpleNamespace(python="python3", connection="ssh"), b"", [], 10)
    assert r.code == 3 and "\x1b" not in r.stderr and "\x07" not in r.stderr and "bad" in r.stderr


def test_a_host_that_never_stops_writing_is_cut_off(monkeypatch):
    """diag and bundle keep at most hostrun.MAX_STDOUT of a host's answer (as verify does): the process is ended,
    memory stays bounded, and the host gets a one-line error instead of a report."""
    from types import SimpleNamespace

    from xpu_ops import hostrun, remote

    endless = ["sh", "-c", "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
    monkeypatch.setattr(remote, "ssh_command", lambda t, argv: endless)
    monkeypatch.setattr(hostrun, "MAX_STDOUT", 2 << 20)
    r = hostrun.run_one(SimpleNamespace(python="python3", connection="ssh"), b"", [], 60)
    assert r.error == "the host sent more than 2 MiB on stdout: cut off"
    assert len(r.stdout) <= 2 << 20
    small = ["sh", "-c", "head -c 1048576 /dev/zero"]                      # under the limit: all of it, no error
    monkeypatch.setattr(remote, "ssh_command", lambda t, argv: small)
    r = hostrun.run_one(SimpleNamespace(python="python3", connection="ssh"), b"", [], 60)
    assert r.error is None and r.code == 0 and len(r.stdout) == 1 << 20
