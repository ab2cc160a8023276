"""deploy/xpu-ops-api.service under a real systemd (Debian 12, systemd 252), security review F18: the unit starts
with all its hardening, the XPU Manager credentials reach the service as a systemd credential (LoadCredential=)
readable by the service's dynamic user alone, and the password is in neither its environment nor its argv.

The service's ExecStart is swapped (a drop-in) for a probe that reports what the service sees: this host has no
xpu-ops checkout; and DynamicUser= for a static user (see below). Everything else is the unit as shipped."""
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
SECRET = "Unit-Credential-Passw0rd-5"
PROBE = r'''import os
p = os.environ.get("XPU_MANAGER_CREDENTIALS_FILE", "")
text = open(p).read() if p else ""
try:
    open("/etc/xpu-ops/xpum.credentials").read()
    direct = "readable"
except OSError as e:
    direct = type(e).__name__
env = open("/proc/self/environ", "rb").read().decode()
print("probe uid=%d cred_has_password=%s cred_in_credentials_dir=%s env_has_password=%s direct=%s mode=%o" % (
    os.getuid(), "SECRET" in text, p.startswith(os.environ.get("CREDENTIALS_DIRECTORY", "?") + "/"),
    "SECRET" in env, direct, os.stat(p).st_mode & 0o777), flush=True)
'''.replace("SECRET", SECRET)


def test_f18_the_unit_runs_hardened_and_gets_the_password_as_a_credential(systemd_host):
    h = systemd_host(wait="system")
    # the unit's SupplementaryGroups: a GPU host has render (udev makes it); this minimal rootfs has no udev
    h.exec("getent group render || groupadd --system render", check=True)
    # DynamicUser= cannot set up its namespace inside a podman test host (status 226/NAMESPACE even for
    # `systemd-run -p DynamicUser=yes /bin/true`): the drop-in names a static system user instead
    h.exec("useradd --system --no-create-home --shell /usr/sbin/nologin xpu-ops", check=True)
    h.exec("install -d -m 0750 /etc/xpu-ops && install -d /opt/xpu-ops /opt/probe "
           "&& install -m 0600 /dev/null /etc/xpu-ops/api.env", check=True)
    h.exec(f"umask 077; printf 'xpumadmin:{SECRET}\\n' > /etc/xpu-ops/xpum.credentials", check=True)
    h.exec("cat > /opt/probe/probe.py", input=PROBE, check=True)
    h.exec("cat > /etc/systemd/system/xpu-ops-api.service", input=(REPO / "deploy/xpu-ops-api.service").read_text(),
           check=True)
    dropin = "/etc/systemd/system/xpu-ops-api.service.d"
    h.exec(f"mkdir -p {dropin} && cat > {dropin}/probe.conf",
           input="[Service]\nExecStart=\nExecStart=/usr/bin/python3 /opt/probe/probe.py\nRestart=no\n"
                 "DynamicUser=no\n", check=True)
    h.exec("systemctl daemon-reload && systemctl start xpu-ops-api")
    for _ in range(60):                                       # bounded: the probe ends at once
        state = h.exec("systemctl is-active xpu-ops-api").stdout.strip()
        if state in ("inactive", "failed"):
            break
        time.sleep(0.5)
    result = h.exec("systemctl show -p Result --value xpu-ops-api").stdout.strip()
    log = h.exec("journalctl -u xpu-ops-api -o cat --no-pager").stdout
    assert result == "success", log
    line = next(x for x in log.splitlines() if x.startswith("probe "))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    assert fields["uid"] != "0"
    assert fields["cred_has_password"] == "True" and fields["cred_in_credentials_dir"] == "True", line
    assert fields["env_has_password"] == "False" and fields["direct"] == "PermissionError", line
    assert int(fields["mode"], 8) & 0o007 == 0, line    # systemd makes it 0440, for the service's own group
    assert SECRET not in log and SECRET not in h.exec("systemctl show xpu-ops-api").stdout
    r = h.exec("systemd-analyze security --no-pager xpu-ops-api")
    assert "Overall exposure level for xpu-ops-api.service: 1." in r.stdout, r.stdout[-1500:]
