"""Real test hosts: a Debian 12 rootfs built once, and systemd hosts started from it with podman.

The recipe is the one tried on the CI machine:

* one rootfs per package list, built with debootstrap into a temp folder and renamed into
  ``.cache/testhosts/`` when complete, so a cut build never leaves a half rootfs behind;
* every host is ``podman run --rootfs DIR:O --systemd=always --network host``: the overlay
  keeps the rootfs clean, so hosts never see each other's changes;
* sshd in each host listens on 127.0.0.1 on a port of its own. The port and the public key
  come from a small per-host folder mounted read-only at ``/etc/ssh/xpu-ops-test``, which a
  drop-in baked into the rootfs includes; sshd therefore starts on the right port at boot
  and never touches port 22 of the machine (the network namespace is the machine's).

Traffic stays on 127.0.0.1. Every wait below is bounded in time.

Use from pytest through the fixtures in ``tests/conftest.py`` (``rootfs``, ``ssh_key``,
``systemd_host``); the functions here work without pytest too::

    python -m tests.support.testhosts build       # build (or find) the cached rootfs, print its path
    python -m tests.support.testhosts clean       # remove containers left by test runs that died
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "testhosts"

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
VARIANT = "minbase"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "sudo",
            "ca-certificates")
# Bump when the post-debootstrap steps in _prepare_rootfs change: the cache key includes it.
RECIPE = "4"

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
LABEL = "xpu-ops.testhost"            # value: pid:starttime of the test process that started the host
ROOTFS_LABEL = "xpu-ops.rootfs"        # value: the rootfs folder's name (kept while a container uses it)
MOUNT = "/etc/ssh/xpu-ops-test"        # per-host sshd settings and authorized key, read-only
SSHD_DROPIN = f"""\
# xpu-ops test host: port and key come from {MOUNT} (mounted per host, read-only).
Include {MOUNT}/*.conf
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
AuthorizedKeysFile .ssh/authorized_keys {MOUNT}/authorized_keys
"""
SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
               "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10")
PORT_RANGE = (20000, 32000)            # below the kernel's ephemeral ports (32768-60999)


class TestHostError(RuntimeError):
    """A test host could not be built or started; the message says what to look at."""

    __test__ = False  # not a pytest test class


class _PortTaken(TestHostError):
    """Something else took the host's port between our pick and sshd's bind: start again."""


def _run(args: Sequence[str], *, check: bool = True, timeout: float = 120, env: Mapping | None = None,
         input: str | bytes | None = None, text: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=text, timeout=timeout, input=input,
                       env=dict(env) if env is not None else None)
    if check and r.returncode != 0:
        err = r.stderr if text else r.stderr.decode(errors="replace")
        raise TestHostError(f"{shlex.join(args)} exited {r.returncode}: {err.strip()[-2000:]}")
    return r


# --------------------------------------------------------------------------------------- rootfs

def rootfs_key(packages: Iterable[str] = PACKAGES, suite: str = SUITE, mirror: str = MIRROR,
               variant: str = VARIANT) -> str:
    """The cache key of a rootfs: everything that changes what debootstrap and we put in it."""
    spec = "\n".join([RECIPE, suite, mirror, variant, *sorted(set(packages))])
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _mounts_below(path: Path) -> list[str]:
    """Mount points at or below path (deepest first), from /proc/self/mountinfo."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == prefix or mp.startswith(prefix + "/"):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def _remove_tree(path: Path) -> None:
    """Remove a (possibly half-built) rootfs: unmount what debootstrap left mounted, stay on one fs."""
    for mp in _mounts_below(path):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


@contextlib.contextmanager
def _locked(lock_path: Path, timeout: float):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TestHostError(f"{lock_path} is held by another build for {timeout:.0f} s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _prepare_rootfs(root: Path) -> None:
    """What every host needs and that is the same for all of them: baked in once."""
    root.chmod(0o755)    # mkdtemp made it 0700: "/" must be readable by the hosts' system users
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssh/sshd_config.d/10-xpu-ops-test.conf").write_text(SSHD_DROPIN)
    (root / MOUNT.lstrip("/")).mkdir(parents=True, exist_ok=True)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    # Units that cannot work in a container on this machine and only make the boot "degraded".
    for unit in ("systemd-remount-fs.service", "getty@tty1.service", "serial-getty@.service",
                 "console-getty.service"):
        link = root / "etc/systemd/system" / unit
        if not link.exists() and not link.is_symlink():
            link.symlink_to("/dev/null")
    # Host keys: debootstrap's openssh-server made them; make sure, so every start is fast.
    if not list((root / "etc/ssh").glob("ssh_host_*_key")):
        _run(["chroot", str(root), "ssh-keygen", "-A"])
    (root / "etc/hostname").write_text("xpu-ops-testhost\n")
    (root / "etc/apt/sources.list").write_text(f"deb {MIRROR} {SUITE} main\n")


def build_rootfs(cache: Path = CACHE, packages: Iterable[str] = PACKAGES, *, log=None,
                 timeout: float = 1200) -> Path:
    """Return a ready Debian rootfs for these packages, building it (~1 min) unless cached.

    Safe against concurrent callers (a lock per key) and against cut builds (build into a
    temp folder, rename when complete). Other rootfs versions in the cache are removed.
    """
    packages = tuple(packages)
    key = rootfs_key(packages)
    final = cache / f"rootfs-{SUITE}-{key}"
    if (final / ".xpu-ops-ready").exists():
        return final
    missing = [t for t in ("debootstrap", "chroot") if not shutil.which(t)]
    if missing:
        raise TestHostError(f"{', '.join(missing)} not found: run bin/setup --test")
    if os.geteuid() != 0:
        raise TestHostError("building a rootfs needs root (debootstrap)")
    with _locked(cache / f".rootfs-{key}.lock", timeout):
        if (final / ".xpu-ops-ready").exists():
            return final
        for stale in cache.glob(f".build-{key}-*"):   # cut builds of this key (we hold its lock)
            _remove_tree(stale)
        if final.exists():                               # renamed but not marked: not trusted
            _remove_tree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=cache))
        t0 = time.monotonic()
        try:
            r = subprocess.run(["debootstrap", f"--variant={VARIANT}", f"--include={','.join(packages)}",
                                SUITE, str(tmp), MIRROR], capture_output=True, text=True, timeout=timeout)
            if r.returncode != 0:
                log_file = tmp / "debootstrap/debootstrap.log"
                tail = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else r.stderr[-1500:]
                raise TestHostError(f"debootstrap exited {r.returncode}:\n{tail}")
            _prepare_rootfs(tmp)
            (tmp / ".xpu-ops-ready").write_text(f"{' '.join(packages)}\n")
            tmp.rename(final)
        except BaseException:
            _remove_tree(tmp)
            raise
        if log:
            log(f"testhosts: built {final.name} in {time.monotonic() - t0:.1f} s")
    _prune(cache, keep=final)
    return final


def _prune(cache: Path, keep: Path) -> None:
    """Remove rootfs folders of other package lists, unless a container (any state) still uses one."""
    olds = [p for p in cache.glob(f"rootfs-{SUITE}-*") if p != keep]
    if not olds:
        return
    fmt = f'{{{{index .Labels "{ROOTFS_LABEL}"}}}}'
    r = subprocess.run(["podman", "ps", "-a", "--filter", f"label={LABEL}", "--format", fmt],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return
    in_use = set(r.stdout.split())
    for old in olds:
        if old.name not in in_use:
            lock = cache / f".rootfs-{old.name.rsplit('-', 1)[1]}.lock"
            with contextlib.suppress(TestHostError), _locked(lock, 0):
                _remove_tree(old)


# --------------------------------------------------------------------------------------- podman

def podman_env(workdir: Path) -> dict:
    """The environment for podman: the containers.conf of recipe B (runc, cgroupfs, ulimits)."""
    conf = workdir / "containers.conf"
    if not conf.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(*args: str, env: Mapping, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return _run(["podman", *args], env=env, check=check, timeout=timeout)


def _process_id(pid: int | None = None) -> str:
    """``pid:starttime`` of a process ("" if it is gone or a zombie): stays unique when pids are reused."""
    try:
        stat = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rindex(")") + 2:].split()
    return "" if fields[0] in ("Z", "X") else f"{pid or os.getpid()}:{fields[19]}"


def _owner_alive(label: str) -> bool:
    pid, _, start = label.partition(":")
    if not pid.isdigit():
        return True                        # not ours to judge
    return _process_id(int(pid)) == f"{pid}:{start}" if start else bool(_process_id(int(pid)))


def remove_orphans(env: Mapping) -> list[str]:
    """Remove test hosts whose test process is gone (a run that was killed); return their names."""
    fmt = f'{{{{.Names}}}} {{{{index .Labels "{LABEL}"}}}}'
    r = podman("ps", "-a", "--filter", f"label={LABEL}", "--format", fmt, env=env, check=False)
    gone = []
    for line in r.stdout.splitlines():
        name, _, owner = line.partition(" ")
        if owner.strip() and not _owner_alive(owner.strip()):
            podman("rm", "-f", "-t", "1", name, env=env, check=False)
            gone.append(name)
    return gone


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(tries: int = 200) -> int:
    """A port on 127.0.0.1 that nothing listens on now (random in PORT_RANGE)."""
    for _ in range(tries):
        port = random.randint(*PORT_RANGE)
        if _port_free(port):
            return port
    raise TestHostError(f"no free port on 127.0.0.1 in {PORT_RANGE} after {tries} tries")


def make_key(directory: Path) -> Path:
    """Generate an ed25519 key pair (no passphrase) in directory; return the private key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    if not key.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "xpu-ops-test", "-f", str(key)])
    return key


_names = itertools.count(1)


@dataclass
class SystemdHost:
    """One running test host. ``exec`` runs inside it (podman exec); ``ssh`` goes over sshd."""

    name: str
    port: int
    key: Path
    workdir: Path
    env: Mapping = field(repr=False)
    address: str = "127.0.0.1"
    user: str = "root"
    addresses: tuple = ()          # further loopback addresses sshd answers on (listen_addresses=)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.address}"

    @property
    def spec(self) -> str:
        """``user@host:port``, as ``invoke verify --host`` takes it."""
        return f"{self.user}@{self.address}:{self.port}"

    @property
    def ssh_args(self) -> list[str]:
        """Options for ``ssh`` (without the destination): port, key, no known_hosts, batch mode."""
        return ["-p", str(self.port), "-i", str(self.key), *SSH_OPTIONS]

    def ssh(self, command: str, *, check: bool = False, timeout: float = 60, input: str | None = None,
            options: Sequence[str] = ()) -> subprocess.CompletedProcess:
        """Run command over ssh as the host's user; options go first (ssh takes the first value)."""
        return _run(["ssh", *options, *self.ssh_args, self.destination, command], check=check,
                    timeout=timeout, input=input)

    def exec(self, cmd: str | Sequence[str], *, check: bool = False, timeout: float = 60,
             input: str | None = None) -> subprocess.CompletedProcess:
        """Run cmd in the host as root (a string goes through ``sh -c``); returns CompletedProcess."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return _run(["podman", "exec", *(["-i"] if input is not None else []), self.name, *argv],
                    env=self.env, check=check, timeout=timeout, input=input)

    def inventory_line(self, **hostvars) -> str:
        """One Ansible inventory line for this host (INI format)."""
        common = " ".join(SSH_OPTIONS[:4])        # StrictHostKeyChecking, UserKnownHostsFile
        v = {"ansible_host": self.address, "ansible_port": self.port, "ansible_user": self.user,
             "ansible_ssh_private_key_file": str(self.key), "ansible_ssh_common_args": common,
             "ansible_python_interpreter": "/usr/bin/python3", **hostvars}
        return " ".join([self.name, *(f"{k}={shlex.quote(str(val))}" for k, val in v.items())])

    def write_inventory(self, path: str | Path, vars: Mapping | None = None) -> Path:
        """An INI inventory with this host alone, in group ``testhosts``; vars go to ``[all:vars]``."""
        return write_inventory(path, [self], vars)

    def write_ssh_config(self, path: str | Path | None = None) -> Path:
        """An ssh_config with ``Host <name>`` for this host (for testinfra's ``--ssh-config``)."""
        path = Path(path) if path else self.workdir / "ssh_config"
        path.write_text(ssh_config([self]))
        return path

    def testinfra(self):
        """A testinfra host over ssh (imported only when asked for)."""
        import testinfra
        return testinfra.get_host(f"ssh://{self.name}", ssh_config=str(self.write_ssh_config()))

    def is_system_running(self, timeout: float = 90) -> str:
        """``systemctl is-system-running --wait`` in the host: running, degraded, ..."""
        r = self.exec(["systemctl", "is-system-running", "--wait"], timeout=timeout)
        return r.stdout.strip()

    def wait_ssh(self, timeout: float = 60) -> float:
        """Wait until sshd of *this* host lets us in (bounded); return the seconds waited."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        last = ""
        tries = 0
        while time.monotonic() < deadline:
            answered = False
            if not _port_free(self.port):
                try:
                    r = self.ssh(f"cat {MOUNT}/name", timeout=10, options=("-o", "ConnectTimeout=3"))
                except subprocess.TimeoutExpired:
                    last = "no answer within 10 s"
                else:
                    if r.returncode == 0 and r.stdout.strip() == self.name:
                        return time.monotonic() - t0
                    last = (r.stderr or r.stdout).strip()
                    if r.returncode == 0:
                        raise _PortTaken(f"port {self.port} answers for another host ({r.stdout.strip()!r})")
                answered = True
            tries += 1
            if (answered or tries % 10 == 0) and \
                    self.exec("systemctl is-failed --quiet ssh", timeout=20).returncode == 0:
                raise _PortTaken(f"{self.name}: sshd failed (port {self.port} taken?)\n{self.diagnostics()}")
            time.sleep(0.1)
        raise TestHostError(f"{self.name}: no ssh on 127.0.0.1:{self.port} after {timeout:.0f} s ({last})\n"
                            + self.diagnostics())

    def diagnostics(self) -> str:
        r = self.exec("systemctl --no-pager status ssh 2>&1 | tail -n 20; "
                      "systemctl --no-pager --failed 2>&1 | head -n 20", timeout=20)
        return r.stdout + r.stderr

    def stop(self) -> None:
        podman("rm", "-f", "-t", "1", self.name, env=self.env, check=False, timeout=60)


def write_inventory(path: str | Path, hosts: Sequence[SystemdHost], vars: Mapping | None = None,
                    group: str = "testhosts") -> Path:
    path = Path(path)
    lines = [f"[{group}]", *(h.inventory_line() for h in hosts)]
    if vars:
        lines += ["", "[all:vars]", *(f"{k}={shlex.quote(str(v))}" for k, v in vars.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


def ssh_config(hosts: Sequence[SystemdHost]) -> str:
    out = []
    for h in hosts:
        out += [f"Host {h.name}", f"  HostName {h.address}", f"  Port {h.port}", f"  User {h.user}",
                f"  IdentityFile {h.key}", "  IdentitiesOnly yes", "  StrictHostKeyChecking no",
                "  UserKnownHostsFile /dev/null", "  LogLevel ERROR", "  BatchMode yes", ""]
    return "\n".join(out)


# sshd keeps at most 16 listening sockets (MAX_LISTEN_SOCKS): the host's own sshd takes 127.0.0.1 and
# the first 15 extra addresses, further sshd instances (same host keys, same settings) 16 each.
SSHD_LISTEN_MAX = 16
SSHD_EXTRA = f"""\
# xpu-ops test host: one more sshd for more loopback addresses (sshd listens on at most 16).
Port {{port}}
{{listen}}
PidFile none
UsePAM yes
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 100:30:200
AuthorizedKeysFile .ssh/authorized_keys {MOUNT}/authorized_keys
"""


def loopback_addresses(n: int, first: int = 2) -> list[str]:
    """n loopback addresses 127.0.0.<first>, ... (continuing into 127.0.1.x past .254)."""
    out = []
    i = first
    while len(out) < n:
        hi, lo = divmod(i, 256)
        if 0 < lo < 255:
            out.append(f"127.0.{hi}.{lo}")
        i += 1
    return out


def _listen_files(mount: Path, port: int, addresses: Sequence[str]) -> list[str]:
    """Write sshd settings for the extra addresses into the host's mount; return the extra instances' files."""
    for old in mount.glob("extra-*.sshd_config"):
        old.unlink()
    if not addresses:
        (mount / "listen.conf").unlink(missing_ok=True)
        return []
    main, rest = list(addresses[:SSHD_LISTEN_MAX - 1]), list(addresses[SSHD_LISTEN_MAX - 1:])
    # Each address stands for one host, each with its own sshd in real life: allow the handshakes of
    # many at once (default MaxStartups 10:30:100 drops connections beyond 10 unauthenticated ones).
    (mount / "listen.conf").write_text("MaxStartups 100:30:200\n"
                                       + "".join(f"ListenAddress {a}\n" for a in main))
    files = []
    for i in range(0, len(rest), SSHD_LISTEN_MAX):
        f = mount / f"extra-{i // SSHD_LISTEN_MAX + 1}.sshd_config"
        listen = "\n".join(f"ListenAddress {a}" for a in rest[i:i + SSHD_LISTEN_MAX])
        f.write_text(SSHD_EXTRA.format(port=port, listen=listen))
        files.append(f.name)
    return files


def _start_extra_sshd(host: SystemdHost, files: Sequence[str], timeout: float) -> None:
    """Start the extra sshd instances as transient units; wait (bounded) until each lets us in."""
    for f in files:
        unit = "xpu-ops-" + f.replace(".sshd_config", "")
        host.exec(["systemd-run", f"--unit={unit}", "-p", "Restart=on-failure", "-p", "RuntimeDirectory=sshd",
                   "-p", "RuntimeDirectoryPreserve=yes", "/usr/sbin/sshd", "-D", "-f", f"{MOUNT}/{f}"],
                  check=True, timeout=30)
    probes = [host.addresses[i] for i in range(SSHD_LISTEN_MAX - 1, len(host.addresses), SSHD_LISTEN_MAX)]
    for addr in [*host.addresses[:1], *probes]:
        deadline = time.monotonic() + timeout
        while True:
            r = _run(["ssh", *host.ssh_args, "-o", "ConnectTimeout=3", f"{host.user}@{addr}", f"cat {MOUNT}/name"],
                     check=False, timeout=15)
            if r.returncode == 0 and r.stdout.strip() == host.name:
                break
            if time.monotonic() > deadline:
                raise TestHostError(f"{host.name}: no ssh on {addr}:{host.port} after {timeout:.0f} s "
                                    f"({r.stderr.strip()})\n{host.diagnostics()}")
            time.sleep(0.1)


def start_host(rootfs: Path, key: Path, workdir: Path, *, name: str | None = None, env: Mapping | None = None,
               wait: str = "ssh", timeout: float = 90, podman_args: Sequence[str] = (),
               listen_addresses: Sequence[str] = ()) -> SystemdHost:
    """Start a systemd host from rootfs (overlay), sshd on a free 127.0.0.1 port; wait for it.

    wait: "ssh" (sshd lets us in), "system" (also ``systemctl is-system-running --wait``) or "none".
    listen_addresses: more loopback addresses (``loopback_addresses(n)``) sshd answers on, same port:
    an inventory of those addresses is that many hosts for Ansible and for verify. Every
    address must be in 127.0.0.0/8 (tests talk to loopback only).
    """
    bad = [a for a in listen_addresses if not a.startswith("127.")]
    if bad:
        raise TestHostError(f"listen_addresses must be loopback (127.0.0.0/8): {bad}")
    name = name or f"xpu-ops-th-{os.getpid()}-{next(_names)}"
    env = env or podman_env(workdir)
    hostdir = workdir / name
    mount = hostdir / "mount"
    mount.mkdir(parents=True)
    pub = Path(str(key) + ".pub").read_text()
    (mount / "authorized_keys").write_text(pub)
    (mount / "authorized_keys").chmod(0o600)
    (mount / "name").write_text(name + "\n")
    mount.chmod(0o755)
    for attempt in range(5):
        port = pick_port()
        (mount / "port.conf").write_text(f"Port {port}\n")
        extra = _listen_files(mount, port, listen_addresses)
        host = SystemdHost(name=name, port=port, key=key, workdir=hostdir, env=env,
                           addresses=tuple(listen_addresses))
        try:
            podman("run", "-d", "--name", name, "--hostname", name, "--label", f"{LABEL}={_process_id()}",
                   "--label", f"{ROOTFS_LABEL}={rootfs.name}",
                   "--systemd=always", "--network", "host", "--tty=false",
                   "-v", f"{mount}:{MOUNT}:ro", *podman_args, "--rootfs", f"{rootfs}:O", "/sbin/init",
                   env=env, timeout=120)
            if wait != "none":
                host.wait_ssh(timeout)
                if listen_addresses:
                    _start_extra_sshd(host, extra, timeout)
            if wait == "system":
                state = host.is_system_running(timeout)
                if state not in ("running", "degraded"):
                    raise TestHostError(f"{name}: systemd is {state!r}\n{host.diagnostics()}")
            return host
        except _PortTaken:
            host.stop()
            if attempt == 4:
                raise
        except BaseException:
            host.stop()
            raise
    raise AssertionError("unreachable")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[0] if argv else "build"
    if cmd == "build":
        print(build_rootfs(log=print))
    elif cmd == "clean":
        with tempfile.TemporaryDirectory() as d:
            for n in remove_orphans(podman_env(Path(d))):
                print(f"removed {n}")
    else:
        print("usage: python -m tests.support.testhosts [build|clean]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
