"""Shared pytest fixtures. Test hosts (tests/support/testhosts.py): ``rootfs``, ``ssh_key``, ``systemd_host``.

Example::

    @pytest.mark.hosts
    def test_something(systemd_host, tmp_path):
        h = systemd_host()                      # started, sshd answers on 127.0.0.1:h.port
        assert h.exec("systemctl is-active ssh").stdout.strip() == "active"
        inv = h.write_inventory(tmp_path / "hosts.ini", vars={"x": 1})
        r = h.ssh("python3 -V")
"""
from __future__ import annotations

import os
import shutil

import pytest

from tests.support import testhosts as th

PCI_DEVICES = "/sys/bus/pci/devices"


def _machine_has_intel_gpu() -> bool:
    """An Intel (0x8086) display-class (0x03xxxx) PCI function on this machine's real /sys."""
    try:
        names = os.listdir(PCI_DEVICES)
    except OSError:
        return False
    for name in names:
        try:
            with open(os.path.join(PCI_DEVICES, name, "vendor")) as v:
                vendor = v.read().strip()
            with open(os.path.join(PCI_DEVICES, name, "class")) as c:
                pci_class = c.read().strip()
        except OSError:
            continue
        if vendor == "0x8086" and pci_class.startswith("0x03"):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    """Tests marked no_gpu assert verify's verdict on this machine's real /sys: skip them where a GPU is."""
    if not any(item.get_closest_marker("no_gpu") for item in items) or not _machine_has_intel_gpu():
        return
    skip = pytest.mark.skip(reason="an Intel GPU is here: the test asserts the no-GPU verdict of the CI machine")
    for item in items:
        if item.get_closest_marker("no_gpu"):
            item.add_marker(skip)



def _need_hosts_tools():
    """Skip only where test hosts cannot be made at all (not root); in CI, fail loudly instead."""
    missing = [t for t in ("podman", "debootstrap", "runc", "ssh", "ssh-keygen") if not shutil.which(t)]
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("test hosts need root (debootstrap, rootful podman)")
        pytest.skip("test hosts need root (debootstrap, rootful podman)")
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run bin/setup --test")


@pytest.fixture(scope="session")
def podman_env(tmp_path_factory):
    """Environment for podman with the CI machine's containers.conf; orphans of dead runs removed."""
    _need_hosts_tools()
    env = th.podman_env(tmp_path_factory.mktemp("podman"))
    th.remove_orphans(env)
    return env


@pytest.fixture(scope="session")
def rootfs():
    """The cached Debian 12 rootfs (built once, ~1 min, under .cache/testhosts/)."""
    _need_hosts_tools()
    return th.build_rootfs(log=print)


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory):
    """A fresh ed25519 key (private key path; the .pub sits beside it) for every test host."""
    return th.make_key(tmp_path_factory.mktemp("ssh-key"))


class _Factory:
    """``factory(wait="system"|"ssh"|"none", podman_args=(), name=None, key=None) -> SystemdHost``.

    wait="system" (default): sshd lets us in and ``systemctl is-system-running --wait`` is
    running/degraded (~0.8 s from start); "ssh": only the former (~0.6 s).
    """

    def __init__(self, rootfs, key, env, workdir):
        self.rootfs, self.key, self.env, self.workdir = rootfs, key, env, workdir
        self.hosts: list[th.SystemdHost] = []

    def __call__(self, wait: str = "system", **kw) -> th.SystemdHost:
        h = th.start_host(self.rootfs, kw.pop("key", self.key), self.workdir, env=self.env, wait=wait, **kw)
        self.hosts.append(h)
        return h

    def stop_all(self):
        for h in reversed(self.hosts):
            h.stop()
        self.hosts.clear()


def _factory(rootfs, ssh_key, podman_env, tmp_path_factory):
    f = _Factory(rootfs, ssh_key, podman_env, tmp_path_factory.mktemp("hosts"))
    try:
        yield f
    finally:
        f.stop_all()


@pytest.fixture(scope="module")
def systemd_host(rootfs, ssh_key, podman_env, tmp_path_factory):
    """Factory of systemd test hosts; each call starts one. All are removed when the module ends
    (``host.stop()`` removes one earlier). Module scope, so module fixtures can use it too."""
    yield from _factory(rootfs, ssh_key, podman_env, tmp_path_factory)


@pytest.fixture
def fresh_systemd_host(rootfs, ssh_key, podman_env, tmp_path_factory):
    """Like ``systemd_host``, but its hosts are removed when the test ends."""
    yield from _factory(rootfs, ssh_key, podman_env, tmp_path_factory)
