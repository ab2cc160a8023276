"""Shared pytest fixtures. Test hosts (tests/testhosts.py): ``rootfs``, ``ssh_key``, ``systemd_host``.

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

try:
    from tests import testhosts as th
except ImportError:  # tests/ on sys.path (pytest's rootdir-less import mode)
    import testhosts as th


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
