"""Test stand-ins for Intel XPU Manager: a 1.x REST server and a 2.x Prometheus exporter.

For tests only; nothing in the product defaults to these. Each stand-in is a real HTTP(S)
server on 127.0.0.1 with an ephemeral port, serving from a background thread, usable as a
context manager (``with Xpum1Rest() as srv: ...``) or through ``start()``/``stop()``.

They are built on the standard library (``http.server.ThreadingHTTPServer`` + ``ssl``) rather
than Flask/uvicorn so that a test has full control over misbehaviour: answers that hang, come
late, are not JSON, or fail with 500. TLS certificates come from ``trustme`` (a throwaway CA and
a server certificate for 127.0.0.1/localhost); ``srv.ca_file`` is the CA PEM to verify against.

What the 1.x stand-in copies from upstream ``rest/xpum_rest_main.py`` (branch master/flex_max):

* ``GET /rest/v1/version`` needs no auth; everything else is HTTP Basic checked against a
  ``rest.conf`` text exactly as upstream does (configparser ``[default]`` username/salt/password,
  ``pbkdf2_hmac('sha512', pw, salt, 10000).hex()``, ``disableAuth = true``).
* Every failed login (including a request without credentials: flask-httpauth calls the
  verifier with empty strings) increments a counter capped at 8 and sleeps ``2**n`` *units*
  before the 401; a good login decrements it. ``login_sleep_unit`` (default 0.01 s) scales the
  upstream second so tests stay fast while the growth stays observable.
* Routes use Flask's ``<int:deviceId>``: a non-integer or negative id does not match any route
  and gets Flask's HTML 404 page (not a JSON error). Unknown integer ids answer like upstream:
  ``/devices/<id>`` 404 ``{"Status": 1, "Message": "Device not found"}``, ``/health`` 404
  ``{"Status": 1, "Message": "device not found"}``, ``/stats`` **400** ``{"message": "device not found"}``.
* ``XPUM_EXPORTER_NO_AUTH=1`` (``exporter_no_auth=True``): ``/metrics`` and ``/healtz`` open; upstream
  then never reads rest.conf, so every other authenticated route fails with a 500 (NameError).
  ``XPUM_EXPORTER_ONLY=1`` (``exporter_only=True``): only version, ``/metrics`` and ``/healtz`` exist.
* Stats values are in upstream units: POWER W, ENERGY mJ, GPU_FREQUENCY MHz, temperatures C,
  MEMORY_USED bytes, utilizations %. ``tile_level`` is present only for multi-tile GPUs.
* Connections are kept alive and closed after ``keep_alive`` (2) idle seconds, as upstream's unit runs it:
  gunicorn ``--worker-class gthread`` (``rest/xpum_rest.service.template.in``, v1.3.x @
  b10db2fa9e8092d7b01545f6bc2c0b60f4fc3c28), whose ``keepalive`` setting defaults to 2 s (gunicorn docs,
  settings: keepalive). ``keep_alive=None`` closes every response.
* Failed logins sleep real seconds (``login_sleep_unit`` 1.0, upstream ``time.sleep(2 ** login_failure_count)``).
* ``/stats`` gauges carry a ``value`` (the latest sample) that differs from ``avg`` (the window's mean);
  ``XPUM_STATS_ENERGY`` ``value`` is the energy used since the previous ``/stats`` query of that GPU by any client
  (mJ): the configured value on the first query, then power x the time since the previous one.
  The 1.x exporter (``/metrics``) publishes the ``avg`` of gauges (its default).

The 2.x stand-in serves only ``GET /metrics`` (OpenTelemetry names as Prometheus text), in the shapes of
tests/fixtures/upstream/xpumanager-2.x (see SOURCE.md there): ``com_intel_subdevice_id`` "" on device-level series,
``statistic="max"`` temperatures, ``hw_memory_location="device"``, ``hw_status`` reset_needed always reported and
problem states only once active.
"""

from __future__ import annotations

import base64
import collections
import configparser
import copy
import dataclasses
import hashlib
import http.server
import json
import os
import socket
import ssl
import tempfile
import threading
import time
from typing import Any
from urllib.parse import urlsplit

HEALTH_COMPONENTS = ("core_temperature", "memory_temperature", "power", "memory", "xe_link_port", "frequency")
DEFAULT_USER = "xpumadmin"
DEFAULT_PASSWORD = "stand-in-Passw0rd"
DEFAULT_SALT = "Ab3dEf9hIj2L"
VERSION_1X = {"xpum_version": "1.2.41", "xpum_version_git": "a1b2c3d4", "level_zero_version": "1.17.6"}
MIB = 1024 * 1024
GIB = 1024 * MIB

FLASK_404 = (
    "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.</p>\n"
)
FLASK_500 = (
    "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    "<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to "
    "complete your request. Either the server is overloaded or there is an error in the "
    "application.</p>\n"
)
GARBAGE = b"<html><body>upstream proxy says hello</body></html>\x00\xff not json"

# Counters in 1.x stats carry only "value" (isCounter in upstream statistics.py).
_COUNTER_STATS = ("XPUM_STATS_ENERGY", "XPUM_STATS_RAS_ERROR_CAT_")


# --------------------------------------------------------------------------- GPU descriptions


@dataclasses.dataclass
class Gpu:
    """One GPU as both stand-ins see it. Values are in upstream 1.x units.

    ``stats``: device-level ``{"XPUM_STATS_*": value}``; ``tiles``: one such dict per tile (empty
    for a single-tile GPU, like upstream, which then omits ``tile_level``). A metric that is not
    in the dict is "not reported" (e.g. no MEMORY_TEMPERATURE on Arc). ``health``: component ->
    ``"OK"|"Warning"|"Critical"|"Unknown"``. ``raw_stats``: served verbatim as ``/stats`` (with
    ``device_id`` patched) instead of the dicts, e.g. an upstream sample.
    """

    name: str
    pci_device_id: str  # "0x56a0"
    bdf: str  # "0000:03:00.0"
    memory_bytes: int = 16 * GIB
    stats: dict = dataclasses.field(default_factory=dict)
    tiles: list = dataclasses.field(default_factory=list)
    health: dict = dataclasses.field(default_factory=dict)
    serial: str = "LQAC12345678"
    firmware: str = "DG02_2.2400"
    driver_version: str = "1.3.29735"
    kernel_version: str = "6.8.0-45-generic"
    drm_device: str = "/dev/dri/card1"
    gpu_type: str = "discrete"
    function_type: str = "physical"
    uuid: str = ""
    vanish_after_list: bool = False  # disappears right after the first /devices (or /metrics) listing
    raw_stats: dict | None = None
    hw_status: dict | None = None  # 2.x override: {"gpu": "ok", "memory": "warning", ...}
    errors_total: int = 0

    def __post_init__(self):
        self.pci_device_id = f"0x{int(self.pci_device_id, 16):04x}"
        self.bdf = self.bdf.lower()
        if not self.uuid:
            dom, bus, devfn = self.bdf.split(":")
            dev, fn = devfn.split(".")
            dom_n, bus_n, devfn_n = int(dom, 16), int(bus, 16), int(dev, 16) * 8 + int(fn)
            self.uuid = f"00000000-{dom_n:04x}-{bus_n:04x}-{devfn_n:04x}-{self.pci_device_id[2:]}00008086"
        full = {c: "OK" for c in HEALTH_COMPONENTS}
        full.update(self.health)
        self.health = full

    @property
    def tile_count(self) -> int:
        return max(1, len(self.tiles))

    def metric(self, name: str, tile: int | None = None):
        src = self.stats if tile is None else self.tiles[tile]
        return src.get("XPUM_STATS_" + name)


def _single_tile_stats(power, energy_mj, freq, core_temp, mem_used, util, mem_util, mem_temp=None):
    d = {
        "XPUM_STATS_POWER": power,
        "XPUM_STATS_ENERGY": energy_mj,
        "XPUM_STATS_GPU_FREQUENCY": freq,
        "XPUM_STATS_GPU_CORE_TEMPERATURE": core_temp,
        "XPUM_STATS_MEMORY_USED": mem_used,
        "XPUM_STATS_GPU_UTILIZATION": util,
        "XPUM_STATS_MEMORY_UTILIZATION": mem_util,
        "XPUM_STATS_RAS_ERROR_CAT_RESET": 0,
        "XPUM_STATS_RAS_ERROR_CAT_DRIVER_ERRORS": 0,
    }
    if mem_temp is not None:
        d["XPUM_STATS_MEMORY_TEMPERATURE"] = mem_temp
    return d


def arc_a770(bdf: str = "0000:03:00.0", **kw) -> Gpu:
    """Arc A770 16 GB: single tile, no memory temperature sensor (field absent, health Unknown)."""
    kw.setdefault("stats", _single_tile_stats(35.5, 1234567, 2400, 45.0, 1 * GIB, 12.5, 6.25))
    kw["health"] = {"memory_temperature": "Unknown", "xe_link_port": "Unknown", **kw.get("health", {})}
    kw.setdefault("firmware", "DG02_1.3267")
    return Gpu(
        name="Intel(R) Arc(TM) A770 Graphics", pci_device_id="0x56a0", bdf=bdf, memory_bytes=16 * GIB, **kw
    )


def flex_170(bdf: str = "0000:4d:00.0", **kw) -> Gpu:
    """Data Center GPU Flex 170: single tile, with memory temperature."""
    kw.setdefault("stats", _single_tile_stats(78.0, 9876543, 2050, 52.0, 2 * GIB, 40.0, 12.5, mem_temp=48.0))
    kw["health"] = {"xe_link_port": "Unknown", **kw.get("health", {})}
    kw.setdefault("firmware", "ATS-M_1.0.3")
    return Gpu(
        name="Intel(R) Data Center GPU Flex 170", pci_device_id="0x56c0", bdf=bdf, memory_bytes=16 * GIB, **kw
    )


def max_1550(bdf: str = "0000:29:00.0", **kw) -> Gpu:
    """Data Center GPU Max 1550: two tiles; device level has only POWER and ENERGY (like the
    upstream sample), the rest is per tile. Values are those of the upstream stats sample."""

    def tile(power, energy, freq, temp, used, util, mem_temp):
        return {
            "XPUM_STATS_POWER": power,
            "XPUM_STATS_ENERGY": energy,
            "XPUM_STATS_GPU_FREQUENCY": freq,
            "XPUM_STATS_GPU_CORE_TEMPERATURE": temp,
            "XPUM_STATS_MEMORY_USED": used,
            "XPUM_STATS_MEMORY_BANDWIDTH": 0,
            "XPUM_STATS_GPU_UTILIZATION": util,
            "XPUM_STATS_RAS_ERROR_CAT_RESET": 0,
            "XPUM_STATS_MEMORY_TEMPERATURE": mem_temp,
        }

    kw.setdefault("stats", {"XPUM_STATS_POWER": 63.26, "XPUM_STATS_ENERGY": 16169744})
    kw.setdefault(
        "tiles",
        [
            tile(24.12, 6159791, 400, 37.0, 8501719040, 100.0, 38.0),
            tile(8.78, 2243484, 300, 37.0, 148901888, 0.0, 35.0),
        ],
    )
    kw.setdefault("firmware", "PVC2_1.23166")
    return Gpu(
        name="Intel(R) Data Center GPU Max 1550",
        pci_device_id="0x0bd5",
        bdf=bdf,
        memory_bytes=128 * GIB,
        **kw,
    )


PRESETS = {"arc_a770": arc_a770, "flex_170": flex_170, "max_1550": max_1550}


def default_gpus() -> list:
    return [arc_a770()]


# --------------------------------------------------------------------------- TLS

_TLS_LOCK = threading.Lock()
_TLS: dict = {}


def tls_material() -> dict:
    """One trustme CA + server cert (127.0.0.1, localhost, ::1) per process.

    Returns {"ca_file", "cert_file", "key_file", "other_ca_file"}; ``other_ca_file`` is an unrelated
    CA, handy for "wrong CA" tests."""
    with _TLS_LOCK:
        if not _TLS:
            import trustme

            d = tempfile.mkdtemp(prefix="xpum-standin-tls-")
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
            other = trustme.CA()
            paths = {
                k: os.path.join(d, k + ".pem") for k in ("ca_file", "cert_file", "key_file", "other_ca_file")
            }
            ca.cert_pem.write_to_path(paths["ca_file"])
            cert.cert_chain_pems[0].write_to_path(paths["cert_file"])
            for extra in cert.cert_chain_pems[1:]:
                extra.write_to_path(paths["cert_file"], append=True)
            cert.private_key_pem.write_to_path(paths["key_file"])
            other.cert_pem.write_to_path(paths["other_ca_file"])
            _TLS.update(paths)
        return dict(_TLS)


# --------------------------------------------------------------------------- rest.conf (upstream logic)


def upstream_hash(password: str, salt: str) -> str:
    """Exactly upstream's hash (ASCII-encoded password and salt)."""
    return hashlib.pbkdf2_hmac("sha512", password.encode("ASCII"), salt.encode("ASCII"), 10000).hex()


def standin_rest_conf(
    password: str = DEFAULT_PASSWORD,
    username: str = DEFAULT_USER,
    salt: str = DEFAULT_SALT,
    disable_auth: bool = False,
) -> str:
    """A rest.conf written here (independently of checks.restconf), for the stand-in's default."""
    text = f"[default]\nusername = {username}\nsalt = {salt}\npassword = {upstream_hash(password, salt)}\n"
    if disable_auth:
        text += "disableAuth = true\n"
    return text


def _read_rest_conf(text: str):
    """Mirror of upstream read_config(): KeyError on a missing key, like upstream."""
    config = configparser.ConfigParser()
    config.read_string(text)
    user = config["default"]["username"]
    salt = config["default"]["salt"]
    pw_hash = config["default"]["password"]
    disable = False
    if config["default"].get("disableAuth") and config["default"]["disableAuth"].upper() == "TRUE":
        disable = True
    return user, salt, pw_hash, disable


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, handler, standin):
        self.standin = standin
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread, so a client that never handshakes blocks nobody.
        ctx = self.standin._ssl_ctx
        if ctx is not None:
            try:
                request.settimeout(10)
                request = ctx.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                self.standin.tls_failures += 1
                return
        try:
            super().finish_request(request, client_address)
        finally:
            if ctx is not None:
                try:
                    request.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):  # keep test output quiet
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gunicorn"
    sys_version = ""

    def log_message(self, format, *args):
        pass

    def setup(self):
        keep = self.server.standin.keep_alive
        if keep:
            self.timeout = keep  # an idle kept-alive connection is closed after this many seconds, like gunicorn's
        super().setup()

    def _dispatch(self):
        st = self.server.standin
        path = urlsplit(self.path).path
        with st._lock:
            st.hits[path] += 1
            st.requests.append((self.command, path))
        if st.delay:
            st._stopping.wait(st.delay)
        if st.hang:
            st._stopping.wait(st.hang_seconds)
            self.close_connection = True
            return
        if st.force_status:
            return self.send(st.force_status, FLASK_500, "text/html; charset=utf-8")
        if st.garbage:
            return self.send(200, GARBAGE, "application/json")
        # the request body is read here, whatever the route does with it, so that a kept-alive connection
        # stays in step (a route reads it from self.rfile as before)
        import io

        length = self.headers.get("Content-Length") or ""
        data = self.rfile.read(int(length)) if length.strip().isdigit() else b""
        stream, self.rfile = self.rfile, io.BytesIO(data)
        try:
            st.route(self, self.command, path)
        finally:
            self.rfile = stream

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def send(self, status: int, body, content_type: str = "application/json", headers: dict | None = None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, indent=None) + "\n"
        if isinstance(body, str):
            body = body.encode()
        keep = self.server.standin.keep_alive
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if not keep:
            self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = not keep


class _Background:
    """Context-manager face for things with start()/stop()."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Standin(_Background):
    """Common lifecycle: start on 127.0.0.1:0 in a thread, stop, counters, misbehaviour knobs.

    Knobs (settable at any time): ``delay`` seconds before each answer; ``hang`` accept and never
    answer (released after ``hang_seconds`` or on stop); ``garbage`` 200 with a non-JSON body;
    ``force_status`` answer every request with that status (e.g. 500).
    """

    def __init__(
        self,
        gpus=None,
        tls: bool = False,
        delay: float = 0.0,
        hang: bool = False,
        hang_seconds: float = 30.0,
        garbage: bool = False,
        force_status: int | None = None,
        keep_alive: float | None = None,
        cert_pair: tuple | None = None,
    ):
        self.gpus = list(default_gpus() if gpus is None else gpus)
        self.keep_alive = keep_alive
        self.cert_pair = cert_pair  # (cert file, key file) to serve instead of the trustme pair
        self.tls = tls
        self.delay = delay
        self.hang = hang
        self.hang_seconds = hang_seconds
        self.garbage = garbage
        self.force_status = force_status
        self.hits: collections.Counter = collections.Counter()
        self.requests: list = []
        self.tls_failures = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ssl_ctx = None
        self._port = None
        self.ca_file: str | None = None
        self.other_ca_file: str | None = None

    # lifecycle
    def start(self):
        if self.tls:
            m = tls_material()
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*(self.cert_pair or (m["cert_file"], m["key_file"])))
            self._ssl_ctx = ctx
            self.ca_file, self.other_ca_file = m["ca_file"], m["other_ca_file"]
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    @property
    def port(self) -> int:
        """The listening port (still known after stop())."""
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def reset_counters(self):
        with self._lock:
            self.hits.clear()
            self.requests.clear()

    # GPUs
    def _live(self) -> list:
        return [g for g in self.gpus if g is not None]

    def vanish(self, device_id: int):
        """Remove GPU ``device_id`` (1.x id = position in the original list); ids of others stay."""
        self.gpus[device_id] = None

    def _after_listing(self):
        for i, g in enumerate(self.gpus):
            if g is not None and g.vanish_after_list:
                self.gpus[i] = None


# --------------------------------------------------------------------------- 1.x REST


AVG = 0.9  # a gauge's window mean, relative to its latest sample: "value" and "avg" differ, as on a real server


def _avg(value):
    return round(value * AVG, 2)


def _stats_entries(d: dict, energy_mj=None) -> list:
    out = []
    for name, value in d.items():
        if value is None:
            continue
        if name == "XPUM_STATS_ENERGY" and energy_mj is not None:
            value = energy_mj
        if name.startswith(_COUNTER_STATS):
            out.append({"metrics_type": name, "value": value})
        else:
            out.append({"avg": _avg(value), "max": value, "metrics_type": name, "min": _avg(_avg(value)),
                        "value": value})
    return out


_HEALTH_TEXT = {
    "core_temperature": ("core temperature", "throttle", 105, 130),
    "memory_temperature": ("memory temperature", "throttle", 85, 100),
    "power": ("power", "throttle", 300, None),
    "memory": ("memory", None, None, None),
    "xe_link_port": ("Xe Link port", None, None, None),
    "frequency": ("frequency", None, None, None),
}


class Xpum1Rest(_Standin):
    """XPU Manager 1.x REST (``xpum_rest``), see the module docstring for what is faithful.

    ``rest_conf_text``: the rest.conf content (default: user xpumadmin, password DEFAULT_PASSWORD).
    ``fail_login_sleep``: sleep ``2**n * login_sleep_unit`` on a failed login (upstream: unit 1 s).
    ``password``/``user``: the credentials that work with the default rest.conf (``password`` is None
    when you pass your own ``rest_conf_text``).
    Counters: ``hits[path]``, ``requests`` [(method, path)], ``failed_logins`` (total),
    ``login_failure_count`` (upstream's capped counter), ``auth_ok``.
    """

    def __init__(
        self,
        gpus=None,
        tls: bool = True,
        rest_conf_text: str | None = None,
        exporter_no_auth: bool = False,
        exporter_only: bool = False,
        fail_login_sleep: bool = True,
        login_sleep_unit: float = 1.0,
        version: dict | None = None,
        clock=time.monotonic,
        **kw,
    ):
        kw.setdefault("keep_alive", 2.0)
        super().__init__(gpus=gpus, tls=tls, **kw)
        self.clock = clock
        self._energy_at: dict = {}  # device id -> when /stats was last asked (any client)
        self.rest_conf_text = standin_rest_conf() if rest_conf_text is None else rest_conf_text
        self.exporter_no_auth = exporter_no_auth
        self.exporter_only = exporter_only
        self.fail_login_sleep = fail_login_sleep
        self.login_sleep_unit = login_sleep_unit
        self.version = dict(VERSION_1X if version is None else version)
        self.failed_logins = 0
        self.login_failure_count = 0
        self.auth_ok = 0
        self.login_sleeps: list = []
        if not exporter_no_auth:
            # upstream reads rest.conf at import time and exits if it is missing/broken
            self._conf = _read_rest_conf(self.rest_conf_text)
        else:
            self._conf = None
        self.password = DEFAULT_PASSWORD if rest_conf_text is None else None
        self.user = self._conf[0] if self._conf else None

    # auth, as upstream verify_password()
    def _verify(self, handler) -> bool:
        header = handler.headers.get("Authorization", "")
        username = password = ""
        if header[:6].lower() == "basic ":
            try:
                username, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                username = password = ""
        user, salt, pw_hash, disable = self._conf
        if disable:
            return True
        with self._lock:
            ok = username == user and upstream_hash(password, salt) == pw_hash
            if ok:
                self.auth_ok += 1
                self.login_failure_count = max(0, self.login_failure_count - 1)
                return True
            self.failed_logins += 1
            self.login_failure_count = min(8, self.login_failure_count + 1)
            sleep = 2**self.login_failure_count * self.login_sleep_unit
            self.login_sleeps.append(sleep)
        if self.fail_login_sleep:
            self._stopping.wait(sleep)
        return False

    def _auth(self, h, open_route: bool = False) -> bool:
        """True when the request may proceed; otherwise the answer has been sent."""
        if open_route:
            return True
        if self._conf is None:  # exporter_no_auth: upstream never loaded rest.conf -> NameError
            h.send(500, FLASK_500, "text/html; charset=utf-8")
            return False
        try:
            if self._verify(h):
                return True
        except UnicodeEncodeError:  # upstream encodes the password as ASCII
            h.send(500, FLASK_500, "text/html; charset=utf-8")
            return False
        h.send(
            401,
            "Unauthorized Access",
            "text/html; charset=utf-8",
            {"WWW-Authenticate": 'Basic realm="Authentication Required"'},
        )
        return False

    def route(self, h, method, path):
        path = path.rstrip("/") or "/"  # strict_slashes = False
        if method == "GET" and path == "/rest/v1/version":
            return h.send(200, self.version)
        if method == "GET" and path == "/healtz":
            if self._auth(h, self.exporter_no_auth):
                if not self._live():
                    return h.send(500, "cannot get any devices", "text/html; charset=utf-8")
                return h.send(200, "healthy", "text/html; charset=utf-8")
            return
        if method == "GET" and path == "/metrics":
            if self._auth(h, self.exporter_no_auth):
                return h.send(200, self.metrics_text(), "text/plain; charset=utf-8")
            return
        if self.exporter_only or method != "GET":
            return h.send(404, FLASK_404, "text/html; charset=utf-8")
        parts = path.split("/")[1:]  # rest, v1, devices, <id>, sub
        if parts[:3] != ["rest", "v1", "devices"] or len(parts) > 5:
            return h.send(404, FLASK_404, "text/html; charset=utf-8")
        if len(parts) >= 4 and not parts[3].isdigit():  # <int:deviceId> does not match
            return h.send(404, FLASK_404, "text/html; charset=utf-8")
        if len(parts) == 5 and parts[4] not in ("health", "stats"):
            return h.send(404, FLASK_404, "text/html; charset=utf-8")
        if not self._auth(h):
            return
        if len(parts) == 3:
            body = {"devices": self._device_list()}
            self._after_listing()
            return h.send(200, body)
        dev_id = int(parts[3])
        gpu = self.gpus[dev_id] if dev_id < len(self.gpus) else None
        sub = parts[4] if len(parts) == 5 else None
        if gpu is None:
            if sub is None:
                return h.send(404, {"Status": 1, "Message": "Device not found"})
            if sub == "health":
                return h.send(404, {"Status": 1, "Message": "device not found"})
            return h.send(400, {"message": "device not found"})
        if sub is None:
            return h.send(200, self._properties(dev_id, gpu))
        if sub == "health":
            return h.send(200, self._health(dev_id, gpu))
        return h.send(200, self._stats(dev_id, gpu))

    # bodies
    def _device_list(self) -> list:
        out = []
        for i, g in enumerate(self.gpus):
            if g is None:
                continue
            out.append(
                {
                    "device_id": i,
                    "device_type": "GPU",
                    "uuid": g.uuid,
                    "device_name": g.name,
                    "pci_device_id": f"0x{int(g.pci_device_id, 16):x}",  # upstream: no zero padding
                    "pci_bdf_address": g.bdf,
                    "vendor_name": "Intel(R) Corporation",
                    "drm_device": g.drm_device,
                    "device_function_type": g.function_type,
                    "@odata.id": f"/rest/v1/devices/{i}",
                }
            )
        return out

    def _properties(self, dev_id: int, g: Gpu) -> dict:
        used = g.metric("MEMORY_USED")
        if used is None and g.tiles:
            used = sum(t.get("XPUM_STATS_MEMORY_USED") or 0 for t in g.tiles)
        props = {
            "device_type": "GPU",
            "device_name": g.name,
            "vendor_name": "Intel(R) Corporation",
            "uuid": g.uuid,
            "pci_device_id": f"0x{int(g.pci_device_id, 16):x}",
            "pci_vendor_id": "0x8086",
            "pci_bdf_address": g.bdf,
            "drm_device": g.drm_device,
            "pcie_generation": "4",
            "pcie_max_link_width": "16",
            "device_stepping": "A0",
            "driver_version": g.driver_version,
            "kernel_version": g.kernel_version,
            "gfx_firmware_name": "GFX",
            "gfx_firmware_version": g.firmware,
            "gfx_firmware_status": "normal",
            "serial_number": g.serial,
            "core_clock_rate_mhz": "2400",
            "memory_physical_size_byte": str(g.memory_bytes),
            "memory_free_size_byte": str(g.memory_bytes - int(used or 0)),
            "max_mem_alloc_size_byte": str(g.memory_bytes // 2),
            "number_of_memory_channels": "2",
            "memory_bus_width": "256",
            "max_hardware_contexts": "65536",
            "max_command_queue_priority": "0",
            "number_of_eus": "512",
            "number_of_tiles": str(g.tile_count),
            "number_of_slices": "1",
            "number_of_sub_slices_per_slice": "32",
            "number_of_eus_per_sub_slice": "16",
            "number_of_threads_per_eu": "8",
            "physical_eu_simd_width": "8",
            "number_of_media_engines": "2",
            "number_of_media_enhancement_engines": "2",
            "number_of_xe_link_ports": "0",
            "max_tx_power_limit": "300",
            "max_rx_power_limit": "300",
            "device_id": dev_id,
            "health": {"@odata.id": f"/rest/v1/devices/{dev_id}/health"},
            "topology": {"@odata.id": f"/rest/v1/devices/{dev_id}/topology"},
        }
        return props

    def _health(self, dev_id: int, g: Gpu) -> dict:
        data: dict = {"device_id": dev_id}
        for comp in HEALTH_COMPONENTS:
            status = g.health[comp]
            what, _, throttle, shutdown = _HEALTH_TEXT[comp]
            if status == "OK":
                desc = f"All {what} readings are healthy."
            elif status == "Unknown":
                desc = f"The {what} health status is unknown (not supported on this device)."
            else:
                desc = f"The {what} is in {status.lower()} state."
            entry: dict = {"status": status, "description": desc}
            if comp in ("core_temperature", "memory_temperature"):
                entry.update(throttle_threshold=throttle, shutdown_threshold=shutdown, custom_threshold=-1)
            elif comp == "power":
                entry.update(throttle_threshold=throttle, custom_threshold=-1)
            data[comp] = entry
        return data

    def _stats(self, dev_id: int, g: Gpu) -> dict:
        if g.raw_stats is not None:
            body = copy.deepcopy(g.raw_stats)
            body["device_id"] = dev_id
            return body
        with self._lock:  # ENERGY: since the previous /stats query of this GPU, by any client
            now, then = self.clock(), self._energy_at.get(dev_id)
            self._energy_at[dev_id] = now

        def energy(scope):
            if then is None:
                return None  # the first query: the configured value
            return round((scope.get("XPUM_STATS_POWER") or 0) * (now - then) * 1000)

        body: dict = {
            "begin": "2024-05-06T07:08:09.000Z",
            "device_id": dev_id,
            "device_level": _stats_entries(g.stats, energy(g.stats)),
            "end": "2024-05-06T07:09:09.000Z",
        }
        if g.tiles:
            body["tile_level"] = [
                {"data_list": _stats_entries(t, energy(t)), "tile_id": i} for i, t in enumerate(g.tiles)
            ]
        return body

    def metrics_text(self) -> str:
        """A few 1.x exporter series (upstream names and labels)."""
        fams = {
            "xpum_power_watts": ("gauge", "Avg GPU power (in watts), per GPU and per card", []),
            "xpum_temperature_celsius": ("gauge", "Avg GPU temperature (in Celsius degree), per tile", []),
            "xpum_memory_used_bytes": ("gauge", "Used GPU memory (in bytes), per GPU tile", []),
            "xpum_engine_ratio": ("gauge", "GPU active time of the elapsed time (in %), per GPU tile", []),
        }
        for g in self._live():
            base = {
                "dev_file": g.drm_device.rsplit("/", 1)[-1],
                "dev_name": g.name,
                "pci_bdf": g.bdf,
                "pci_dev": f"0x{int(g.pci_device_id, 16):x}",
                "uuid": g.uuid,
                "vendor": "Intel(R) Corporation",
            }
            if g.metric("POWER") is not None:
                fams["xpum_power_watts"][2].append((base, _avg(g.metric("POWER"))))  # the exporter publishes avg
            scopes = [(None, {})] if not g.tiles else [(t, {"sub_dev": str(t)}) for t in range(len(g.tiles))]
            for tile, extra in scopes:
                labels = {**base, **extra}
                for fam, metric, scale, more in (
                    ("xpum_temperature_celsius", "GPU_CORE_TEMPERATURE", 1, {"location": "gpu"}),
                    ("xpum_temperature_celsius", "MEMORY_TEMPERATURE", 1, {"location": "mem"}),
                    ("xpum_memory_used_bytes", "MEMORY_USED", 1, {}),
                    ("xpum_engine_ratio", "GPU_UTILIZATION", 0.01, {}),
                ):
                    v = g.metric(metric, tile)
                    if v is not None:
                        fams[fam][2].append(({**labels, **more}, _avg(v) * scale))
        self._after_listing()
        return prometheus_text(fams)


# --------------------------------------------------------------------------- 2.x exporter


def prometheus_text(families: dict) -> str:
    """families: name -> (type, help, [(labels, value), ...]); counter names end in _total."""
    lines = []
    for name, (typ, help_, samples) in families.items():
        if not samples:
            continue
        # like the Go client behind the OTel exporter: HELP/TYPE carry the full name, _total included
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {typ}")
        for labels, value in samples:
            lab = ",".join(
                '{}="{}"'.format(k, str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
                for k, v in labels.items()
            )
            lines.append(f"{name}{{{lab}}} {float(value)!r}" if lab else f"{name} {float(value)!r}")
    return "\n".join(lines) + "\n"


_WORST = {"ok": 0, "warning": 1, "critical": 2}
_STATE_2X = {"OK": "ok", "Warning": "warning", "Critical": "critical"}


def _hw_status(g: Gpu) -> dict:
    """2.x hw_type -> state, derived from the 1.x-style health unless ``g.hw_status`` is set.
    Unknown components are not reported (2.x reports a state only once one is known)."""
    if g.hw_status is not None:
        return dict(g.hw_status)
    out = {}
    for hw_type, comps in (
        ("gpu", ("core_temperature", "power")),
        ("memory", ("memory", "memory_temperature")),
        ("frequency", ("frequency",)),
    ):
        states = [_STATE_2X[g.health[c]] for c in comps if g.health[c] in _STATE_2X]
        if states:
            out[hw_type] = max(states, key=_WORST.get)
    return out


class Xpum2Exporter(_Standin):
    """XPU Manager 2.x ``xpumd`` Prometheus exporter: only ``GET /metrics``; 404 for anything else.

    Per GPU: ``hw_gpu_info`` (value 1), ``hw_status`` (1 for the current state of each hw_type,
    0 for the others), and from the stats converted to 2.x units: temperature C, power W, energy J
    (from mJ), frequency Hz (from MHz), utilization ratio 0..1 (from %), memory usage/size bytes,
    errors. Multi-tile GPUs get per-tile series with ``com_intel_subdevice_id``; device-level series
    only where the GPU's device-level stats have the value. Every series carries ``pci_bdf``.
    GPUs are listed in the order given (not BDF order), so clients must sort themselves.
    """

    def __init__(self, gpus=None, tls: bool = False, **kw):
        super().__init__(gpus=gpus, tls=tls, **kw)

    def route(self, h, method, path):
        if method == "GET" and path == "/metrics":
            body = self.metrics_text()
            self._after_listing()
            return h.send(200, body, "text/plain; version=0.0.4; charset=utf-8")
        return h.send(404, "404 page not found\n", "text/plain; charset=utf-8")

    def metrics_text(self) -> str:
        fams: dict[str, Any] = {
            "hw_gpu_info": ("gauge", "Information about the GPU device.", []),
            "hw_status": ("gauge", "Known hardware component states.", []),
            "hw_temperature_celsius": ("gauge", "Temperature in degrees Celsius.", []),
            "hw_power_watts": ("gauge", "Instantaneous power consumed by the component.", []),
            "hw_energy_joules_total": ("counter", "Energy consumed by the hardware component.", []),
            "hw_frequency_hertz": ("gauge", "Operating frequency of the hardware component.", []),
            "hw_gpu_utilization_ratio": ("gauge", "GPU engine / task pipeline utilization ratio.", []),
            "hw_memory_usage_bytes": ("gauge", "Memory usage of the component.", []),
            "hw_memory_size_bytes": ("gauge", "Size of the memory.", []),
            "hw_errors_total": ("counter", "Number of GPU errors.", []),
        }

        def add(fam, labels, value):
            if value is not None:
                fams[fam][2].append((labels, value))

        for g in self._live():
            hw_id = g.uuid
            ident = {"hw_id": hw_id, "hw_name": g.name, "pci_bdf": g.bdf}
            add(
                "hw_gpu_info",
                {
                    **ident,
                    "pci_vendor_id": "0x8086",
                    "pci_device_id": g.pci_device_id,
                    "hw_model": g.name,
                    "hw_serial_number": g.serial,
                    "hw_firmware_version": f"0:GFX:0:{g.firmware}",
                    "hw_gpu_type": g.gpu_type,
                    "hw_vendor": "Intel(R) Corporation",
                    "com_intel_subdevice_count": str(len(g.tiles)),
                },
                1,
            )
            dev = {**ident, "com_intel_subdevice_id": ""}
            # upstream (xpumd/receiver/intelxpu/semantics.md, sysman/device.go): reset_needed always (0 or 1); a
            # component's ok state; a problem state only once it became active (then the ok state is 0)
            add("hw_status", {**dev, "hw_type": "gpu", "hw_state": "reset_needed"}, 0)
            for hw_type, state in _hw_status(g).items():
                add("hw_status", {**dev, "hw_type": hw_type, "hw_state": state}, 1)
                if state != "ok":
                    add("hw_status", {**dev, "hw_type": hw_type, "hw_state": "ok"}, 0)
            add("hw_memory_size_bytes", {**dev, "hw_memory_location": "device", "hw_memory_type": "vram"},
                g.memory_bytes)
            add("hw_errors_total", {**dev, "hw_type": "gpu", "error_type": "uncorrectable"}, g.errors_total)
            scopes = [(None, {"com_intel_subdevice_id": ""})]
            if g.tiles:
                scopes += [(t, {"com_intel_subdevice_id": str(t)}) for t in range(len(g.tiles))]
            for tile, extra in scopes:
                lab = {**ident, **extra}
                v = g.metric("GPU_CORE_TEMPERATURE", tile)
                add("hw_temperature_celsius", {**lab, "hw_sensor_location": "gpu", "statistic": "max"}, v)
                add(
                    "hw_temperature_celsius",
                    {**lab, "hw_sensor_location": "memory", "statistic": "max"},
                    g.metric("MEMORY_TEMPERATURE", tile),
                )
                add(
                    "hw_power_watts",
                    {**lab, "hw_sensor_location": "card" if tile is None else "package"},
                    g.metric("POWER", tile),
                )
                e = g.metric("ENERGY", tile)
                add(
                    "hw_energy_joules_total",
                    {**lab, "hw_sensor_location": "card" if tile is None else "package"},
                    None if e is None else e / 1000.0,
                )
                f = g.metric("GPU_FREQUENCY", tile)
                add(
                    "hw_frequency_hertz",
                    {**lab, "hw_frequency_domain": "gpu", "aggregation": "avg"},
                    None if f is None else f * 1e6,
                )
                u = g.metric("GPU_UTILIZATION", tile)
                add(
                    "hw_gpu_utilization_ratio",
                    {**lab, "hw_gpu_task": "all"},
                    None if u is None else u / 100.0,
                )
                add("hw_memory_usage_bytes", {**lab, "hw_memory_location": "device", "hw_memory_type": "vram"},
                    g.metric("MEMORY_USED", tile))
        return prometheus_text(fams)


# --------------------------------------------------------------------------- sockets for failure tests


class SilentListener(_Background):
    """A TCP port that accepts connections and never says anything (bounded).

    Connections are held open until ``stop()`` or ``max_seconds``; at most ``max_conns`` are kept.
    ``accepted`` counts accepted connections. Use ``url`` / ``https_url`` for clients.
    """

    def __init__(self, max_seconds: float = 30.0, max_conns: int = 64):
        self.max_seconds = max_seconds
        self.max_conns = max_conns
        self.accepted = 0
        self._conns: list = []
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._run, name="SilentListener", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            if len(self._conns) < self.max_conns:
                self._conns.append(conn)
            else:
                conn.close()
        self._close_all()

    def _close_all(self):
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass
        self._conns = []

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound once to find it, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_url(scheme: str = "https") -> str:
    return f"{scheme}://127.0.0.1:{closed_port()}"


def keytool_cert(directory) -> tuple:
    """(cert file, key file): a self-signed certificate shaped like upstream's install/tools/rest/keytool.sh makes it
    (intel/xpumanager v1.3.x @ b10db2fa9e8092d7b01545f6bc2c0b60f4fc3c28: ``openssl req -x509 -sha512 -newkey rsa:3072
    -nodes ... -subj "/ST=Unknown/O=XPUM"``): subject ST=Unknown, O=XPUM, no CN, no subjectAltName, CA:TRUE (openssl's
    v3_ca default), RSA 2048 here to keep tests fast."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Unknown"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "XPUM")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=548))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA512()))
    cert_file, key_file = os.path.join(str(directory), "cert.pem"), os.path.join(str(directory), "key.pem")
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return cert_file, key_file
