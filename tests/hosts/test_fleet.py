"""`invoke verify --inventory` over a fleet made of real test hosts: one systemd host whose sshd answers on
12 loopback addresses (12 hosts for Ansible and for verify), a second one without python3, a closed port,
a port that accepts and never speaks, and an address whose key is refused. Every host gets its row; the
JSON, JUnit and Prometheus outputs are validated against their schemas / parsed by a real parser."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import testhosts as th
from tests.support.verify_run import run_invoke
from tests.support.fleet_formats import parse_prometheus, validate_json, validate_junit
from tests.support.xpum_standins import SilentListener

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
N = 12


def _line(name, address, port, key, **more):
    v = {"ansible_host": address, "ansible_port": port, "ansible_user": "root",
         "ansible_ssh_private_key_file": key, **more}
    return " ".join([name, *("%s=%s" % (k, val) for k, val in v.items())])


@pytest.fixture(scope="module")
def fleet(systemd_host, tmp_path_factory):
    many = systemd_host(wait="ssh", listen_addresses=th.loopback_addresses(N))
    nopy = systemd_host(wait="ssh")
    nopy.exec("mkdir -p /root/no-python && mv /usr/bin/python3* /root/no-python/", check=True)
    silent = SilentListener(max_seconds=120).start()
    tmp = tmp_path_factory.mktemp("fleet")
    other_key = th.make_key(tmp / "other-key")
    closed = th.pick_port()
    lines = ["[gpu]", *(_line("gpu%02d" % i, a, many.port, many.key) for i, a in enumerate(many.addresses)),
             "[broken]",
             _line("nopython", nopy.address, nopy.port, nopy.key),
             _line("closed", "127.0.0.1", closed, many.key),
             _line("hangs", "127.0.0.1", silent.port, many.key),
             _line("badkey", many.address, many.port, other_key),
             "[all:vars]",
             "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
             "ansible_python_interpreter=/usr/bin/python3"]
    inv = tmp / "fleet.ini"
    inv.write_text("\n".join(lines) + "\n")
    yield {"inv": inv, "many": many, "nopy": nopy, "tmp": tmp}
    silent.stop()


def invoke_verify(*args, timeout=180):
    return run_invoke("verify", *args, timeout=timeout, label="fleet verify %s..." % " ".join(map(str, args[:4])))


def test_every_address_is_a_host_for_ansible(fleet):
    """The same sshd behind every address, and Ansible counts each address as a host of its own."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    ansible = str(Path(sys.executable).with_name("ansible"))
    r = subprocess.run([ansible, "gpu", "-i", str(fleet["inv"]), "-f", "12", "-o", "-m", "ansible.builtin.raw",
                        "-a", f"cat {th.MOUNT}/name"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [x for x in r.stdout.splitlines() if "| CHANGED |" in x]
    assert len(rows) == N and all(fleet["many"].name in x for x in rows)


@pytest.mark.no_gpu
def test_fleet_report_rows_and_outputs(fleet):
    junit, prom = fleet["tmp"] / "fleet.xml", fleet["tmp"] / "xpu_ops.prom"
    t0 = time.monotonic()
    r = invoke_verify("--inventory", fleet["inv"], "--forks", 8, "--timeout", 8, "--no-host-key-check",
                      "--json", "--junit", junit, "--prometheus", prom)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    f = json.loads(r.stdout)
    validate_json(f)
    h = f["hosts"]
    assert len(h) == N + 4
    for i in range(N):
        row = h["gpu%02d" % i]
        assert row["status"] == "fail", row
        assert row["environment"]["hostname"] == fleet["many"].name
        assert row["results"]["pci.gpu"]["status"] == "fail"
        assert row["results"]["platform"]["status"] == "pass"
    assert (h["nopython"]["error_kind"], h["closed"]["error_kind"], h["hangs"]["error_kind"],
            h["badkey"]["error_kind"]) == ("no_python", "refused", "timeout", "auth")
    assert "no /usr/bin/python3 on the host" in h["nopython"]["error"]
    assert "Connection refused" in h["closed"]["error"]
    assert "no answer within 8 s" in h["hangs"]["error"]
    assert "Permission denied" in h["badkey"]["error"]
    assert took < 8 + 60, took       # the hanging host is cut at 8 s, the others do not wait for it
    gpu = next(c for c in f["causes"] if c["check"] == "pci.gpu")
    assert gpu["count"] == N and gpu["status"] == "fail"
    assert f["summary"]["unreachable_by_kind"] == {"no_python": 1, "refused": 1, "timeout": 1, "auth": 1}
    root = validate_junit(junit)
    assert len(list(root.iter("testsuite"))) == N + 4
    assert len(list(root.iter("testcase"))) == (N + 4) * len(f["checks"])
    m = parse_prometheus(prom.read_text())
    assert m[("xpu_ops_check_status", (("check", "pci.gpu"), ("host", "gpu00")))] == 2
    assert m[("xpu_ops_check_status", (("check", "pci.gpu"), ("host", "hangs")))] == 4
    assert m[("xpu_ops_host_up", (("host", "badkey"), ("reason", "auth")))] == 0
    assert abs(m[("xpu_ops_last_run_timestamp_seconds", ())] - time.time()) < 120


@pytest.mark.no_gpu
def test_fleet_text_report(fleet):
    r = invoke_verify("--inventory", fleet["inv"], "--limit", "gpu:nopython:closed", "--only", "platform,pci.gpu",
                      "--no-host-key-check", "--forks", 4)
    assert r.returncode == 1, r.stderr
    out = r.stdout
    assert out.startswith("xpu-ops fleet verify: %d hosts, 2 checks\n" % (N + 2))
    assert "%d hosts: pci.gpu: no Intel GPU" % N in out
    assert "1 host: unreachable, no python3: " in out
    assert out.splitlines()[-1].startswith("%d hosts: 0 ok, %d failed, 2 unreachable (no_python 1, refused 1)"
                                           % (N + 2, N))
    assert "hosts done" not in r.stderr          # no terminal: no progress
