"""XPU Manager presence on the host: its binaries, its systemd units, and its containers as a local
Docker-compatible engine reports them through its API socket (no CLI spawned). One job: the facts behind
xpum.service and xpum.exposure."""
import os
import re

XPUM_IMAGE_PATTERN = r"xpumanager|xpumd|xpu-manager"  # compiled where used: most runs never need it


def service_facts(root, timeout=2.0, env=None):
    binaries = {b: root.exists(b) for b in ("/usr/bin/xpumd", "/usr/bin/xpumcli", "/usr/bin/xpu-smi",
                                            "/usr/local/bin/xpumd")}
    units = {}
    for unit in ("xpum.service", "xpum_rest.service"):
        files = [d for d in ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
                 if root.exists(d + "/" + unit)]
        wants = root.lexists("/etc/systemd/system/multi-user.target.wants/" + unit)
        units[unit] = {"installed": bool(files), "enabled": wants, "active": None}
    systemd = root.is_dir("/run/systemd/system")
    installed = [u for u in units if units[u]["installed"]]
    if root.is_real and systemd and installed and _which("systemctl"):
        states = _run(["systemctl", "is-active"] + installed, timeout).split()
        for unit, state in zip(installed, states):
            units[unit]["active"] = state
    return {"binaries": binaries, "units": units, "systemd": systemd,
            "containers": _containers(root, timeout, env if env is not None else os.environ)}


def _which(cmd):
    return any(os.access(os.path.join(d, cmd), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep) if d)


def _run(argv, timeout):
    import subprocess
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        return r.stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def engine_sockets(env):
    """Docker-compatible engine API sockets on this host: $DOCKER_HOST (unix://), docker's, podman's."""
    cands = []
    dh = env.get("DOCKER_HOST", "")
    if dh.startswith("unix://"):
        cands.append(dh[len("unix://"):])
    cands += ["/var/run/docker.sock", "/run/podman/podman.sock"]
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg:
        cands.append(xdg + "/podman/podman.sock")
    seen, out = set(), []
    for c in cands:
        if c not in seen and os.path.exists(c):
            seen.add(c)
            out.append(c)
    return out


def _engine_get(sock, path, timeout):
    """GET path over the engine's unix socket (Docker API; podman serves it too) -> JSON, or None."""
    import http.client
    import json
    import socket

    class _Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(sock)

    conn = _Conn("localhost", timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        if resp.status != 200:
            return None
        return json.loads(resp.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def _engine_containers(sock, timeout):
    """GET /containers/json?all=1 over the engine's unix socket."""
    return _engine_get(sock, "/containers/json?all=1", timeout)


# Environment of an XPU Manager container that decides its exposure; no other value is kept (passwords).
XPUM_EXPOSURE_ENV = ("XPUM_REST_HOST", "XPUM_REST_PORT", "XPUM_REST_NO_TLS", "XPUM_EXPORTER_NO_AUTH",
                     "XPUM_EXPORTER_ONLY", "XPUM_REST_DISABLE")


def _container_details(sock, cid, timeout):
    """GET /containers/<id>/json: health, privileges, published ports, the XPUM_* switches (nothing else)."""
    d = _engine_get(sock, "/containers/%s/json" % cid, timeout)
    if not isinstance(d, dict):
        return None
    state, host, config = d.get("State") or {}, d.get("HostConfig") or {}, d.get("Config") or {}
    health = (state.get("Health") or state.get("Healthcheck") or {}).get("Status") or None
    ports = []
    for cport, binds in sorted((host.get("PortBindings") or {}).items()):
        for b in binds or [{}]:
            ports.append({"container_port": cport, "host_ip": (b or {}).get("HostIp") or "",
                          "host_port": (b or {}).get("HostPort") or ""})
    env = {}
    for item in config.get("Env") or []:
        k, _, v = str(item).partition("=")
        if k in XPUM_EXPOSURE_ENV:
            env[k] = v
    return {"health": health, "privileged": bool(host.get("Privileged")), "network_mode": host.get("NetworkMode") or "",
            "ports": ports, "env": env, "cap_add": list(host.get("CapAdd") or []),
            "devices": [x.get("PathOnHost") for x in host.get("Devices") or [] if isinstance(x, dict)]}


def _containers(root, timeout, env):
    """XPU Manager containers known to a local engine, asked through its API socket (no CLI spawned)."""
    if not root.is_real:
        return None
    found, engines = [], []
    xpum_image = re.compile(XPUM_IMAGE_PATTERN, re.I)
    for sock in engine_sockets(env):
        rows = _engine_containers(sock, timeout)
        if rows is None:
            continue
        engines.append(sock)
        for c in rows:
            names = [n.lstrip("/") for n in c.get("Names") or []]
            image = c.get("Image") or ""
            if xpum_image.search(image) or any(xpum_image.search(n) for n in names):
                found.append({"engine": sock, "name": names[0] if names else c.get("Id", "")[:12],
                              "image": image, "state": c.get("State"), "status": c.get("Status") or "",
                              "id": (c.get("Id") or "")[:12],
                              "inspect": _container_details(sock, c.get("Id") or names[0], timeout)})
    return {"engines": engines, "xpum": found}
