"""`python -m xpu_ops status|metrics|serve` (and `invoke status/metrics/serve`).

status  [--json]                  PyTorch + XPU Manager, every GPU: exit 0, 1 when XPU Manager is unavailable
metrics --device-id N [--json]    one GPU's health and metrics: exit 0, 1 XPU Manager unavailable, 2 no such GPU
serve   [--host H] [--port P]     the HTTP service (uvicorn), 127.0.0.1:12788 by default

Exit 2 for usage and configuration errors: one line on stderr, never a traceback. Options win over the
environment variables (README "GPU status and metrics API"); the password is never printed.
"""

import argparse
import json
import socket
import sys
import threading
import time

from checks.foreign import clean

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE = 0, 1, 2
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 12788


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(message)


def _device_id(text):
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid device id {text!r} (a non-negative integer)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid device id {text!r} (a non-negative integer)")
    return value


def _port(text):
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"invalid port {text!r} (1-65535)")
    return value


def _xpum_options(p):
    p.add_argument("--xpum-url", help="XPU Manager URL (else $XPU_MANAGER_URL, else the upstream defaults)")
    p.add_argument("--ca-file", help="CA certificate for XPU Manager's TLS (else $XPU_MANAGER_CA_FILE)")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="do not verify XPU Manager's TLS certificate (else $XPU_MANAGER_INSECURE)")
    p.add_argument("--credentials-file", help="XPU Manager credentials: 'user:password' or KEY=VALUE lines")
    p.add_argument("--timeout", type=float, help="seconds per XPU Manager request (default 3)")
    p.add_argument("--source", choices=("auto", "xpum", "sysfs"),
                   help="telemetry from XPU Manager (xpum), the kernel's files (sysfs), or auto: XPU Manager when "
                        "it answers, else sysfs (else $XPU_OPS_SOURCE, else auto)")
    p.add_argument("--root", help="host tree the sysfs source reads (else $XPU_OPS_ROOT, else /)")


def parser():
    p = _Parser(prog="xpu-ops", description="GPU status and metrics: PyTorch + Intel XPU Manager.")
    sub = p.add_subparsers(dest="command", metavar="{status,metrics,serve}", parser_class=_Parser)
    st = sub.add_parser("status", help="PyTorch and XPU Manager view of every GPU")
    st.add_argument("--json", action="store_true", help="print the JSON of GET /api/v1/analytics/gpu/status")
    _xpum_options(st)
    st.add_argument("--python", help="interpreter whose PyTorch to probe (else $XPU_OPS_PYTHON, else this one)")
    st.add_argument("--torch-timeout", type=float, help="seconds for the PyTorch probe (default 60)")
    me = sub.add_parser("metrics", help="health and metrics of one GPU")
    me.add_argument("--device-id", type=_device_id, default=0, help="XPU Manager's GPU id (default 0)")
    me.add_argument("--json", action="store_true", help="print the JSON of GET /api/v1/analytics/gpu/metrics")
    _xpum_options(me)
    se = sub.add_parser("serve", help="run the HTTP service (uvicorn)")
    se.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    se.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    se.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    se.add_argument("--source", choices=("auto", "xpum", "sysfs"), help="telemetry source (see status --help)")
    se.add_argument("--root", help="host tree the sysfs source reads (else $XPU_OPS_ROOT, else /)")
    return p


def _settings(a):
    from xpu_ops.monitor import Settings

    return Settings.from_env(url=getattr(a, "xpum_url", None), credentials_file=getattr(a, "credentials_file", None),
                             ca_file=getattr(a, "ca_file", None), insecure=getattr(a, "insecure", None),
                             timeout=getattr(a, "timeout", None), python=getattr(a, "python", None),
                             torch_timeout=getattr(a, "torch_timeout", None), source=getattr(a, "source", None),
                             root=getattr(a, "root", None))


# --------------------------------------------------------------------------- rendering


def _num(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def _mem(m):
    if m.get("memory_used") is None and m.get("memory_total") is None:
        return "-"
    return f"{_num(m.get('memory_used'), '{:.0f}')} / {_num(m.get('memory_total'), '{:.0f}')}"


def _table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def render_status(st) -> str:
    t, x = st["pytorch_gpu"], st["xpu_manager"]
    lines = []
    torch = f"torch {t['torch_version']}" if t.get("torch_version") else "PyTorch"
    if t["available"]:
        lines.append(f"PyTorch      {torch}: {t['count']} XPU device(s): {', '.join(t['names'])}; "
                     f"use device {t['device']}")
    else:
        lines.append(f"PyTorch      {torch}: no XPU: {t.get('reason')}; use device {t['device']}")
    ipex = "not installed" if not t.get("ipex_version") else (
        f"{t['ipex_version']} (matches torch)" if t["intel_extension"] else f"{t['ipex_version']} (NOT usable)")
    lines.append(f"IPEX         {ipex}")
    tel = st.get("telemetry") or {}
    if tel.get("source") == "sysfs":
        lines.append(f"XPU Manager  not available: {x.get('reason')}")
        return "\n".join(lines) + "\n" + render_sysfs(tel)
    if not x["available"]:
        lines.append(f"XPU Manager  not available: {x.get('reason')}")
        return "\n".join(lines) + "\n"
    version = f" {x['version']}" if x.get("version") else ""
    lines.append(f"XPU Manager  {x['line']}{version} at {x['url']}: {len(x['gpus'])} GPU(s)  "
                 f"(as of {st['timestamp']})")
    if x["gpus"]:
        lines += ["", _gpu_rows(x["gpus"])]
        for g in x["gpus"]:
            if g.get("reason"):
                lines.append(f"GPU {g['device_id']}: {g['reason']}")
            for name, c in g["health"]["components"].items():
                if str(c.get("status", "")).lower() not in ("ok", "unknown", "", "none"):
                    lines.append(f"GPU {g['device_id']}: {name} {c['status']}: {c.get('description') or ''}".rstrip())
    return "\n".join(lines) + "\n"


def _gpu_rows(gpus):
    rows = [("ID", "NAME", "BDF", "HEALTH", "UTIL %", "MEM MiB used/total", "TEMP C", "POWER W")]
    for g in gpus:
        m, h = g["metrics"], g["health"]
        rows.append((g["device_id"], g.get("device_name") or "?", g.get("pci_bdf_address") or "-", h["status"],
                     _num(m["gpu_utilization"]), _mem(m), _num(m["temperature"]), _num(m["power_usage"])))
    return _table(rows)


def render_sysfs(tel) -> str:
    """The telemetry part when the kernel's files (sysfs) are the source."""
    gpus = tel.get("gpus") or []
    lines = [f"Telemetry    sysfs (hwmon, GT frequency, DRM fdinfo) under {tel.get('root')}: {len(gpus)} GPU(s)  "
             f"(as of {tel.get('timestamp')})"]
    if not gpus:
        return "\n".join(lines + [f"             {tel.get('reason')}"]) + "\n"
    lines += ["", _gpu_rows(gpus)]
    for g in gpus:
        for key, why in (g.get("unavailable") or {}).items():
            lines.append(f"GPU {g['device_id']}: {key}: {why}")
        for note in g.get("notes") or []:
            lines.append(f"GPU {g['device_id']}: {note}")
    return "\n".join(lines) + "\n"


def _units():
    from checks.xpum.metrics import UNITS  # (key, unit) of every metric, from the metric table

    return UNITS


def render_metrics(body, gpu=None) -> str:
    h, m = body["health"], body["metrics"]
    name = f" {gpu.get('device_name')} ({gpu.get('pci_bdf_address')})" if gpu else ""
    lines = [f"GPU {body['device_id']}{name}, as of {body['timestamp']}",
             f"{'health':<21}{h['status']}"]
    for comp, c in h["components"].items():
        lines.append(f"  {comp:<18} {c.get('status')}: {c.get('description') or ''}".rstrip())
    for key, unit in _units():
        v = m.get(key)
        lines.append(f"{key:<21}{'-' if v is None else f'{v:.2f} {unit}'}")
    if m.get("tiles"):
        rows = [("TILE", "UTIL %", "MEM MiB", "TEMP C", "MEM TEMP C", "POWER W", "FREQ MHz")]
        for t in m["tiles"]:
            rows.append((t["tile_id"], _num(t["gpu_utilization"]), _num(t["memory_used"], "{:.0f}"),
                         _num(t["temperature"]), _num(t["memory_temperature"]), _num(t["power_usage"]),
                         _num(t["frequency"], "{:.0f}")))
        lines += ["", _table(rows)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- commands


def cmd_status(a, out):
    from xpu_ops.monitor import XPUMonitorService

    st = XPUMonitorService(settings=_settings(a)).get_status()
    out.write(json.dumps(st, indent=2) + "\n" if a.json else clean(render_status(st)))  # upstream's words: no escapes
    return EXIT_OK if st["telemetry"]["available"] else EXIT_UNAVAILABLE


def _json_error(a, out, code, detail):
    """With --json, stdout stays JSON: the error object the HTTP API answers (404/503) for the same failure."""
    if a.json:
        out.write(json.dumps({"error": code, "detail": " ".join(str(detail).split())}, indent=2) + "\n")


def cmd_metrics(a, out):
    from xpu_ops.monitor import GPUNotFound, XPUManagerUnavailable, XPUMonitorService

    monitor = XPUMonitorService(settings=_settings(a))
    try:
        body = monitor.get_gpu_status(a.device_id)
    except GPUNotFound as e:
        print(f"xpu-ops metrics: error: {e}", file=sys.stderr)
        _json_error(a, out, "not_found", e)
        return EXIT_USAGE
    except XPUManagerUnavailable as e:
        print(f"xpu-ops metrics: XPU Manager is not available ({e.kind}): {clean(str(e))}", file=sys.stderr)
        _json_error(a, out, "xpu_manager_unavailable", f"XPU Manager is not available ({e.kind}): {e}")
        return EXIT_UNAVAILABLE
    if a.json:
        out.write(json.dumps(body, indent=2) + "\n")
    else:
        gpu = next((g for g in monitor.get_gpu_list() if g["device_id"] == a.device_id), None)
        out.write(clean(render_metrics(body, gpu)))
    return EXIT_OK


def bind(host, port):
    """A listening socket, or ConfigError with one line (address in use, no such address)."""
    from xpu_ops.monitor import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ConfigError(f"cannot use --host {host}: {e.strerror}") from None
    family, socktype, proto, _, addr = infos[0]
    # proto IPPROTO_TCP, as getaddrinfo says: asyncio sets TCP_NODELAY on accepted connections only then
    # (with proto 0 every keep-alive response waits ~40 ms for a delayed ACK)
    sock = socket.socket(family, socktype, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """uvicorn serving ``app`` from a thread on an already bound socket (tests, the benchmark).
    ``with BackgroundServer(app) as s: httpx.get(s.url + "/api/v1/health")``."""

    def __init__(self, app, host="127.0.0.1", port=0, log_level="warning", **limits):
        import uvicorn

        from xpu_ops.http_limits import uvicorn_config

        self.sock = bind(host, port)
        self.url = "http://%s:%d" % (host, self.sock.getsockname()[1])
        self.server = uvicorn.Server(uvicorn_config(app, log_level=log_level, lifespan="on", **limits))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def _loopback(address):
    import ipaddress

    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def cmd_serve(a, out):
    settings = _settings(a)  # a configuration error stops here, before anything listens
    sock = bind(a.host, a.port)
    import uvicorn

    from xpu_ops.http_limits import uvicorn_config
    from xpu_ops.monitor import XPUMonitorService, reset_xpu_monitor_service
    from xpu_ops.service import app

    reset_xpu_monitor_service(XPUMonitorService(settings=settings))

    shown = f"[{a.host}]" if ":" in a.host else a.host
    if not _loopback(sock.getsockname()[0]):
        print(f"xpu-ops: warning: --host {a.host} makes the API reachable from other machines, and it has no "
              f"authentication: keep it on 127.0.0.1, or put a reverse proxy with TLS and authentication in front "
              f"(docs/api.md)", file=sys.stderr, flush=True)
    print(f"xpu-ops: serving the GPU status and metrics API on http://{shown}:{sock.getsockname()[1]} "
          f"(OpenAPI at /openapi.json)", file=sys.stderr, flush=True)
    config = uvicorn_config(app, log_level=a.log_level, access_log=a.log_level == "debug", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
    return EXIT_OK


def main(argv=None, out=None):
    from xpu_ops.monitor import ConfigError

    out = out or sys.stdout
    p = parser()
    try:
        a = p.parse_args(argv)
        if a.command is None:
            raise _Usage("give a command: status, metrics or serve")
        return {"status": cmd_status, "metrics": cmd_metrics, "serve": cmd_serve}[a.command](a, out)
    except _Usage as e:
        print(f"xpu-ops: error: {e} (see --help)", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as e:
        print(f"xpu-ops: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xpu-ops: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
