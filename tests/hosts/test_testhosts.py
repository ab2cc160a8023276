"""The test hosts themselves: systemd comes up, sshd answers on its own port, hosts are isolated."""
import time

import pytest

from tests.support import testhosts as th

pytestmark = pytest.mark.hosts


def test_rootfs_key_follows_package_list():
    assert th.rootfs_key(th.PACKAGES) == th.rootfs_key(reversed(th.PACKAGES))
    assert th.rootfs_key(th.PACKAGES) != th.rootfs_key((*th.PACKAGES, "curl"))


def test_rootfs_is_complete_and_clean(rootfs):
    assert (rootfs / ".xpu-ops-ready").is_file()
    assert (rootfs / "usr/bin/python3").exists() and (rootfs / "lib/systemd/systemd").exists()
    assert (rootfs.stat().st_mode & 0o777) == 0o755
    assert not list(rootfs.parent.glob(".build-*")), "a build folder was left behind"


def test_systemd_host_comes_up(fresh_systemd_host, tmp_path):
    t0 = time.monotonic()
    h = fresh_systemd_host()
    up = time.monotonic() - t0
    state = h.is_system_running(timeout=60)
    print(f"\nhost start: ssh answers after {up:.2f} s, systemd {state} after {time.monotonic() - t0:.2f} s")
    assert state in ("running", "degraded"), h.diagnostics()
    r = h.ssh("systemctl is-active ssh; id -un; cat /etc/debian_version; python3 -c 'print(6*7)'")
    assert r.returncode == 0, r.stderr
    active, user, version, answer = r.stdout.split()
    assert (active, user, answer) == ("active", "root", "42")
    assert version.startswith("12.")
    assert h.exec(["hostname"]).stdout.strip() == h.name
    # sshd listens on loopback only, on this host's port, not on the machine's port 22.
    r = h.exec(f"grep -h -i -E '^(port|listenaddress)' /etc/ssh/sshd_config.d/*.conf {th.MOUNT}/*.conf")
    assert sorted(r.stdout.split()) == sorted(["ListenAddress", "127.0.0.1", "Port", str(h.port)])
    inv = h.write_inventory(tmp_path / "hosts.ini", vars={"greeting": "hello world"})
    text = inv.read_text()
    assert f"ansible_port={h.port}" in text and "greeting='hello world'" in text


def test_two_hosts_from_one_rootfs_are_isolated(fresh_systemd_host, rootfs):
    a, b = fresh_systemd_host(), fresh_systemd_host()
    assert a.port != b.port and a.name != b.name
    assert a.exec("echo from-a > /etc/marker && useradd alice && rm /usr/bin/sudo").returncode == 0
    assert a.exec("cat /etc/marker").stdout.strip() == "from-a"
    assert b.exec("test ! -e /etc/marker && ! id alice && test -e /usr/bin/sudo").returncode == 0
    r = b.ssh(f"cat {th.MOUNT}/name; test ! -e /etc/marker")
    assert r.returncode == 0 and r.stdout.strip() == b.name
    assert not (rootfs / "etc/marker").exists() and (rootfs / "usr/bin/sudo").exists()


def test_stopped_host_is_gone(fresh_systemd_host):
    h = fresh_systemd_host(wait="ssh")
    h.stop()
    r = th.podman("ps", "-a", "--filter", f"name=^{h.name}$", "--format", "{{.Names}}", env=h.env)
    assert r.stdout.strip() == ""
    assert th._port_free(h.port)


def test_port_taken_after_the_pick_starts_again(fresh_systemd_host, monkeypatch):
    """Another program binds the picked port before sshd does: the host comes up on another port."""
    import socket
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real, picks = th.pick_port, []

        def pick():
            picks.append(1)
            return taken if len(picks) == 1 else real()
        monkeypatch.setattr(th, "pick_port", pick)
        h = fresh_systemd_host(wait="ssh")
    assert len(picks) == 2 and h.port != taken
    assert h.ssh("true").returncode == 0
