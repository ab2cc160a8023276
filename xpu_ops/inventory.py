"""Which hosts to verify and how to reach them: ``[user@]host[:port]``, or an Ansible inventory.

With an inventory, Ansible's own view of it (``ansible-inventory --list``) gives each host's address,
port, user, key, ssh arguments and python interpreter. Asking Ansible costs about as much as verifying a
host (a Python start and Ansible's imports, ~0.4 s), so for a static inventory file the answer -- the
connection variables only -- is kept in ``.cache/inventory/`` (0600) and asked again as soon as anything
it depends on changes (``cache_key``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

CACHE_FORMAT = "1"
# The variables verify reads from the inventory (the only ones kept in the cache).
CONNECTION_VARS = frozenset((
    "ansible_host", "ansible_ssh_host", "ansible_connection", "ansible_user", "ansible_ssh_user", "ansible_port",
    "ansible_ssh_port", "ansible_ssh_private_key_file", "ansible_private_key_file", "ansible_ssh_common_args",
    "ansible_ssh_extra_args", "ansible_python_interpreter"))


class UsageError(Exception):
    pass




@dataclass
class Target:
    """Where and how to run: ``connection`` is "ssh" or "local" (Ansible's ansible_connection=local)."""

    name: str
    host: str = ""
    user: Optional[str] = None
    port: Optional[int] = None
    key: Optional[str] = None
    ssh_args: list = field(default_factory=list)
    python: str = "python3"
    connection: str = "ssh"

    @property
    def label(self) -> str:
        if self.connection == "local":
            return self.name
        host = "[%s]" % self.host if ":" in self.host else self.host
        dest = "%s@%s" % (self.user, host) if self.user else host
        dest = dest if self.port is None else "%s:%s" % (dest, self.port)
        return dest if self.name in (self.host, dest) else "%s (%s)" % (self.name, dest)




_SPEC = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]\s]+\]|[^:@\s\[\]]+)(?::(?P<port>\d{1,5}))?$")


def parse_spec(spec: str) -> Target:
    """``[user@]host[:port]`` (IPv6 as ``[::1]:22``) -> Target."""
    m = _SPEC.match(spec or "")
    if not m:
        raise UsageError("cannot read host %r (use [user@]host[:port], or an inventory name with --inventory)"
                         % spec)
    port = int(m.group("port")) if m.group("port") else None
    if port is not None and not 0 < port < 65536:
        raise UsageError("port %d of %r is out of range" % (port, spec))
    host = m.group("host").strip("[]")
    return Target(name=spec, host=host, user=m.group("user"), port=port)


def _ansible_inventory_cmd():
    exe = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    return exe if os.access(exe, os.X_OK) else shutil.which("ansible-inventory")


def inventory_targets(inventory: str, pattern: Optional[str] = None, timeout: float = 60) -> list:
    """Hosts of an Ansible inventory matching pattern (a host, a group, any Ansible pattern; default all)."""
    if not os.path.exists(inventory):
        raise UsageError("inventory %s: no such file" % inventory)
    exe = _ansible_inventory_cmd()
    if not exe:
        raise UsageError("ansible-inventory not found (run bin/setup)")
    env = dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_NOCOLOR="1")
    checkout_cfg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ansible.cfg")
    if "ANSIBLE_CONFIG" not in env and os.path.exists(checkout_cfg):
        env["ANSIBLE_CONFIG"] = checkout_cfg
    key = cache_key(inventory, pattern, exe, env)
    hosts = _cached(key)
    if hosts is None:
        hosts = _ask_ansible(exe, inventory, pattern, env, timeout)
        _store(key, hosts)
    if not hosts:
        raise UsageError("inventory %s: no host matches %r" % (inventory, pattern or "all"))
    return [_target_from_vars(n, hv) for n, hv in sorted(hosts.items())]


def _ask_ansible(exe, inventory, pattern, env, timeout) -> dict:
    """{host: the connection variables verify reads} as ``ansible-inventory --list`` resolves them."""
    cmd = [exe, "-i", inventory, "--list"] + (["--limit", pattern] if pattern else [])
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise UsageError("ansible-inventory -i %s took more than %d s" % (inventory, timeout)) from None
    if r.returncode != 0:
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        raise UsageError("inventory %s: %s" % (inventory, lines[-1] if lines else "ansible-inventory failed"))
    data = json.loads(r.stdout or "{}")
    hostvars = data.get("_meta", {}).get("hostvars", {})
    names = set(hostvars) | _group_hosts(data, "all")
    return {n: {k: v for k, v in hostvars.get(n, {}).items() if k in CONNECTION_VARS} for n in names}


# ------------------------------------------------------------------------------------ the cache

def cache_key(inventory, pattern, exe, env) -> Optional[str]:
    """What ansible-inventory's answer depends on, hashed; None when it may change with none of it changing.

    An inventory file that is a script (executable) or names an inventory plugin (``plugin:``, e.g. a
    cloud's) is asked every time, as is a directory of them. A static file's answer depends on it, the
    group_vars/ and host_vars/ beside it (and in the current directory), the Ansible configuration file,
    the ANSIBLE_* environment variables, the pattern and the installed ansible-inventory.
    """
    inv = os.path.realpath(inventory)
    try:
        if not os.path.isfile(inv) or os.access(inv, os.X_OK):
            return None
        with open(inv, "rb") as f:
            text = f.read()
        if re.search(rb"^\s*plugin\s*:", text, re.M):
            return None
        h = hashlib.sha256(("%s\0%s\0%s\0" % (CACHE_FORMAT, inv, pattern or "")).encode() + text)
        for path in (os.path.realpath(exe), env.get("ANSIBLE_CONFIG") or ""):
            h.update(_stamp(path))
        for name in sorted(k for k in env if k.startswith("ANSIBLE_")):
            h.update(("%s=%s\0" % (name, env[name])).encode())
        for base in sorted({os.path.dirname(inv), os.getcwd()}):
            for sub in ("group_vars", "host_vars"):
                for folder, dirs, files in sorted(os.walk(os.path.join(base, sub))):
                    dirs.sort()
                    for name in sorted(files):
                        h.update(_stamp(os.path.join(folder, name)))
    except OSError:
        return None
    return h.hexdigest()[:32]


def _stamp(path) -> bytes:
    try:
        st = os.stat(path)
    except OSError:
        return ("%s\0-\0" % path).encode()
    return ("%s\0%d\0%d\0%d\0" % (path, st.st_mtime_ns, st.st_size, st.st_ino)).encode()


def _cache_file(key) -> Optional[Path]:
    if key is None:
        return None
    from xpu_ops.zipapp import default_cache_dir
    return default_cache_dir().parent / "inventory" / ("%s.json" % key)


def _cached(key) -> Optional[dict]:
    path = _cache_file(key)
    try:
        with open(path, encoding="utf-8") as f:
            hosts = json.load(f)
        return hosts if isinstance(hosts, dict) else None
    except (OSError, TypeError, ValueError):
        return None


def _store(key, hosts, keep: int = 32) -> None:
    """Write atomically, owner-only (paths and ssh arguments, no secret: CONNECTION_VARS only)."""
    path = _cache_file(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(hosts, f)
        os.replace(tmp, path)
        olds = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in olds[keep:]:
            old.unlink()
    except OSError:
        pass


def _group_hosts(data, group, seen=None):
    seen = seen if seen is not None else set()
    if group in seen:
        return set()
    seen.add(group)
    g = data.get(group, {})
    out = set(g.get("hosts", []))
    for child in g.get("children", []):
        out |= _group_hosts(data, child, seen)
    return out


def _target_from_vars(name: str, hv: dict) -> Target:
    def var(*keys):
        for k in keys:
            v = hv.get(k)
            if v not in (None, ""):
                if isinstance(v, str) and "{{" in v:
                    raise UsageError("%s: %s=%r is a template; give verify the value itself" % (name, k, v))
                return v
        return None
    t = Target(name=name, host=str(var("ansible_host", "ansible_ssh_host") or name))
    conn = var("ansible_connection")
    if conn == "local":
        t.connection = "local"
    elif conn not in (None, "ssh", "smart", "paramiko", "paramiko_ssh"):
        raise UsageError("%s: ansible_connection=%s is not supported by verify (ssh or local)" % (name, conn))
    user = var("ansible_user", "ansible_ssh_user")
    t.user = str(user) if user else None
    port = var("ansible_port", "ansible_ssh_port")
    t.port = int(port) if port else None
    key = var("ansible_ssh_private_key_file", "ansible_private_key_file")
    t.key = os.path.expanduser(str(key)) if key else None
    for k in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if var(k):
            t.ssh_args += shlex.split(str(var(k)))
    py = var("ansible_python_interpreter")
    if py and not str(py).startswith("auto"):
        t.python = str(py)
    return t
