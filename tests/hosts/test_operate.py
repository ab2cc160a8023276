"""Operate GPUs through XPU Manager on a real systemd test host: `invoke diag`, `invoke configure`,
`invoke firmware`, `invoke bundle`, over SSH, against the xpu-smi stand-in (tests/support/xpu_smi_standin.py,
written from intel/xpumanager's doc/smi_user_guide.md and cli/src at 57e44f558a3c3f4e7ec3cdfae6ccd8739ffb3be5)
installed as /usr/bin/xpu-smi. One host for the module; each test sets the stand-in's state it needs.

The host is a container started with CAP_SYS_ADMIN and a /dev/mei0 (so the firmware guard lets an update through,
as on a privileged XPU Manager container); a second test takes /dev/mei0 away to see the refusal.
"""
import fcntl
import io
import json
import os
import pty
import select
import subprocess
import sys
import tarfile
import termios
import time
from pathlib import Path

import pytest

from tests.support import xpu_smi_standin as S
from tests.support.verify_run import run_invoke

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
STATE = "/var/lib/xpu-smi-standin/state.json"
SECRET = "Zq7-standin-secret-91"


@pytest.fixture(scope="module")
def host(systemd_host):
    h = systemd_host(wait="ssh", podman_args=("--cap-add", "SYS_ADMIN", "--device", "/dev/null:/dev/mei0"))
    src = (REPO / "tests/support/xpu_smi_standin.py").read_text()
    h.exec("cat > /usr/bin/xpu-smi && chmod 0755 /usr/bin/xpu-smi", input=src, check=True)
    # secrets a careless bundle would pick up: a credentials file, root's environment file, a key
    h.exec("mkdir -p /etc/xpum && printf 'xpumadmin:%s\\n' > /etc/xpum/credentials && chmod 600 /etc/xpum/credentials"
           " && echo 'XPU_MANAGER_PASSWORD=%s' >> /etc/environment" % (SECRET, SECRET), check=True)
    return h


def set_state(host, **device):
    state = json.loads(json.dumps(S.DEFAULT_STATE))
    state["devices"][0].update(device)
    host.exec("mkdir -p /var/lib/xpu-smi-standin && cat > %s" % STATE, input=json.dumps(state), check=True)


def device_state(host):
    return json.loads(host.exec("cat %s" % STATE, check=True).stdout)["devices"][0]


def invoke(host, *args, timeout=240, label=None):
    return run_invoke(*args, timeout=timeout, label=label or args[0])


def _controlling_terminal():
    """In the child: a session of its own with stdin (the pty) as its controlling terminal, as in a shell."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def invoke_on_terminal(*args, answer, timeout=240, label=None):
    """`invoke ARGS` with a terminal on stdin: answers `answer` once the question is on stdout (bounded wait)."""
    env = {**os.environ, "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1"}
    master, slave = pty.openpty()
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, "-m", "invoke", *map(str, args)], cwd=REPO, env=env, stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_controlling_terminal)
    os.close(slave)
    out = b""
    try:
        while b"Type yes: " not in out and time.monotonic() - t0 < timeout:
            ready, _, _ = select.select([p.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        os.write(master, answer.encode() + b"\n")
        rest, err = p.communicate(timeout=max(1.0, timeout - (time.monotonic() - t0)))
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
    print("\n%s: %.2f s (exit %d)" % (label or args[0], time.monotonic() - t0, p.returncode))
    return subprocess.CompletedProcess(args, p.returncode, (out + rest).decode(), err.decode())


def target(host, inventory=False, tmp=None):
    if inventory:
        return ["--inventory", host.write_inventory(tmp / "inv.ini"), "--host", host.name]
    return ["--host", host.spec, "--key", host.key, "--no-host-key-check"]


def test_diag_levels_over_ssh(host, tmp_path):
    set_state(host, diag_fail=["XPUM_DIAG_MEDIA_CODEC"])
    r = invoke(host, "diag", "--level", "1", "--json", *target(host), label="diag level 1")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["source"] == "xpu-smi" and rep["level"] == 1
    assert [c["title"] for c in rep["checks"]] == [t[1] for t in S.LEVEL_TESTS[1]]
    junit = tmp_path / "diag.xml"
    r = invoke(host, "diag", "--level", "2", "--junit", junit, *target(host), label="diag level 2")
    assert r.returncode == 1, r.stdout + r.stderr          # Media Codec fails at level 2
    assert "FAIL  Media Codec: Fail to check media codec." in r.stdout
    assert 'failures="1"' in junit.read_text() and "xpu-ops diag level 2" in junit.read_text()
    r = invoke(host, "diag", "--level", "4", *target(host), label="diag level 4")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "--level" in r.stderr


def test_diag_without_xpu_manager_falls_back_to_verify(host):
    host.exec("mv /usr/bin/xpu-smi /usr/bin/xpu-smi.off", check=True)
    try:
        r = invoke(host, "diag", "--level", "2", "--json", *target(host), label="diag fallback")
    finally:
        host.exec("mv /usr/bin/xpu-smi.off /usr/bin/xpu-smi", check=True)
    rep = json.loads(r.stdout)
    assert rep["source"] == "xpu-ops" and r.returncode == 1          # no GPU on a test host: pci.gpu fails
    ids = {c["id"]: c for c in rep["checks"]}
    assert ids["verify.pci.gpu"]["status"] == "fail"
    assert ids["torch.diag"]["status"] == "skip" and ids["torch.diag"]["detail"].startswith("skipped: ")


def test_configure_changes_only_what_differs_and_converges(host, tmp_path):
    set_state(host)
    settings = tmp_path / "gpu.json"
    settings.write_text(json.dumps({"gpu_config_defaults": {"power_limit": 120, "standby": "default"},
                                    "gpu_config_by_family": {"flex": {"standby": "never"}},
                                    "gpu_config_by_model": {"0x56c0": {"frequency_min": 500, "frequency_max": 1800}},
                                    "gpu_config_by_gpu": {"0": {"scheduler": "timeout", "scheduler_timeout": 640000}}}))
    inv = target(host, True, tmp_path)
    r = invoke(host, "configure", *inv, "-e", "@%s" % settings, "--check", "--diff", label="configure --check")
    assert r.returncode == 0, r.stdout[-3000:]
    assert "+gpu 0 power_limit: 120" in r.stdout and "-gpu 0/0 standby: default" in r.stdout
    assert device_state(host)["pl_card_sustain"] == 150.0                     # --check changed nothing
    r = invoke(host, "configure", *inv, "-e", "@%s" % settings, label="configure")
    assert r.returncode == 0 and "changed=1" in r.stdout, r.stdout[-3000:]
    d = device_state(host)
    assert (d["pl_card_sustain"], d["tiles"][0]["standby_mode"], d["tiles"][0]["min_frequency"],
            d["tiles"][0]["max_frequency"], d["tiles"][0]["scheduler_mode"],
            d["tiles"][0]["scheduler_watchdog_timeout"]) == (120.0, "never", 500, 1800, "timeout", 640000)
    r = invoke(host, "configure", *inv, "-e", "@%s" % settings, label="configure again")
    assert r.returncode == 0 and "changed=0" in r.stdout, r.stdout[-3000:]


def test_configure_unsupported_setting_fails_before_any_change(host, tmp_path):
    set_state(host, unsupported=["standby"])
    r = invoke(host, "configure", *target(host, True, tmp_path), "-e",
               json.dumps({"gpu_config_defaults": {"power_limit": 100, "standby": "never", "ecc": False}}),
               label="configure unsupported")
    assert r.returncode == 2, r.stdout[-3000:]
    assert "Access denied due to permission level or operation unsupported." in r.stdout
    d = device_state(host)
    assert d["pl_card_sustain"] == 150.0 and d["memory_ecc_pending_state"] == "enabled"


def test_firmware_guarded_update(host, tmp_path):
    set_state(host, processes=[{"process_id": 4242, "process_name": "python3"}])
    image = tmp_path / "gfx.bin"
    image.write_text("XPU-SMI-STANDIN-IMAGE DG02_1.3180\n")
    inv = target(host, True, tmp_path)
    r = invoke(host, "firmware", *inv, "--image", image, label="firmware without --yes, no terminal")
    assert r.returncode == 2 and "--yes" in r.stderr and r.stdout == ""
    r = invoke(host, "firmware", *inv, "--image", tmp_path / "missing.bin", "--yes", label="firmware missing image")
    assert r.returncode == 2 and "no such file" in r.stderr and r.stdout == ""
    r = invoke(host, "firmware", *inv, "--image", image, "--yes", label="firmware GPU in use")
    assert r.returncode == 2 and "in use by python3 (pid 4242)" in r.stdout
    assert device_state(host)["gfx_firmware_version"] == "DG02_1.3170"
    set_state(host)
    r = invoke_on_terminal("firmware", *inv, "--image", image, answer="no", label="firmware, answered no")
    assert r.returncode == 1 and "not confirmed: nothing was changed" in r.stderr, r.stdout[-3000:] + r.stderr
    assert "GFX: DG02_1.3170 -> DG02_1.3180" in r.stdout                      # shown before the question
    assert device_state(host)["gfx_firmware_version"] == "DG02_1.3170"
    r = invoke_on_terminal("firmware", *inv, "--image", image, answer="yes", label="firmware, answered yes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert device_state(host)["gfx_firmware_version"] == "DG02_1.3180"
    left = host.exec("python3 -c 'import glob, tempfile; print(glob.glob(tempfile.gettempdir() + \"/xpu-ops-fw-*\"))'")
    assert left.stdout.strip() == "[]", left.stdout          # the image copy is gone (tempfile's folder on the host)


def test_firmware_refused_through_a_container_without_mei(host, tmp_path):
    set_state(host)
    image = tmp_path / "gfx.bin"
    image.write_text("XPU-SMI-STANDIN-IMAGE DG02_1.3190\n")
    host.exec("umount /dev/mei0 2>/dev/null; rm -f /dev/mei0", check=True)
    r = invoke(host, "firmware", *target(host, True, tmp_path), "--image", image, "--yes", label="firmware no mei")
    assert r.returncode == 2 and "container without /dev/mei*" in r.stdout
    assert device_state(host)["gfx_firmware_version"] == "DG02_1.3170"


def test_bundle_over_ssh_has_no_secret_and_redacts(host, tmp_path):
    set_state(host)
    out = tmp_path / "bundle.tar.gz"
    r = invoke(host, "bundle", "--output", out, "--redact", *target(host), label="bundle --redact")
    assert r.returncode == 0, r.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(out) as tar:
        members = {m.name.split("/", 1)[1]: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert {"verify.json", "kernel-gpu.log", "sysfs.txt", "packages.txt", "xpu-smi-discovery.json",
            "torch-probe.json", "commands.txt"} <= set(members)
    assert json.loads(members["xpu-smi-discovery.json"].split("\n", 2)[2])["device_list"][0]["device_id"] == 0
    assert json.loads(members["verify.json"])["checks"]
    blob = "\n".join(members.values())
    assert SECRET not in blob
    assert host.name not in blob and "host-redacted" in blob
    raw = io.BytesIO(out.read_bytes()).getvalue()
    assert SECRET.encode() not in raw
    r = invoke(host, "bundle", "--output", tmp_path / "nodir" / "b.tar.gz", *target(host), label="bundle bad output")
    assert r.returncode == 2 and "no such folder" in r.stderr
