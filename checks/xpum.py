"""The XPU Manager client: 1.x REST (``xpum_rest``) and the 2.x Prometheus exporter (``xpumd``).

One client for the checks, ``invoke status/metrics`` and the HTTP service. Facts it relies on
(upstream sources, see shared/reference/xpumanager.md):

* 1.x: ``GET /rest/v1/version`` needs no auth; everything else is HTTP Basic. Every failed login
  makes the server sleep ``2**n`` s (n capped at 8), so this client never retries a 401 and, once
  a client got one, it refuses to send further authenticated requests.
* 2.x has no REST API: only ``/metrics`` with OpenTelemetry names (``hw_gpu_info``, ``hw_status``...).
  GPUs there have no ids; this client numbers them by PCI BDF order (stable across scrapes).
* Units: 1.x stats POWER W, ENERGY mJ, GPU_FREQUENCY MHz, temperatures C, MEMORY_USED bytes,
  utilizations %. 2.x: W, J, Hz, C, bytes, ratio 0..1. This client returns W, J, MHz, C, MiB, %.

Cheap to import: httpx, ssl and prometheus_client load only when a request is made, and a
plain socket connect first tells whether anything listens at all (refused -> no httpx import).
The password is kept in one private attribute and never appears in messages, reprs or results.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

DEFAULT_URLS = [
    "https://127.0.0.1:30000",
    "https://127.0.0.1:29999",
    "http://127.0.0.1:29999",
    "http://127.0.0.1:8080",
]
DEFAULT_USER = "xpumadmin"
NATIVE_CERT = "/usr/lib/xpum/rest/conf/cert.pem"
MIB = 1024 * 1024
KINDS = ("config", "refused", "timeout", "tls", "auth", "http", "protocol", "notfound")
NOT_RETRIED = "not retried: the server delays each failed login 2^n s"
PRECHECK_TIMEOUT = 1.0


class XpumError(Exception):
    """A failure talking to XPU Manager. ``kind`` is one of KINDS; ``str(e)`` is one line for a person."""

    def __init__(self, kind: str, message: str, url: str | None = None, status: int | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown XpumError kind {kind!r}")
        message = " ".join(str(message).split())
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.url = url
        self.status = status

    def __str__(self):
        return self.message

    def __repr__(self):
        return f"XpumError(kind={self.kind!r}, message={self.message!r})"

    def as_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message}


# --------------------------------------------------------------------------- configuration


def _redact_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable>"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
    return url


def _validate_url(url) -> str:
    shown = _redact_url(str(url))

    def bad(why):
        return XpumError("config", f"invalid XPU Manager URL '{shown}': {why}")

    if not isinstance(url, str) or not url.strip():
        raise bad("empty")
    url = url.strip()
    if "://" not in url:
        raise bad(f"no scheme (e.g. https://{url.rstrip('/')})")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise bad(str(e)) from None
    if parts.scheme not in ("http", "https"):
        raise bad("scheme must be http or https")
    if "@" in parts.netloc:
        raise bad(
            "credentials do not belong in the URL: use XPU_MANAGER_USER/XPU_MANAGER_PASSWORD "
            "or a credentials file"
        )
    if not parts.hostname:
        raise bad("no host")
    if parts.query or parts.fragment:
        raise bad("no query or fragment allowed")
    if port == 0:
        raise bad("port 0")
    return url.rstrip("/")


def candidate_urls(url=None, env=os.environ) -> list:
    """[url] if given, else [$XPU_MANAGER_URL] if set, else DEFAULT_URLS (upstream's defaults)."""
    if url:
        return [_validate_url(url)]
    if env.get("XPU_MANAGER_URL", "").strip():
        return [_validate_url(env["XPU_MANAGER_URL"])]
    return list(DEFAULT_URLS)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _read_credentials_file(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise XpumError("config", f"cannot read credentials file {path}: {why}") from None
    user = password = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, eq, value = line.partition("=")
        if eq and key.strip() in ("XPU_MANAGER_USER", "XPU_MANAGER_PASSWORD"):
            if key.strip() == "XPU_MANAGER_USER":
                user = _unquote(value)
            else:
                password = _unquote(value)
            continue
        u, colon, p = line.partition(":")
        if colon and u and p and "=" not in u and " " not in u:
            user, password = u, p
            continue
        # never echo the line: it may hold the password
        raise XpumError(
            "config",
            f"credentials file {path} line {n} is not 'user:password', "
            f"XPU_MANAGER_USER=... or XPU_MANAGER_PASSWORD=...",
        )
    if not password:
        raise XpumError(
            "config", f"credentials file {path} has no password ('user:password' or XPU_MANAGER_PASSWORD=...)"
        )
    return user or DEFAULT_USER, password


def _credentials(env=os.environ, path=None):
    """(user, password, source) with source "file", "env" or "none". An explicit file wins."""
    if path:
        user, password = _read_credentials_file(path)
        return user, password, "file"
    password = env.get("XPU_MANAGER_PASSWORD") or None
    user = env.get("XPU_MANAGER_USER") or None
    if password:
        return user or DEFAULT_USER, password, "env"
    if user:
        return user, None, "env"
    return None, None, "none"


def load_credentials(env=os.environ, path=None) -> tuple:
    """(user, password) from ``path`` (lines ``user:password`` or ``XPU_MANAGER_USER=``/
    ``XPU_MANAGER_PASSWORD=``) if given, else from $XPU_MANAGER_USER/$XPU_MANAGER_PASSWORD.
    The user defaults to xpumadmin when a password is known; (None, None) when nothing is set.
    Raises XpumError(kind="config") for an unreadable or garbled file."""
    user, password, _ = _credentials(env, path)
    return user, password


# --------------------------------------------------------------------------- small helpers


def _norm_bdf(bdf) -> str | None:
    if not bdf:
        return None
    bdf = str(bdf).strip().lower()
    if bdf.count(":") == 1:
        bdf = "0000:" + bdf
    return bdf


def _norm_pci_id(value) -> str | None:
    if value in (None, ""):
        return None
    try:
        return "0x%04x" % int(str(value), 16)  # noqa: UP031 - fixed-width hex
    except ValueError:
        return str(value)


def _num(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _mean(values):
    return sum(values) / len(values)


_STATUS_1X = {"OK": "healthy", "Warning": "warning", "Critical": "critical", "Unknown": "unknown"}
_STATUS_2X = {
    "ok": "healthy",
    "warning": "warning",
    "degraded": "warning",
    "critical": "critical",
    "failed": "critical",
    "needs_cleaning": "warning",
}
_RANK = {"healthy": 0, "warning": 1, "critical": 2}


def _overall(statuses) -> str:
    """Worst known status wins; nothing known -> unknown."""
    known = [s for s in statuses if s in _RANK]
    return max(known, key=_RANK.get) if known else "unknown"


# 1.x stats: output key -> (XPUM_STATS name, factor to our unit)
_STATS_1X = {
    "gpu_utilization": ("XPUM_STATS_GPU_UTILIZATION", 1.0),  # %
    "memory_used": ("XPUM_STATS_MEMORY_USED", 1.0 / MIB),  # bytes -> MiB
    "memory_utilization": ("XPUM_STATS_MEMORY_UTILIZATION", 1.0),  # %
    "temperature": ("XPUM_STATS_GPU_CORE_TEMPERATURE", 1.0),  # C
    "memory_temperature": ("XPUM_STATS_MEMORY_TEMPERATURE", 1.0),  # C
    "power_usage": ("XPUM_STATS_POWER", 1.0),  # W
    "energy": ("XPUM_STATS_ENERGY", 1.0 / 1000),  # mJ -> J
    "frequency": ("XPUM_STATS_GPU_FREQUENCY", 1.0),  # MHz
}
# How a device-level value follows from the tiles' when the device level does not carry it.
_FROM_TILES = {
    "gpu_utilization": _mean,
    "memory_used": sum,
    "memory_utilization": _mean,
    "temperature": max,
    "memory_temperature": max,
    "power_usage": sum,
    "energy": sum,
    "frequency": _mean,
}
METRIC_KEYS = tuple(_STATS_1X) + ("memory_total",)


def _combine(device: dict, tiles: list) -> dict:
    """Device-level values; a value missing there is derived from the tiles only when every tile has it."""
    out = dict(device)
    derived = []
    if tiles:
        for key, how in _FROM_TILES.items():
            if out.get(key) is None:
                vals = [t.get(key) for t in tiles]
                if vals and all(v is not None for v in vals):
                    out[key] = how(vals)
                    derived.append(key)
    out["derived_from_tiles"] = derived
    return out


def _stats_1x(entries) -> dict:
    raw = {}
    for e in entries or []:
        if isinstance(e, dict) and "metrics_type" in e:
            raw[e["metrics_type"]] = _num(e.get("value"))
    out = {}
    for key, (name, factor) in _STATS_1X.items():
        v = raw.get(name)
        out[key] = None if v is None else v * factor
    return out


# --------------------------------------------------------------------------- the client


class _RestOff(Exception):
    """A 1.x server without REST routes (XPUM_EXPORTER_ONLY=1): Flask's HTML 404 for /rest/v1/devices..."""


class _Secret:
    """Holds the password; shows as *** in reprs, vars() and f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def reveal(self):
        return self._value

    def __repr__(self):
        return "***"

    __str__ = __repr__

    def __bool__(self):
        return bool(self._value)


class XpumClient:
    """Talks to one XPU Manager URL. ``detect()`` first (other calls do it when needed)."""

    def __init__(self, url, user=None, password=None, ca_file=None, insecure=False, timeout=5.0):
        self.url = _validate_url(url)
        parts = urlsplit(self.url)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.user = user or (DEFAULT_USER if password else None)
        self._password = _Secret(password or None)
        self._snapshot = None
        self.rest_api = None  # 1.x: False once the server showed it has no REST routes (exporter-only)
        self.ca_file = ca_file
        self.insecure = bool(insecure)
        self.timeout = float(timeout)
        self.line = None
        self.version = None
        self._http_client = None
        self._prechecked = False
        self._auth_error = None
        self._auth_confirmed = False  # an authenticated request got past the login once
        self._known_ids = []  # 1.x GPU ids of the last overview()
        self._props = {}  # 1.x GPU id -> (BDF, /devices/<id> JSON): static, asked once per GPU

    def __repr__(self):
        return (
            f"XpumClient(url={self.url!r}, line={self.line!r}, user={self.user!r}, "
            f"password={'***' if self._password else None})"
        )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._http_client is not None:
            self._http_client.close()
            self._http_client = None

    # -- plumbing
    def _scrub(self, text: str) -> str:
        text = str(text)
        secret = self._password.reveal()
        if secret:
            text = text.replace(secret, "***")
        return text

    def _error(self, kind, message, status=None) -> XpumError:
        return XpumError(kind, self._scrub(message), url=self.url, status=status)

    def precheck(self):
        """A plain TCP connect: raises XpumError refused/timeout/config when nothing can answer."""
        if self._prechecked:
            return
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection(
                (self.host, self.port), timeout=min(self.timeout, PRECHECK_TIMEOUT)
            )
        except socket.gaierror as e:
            raise self._error(
                "config", f"cannot resolve XPU Manager host '{self.host}': {e.strerror}"
            ) from None
        except ConnectionRefusedError:
            raise self._error(
                "refused",
                f"nothing listens on {where} (connection refused): is the XPU Manager service running there?",
            ) from None
        except socket.timeout:
            raise self._error(
                "timeout",
                f"no answer from {self.url} within {min(self.timeout, PRECHECK_TIMEOUT):g} s (TCP connect)",
            ) from None
        except OSError as e:
            raise self._error(
                "refused", f"cannot connect to {where}: {e.strerror or type(e).__name__}"
            ) from None
        sock.close()
        self._prechecked = True

    def _ssl_context(self):
        import ssl

        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        try:
            return (
                ssl.create_default_context(cafile=self.ca_file)
                if self.ca_file
                else ssl.create_default_context()
            )
        except (OSError, ssl.SSLError) as e:
            why = getattr(e, "strerror", None) or getattr(e, "reason", None) or type(e).__name__
            raise self._error("config", f"cannot use CA file {self.ca_file}: {why}") from None

    def _http(self):
        if self._http_client is None:
            import httpx

            verify = self._ssl_context() if self.scheme == "https" else True
            self._http_client = httpx.Client(
                verify=verify,
                timeout=httpx.Timeout(self.timeout),
                trust_env=False,
                follow_redirects=False,
                headers={"User-Agent": "xpu-ops"},
            )
        return self._http_client

    def _tls_message(self, exc) -> str:
        import ssl

        cur, verify_err, ssl_err = exc, None, None
        for _ in range(10):
            if cur is None:
                break
            if isinstance(cur, ssl.SSLCertVerificationError):
                verify_err = cur
            elif isinstance(cur, ssl.SSLError) and ssl_err is None:
                ssl_err = cur
            cur = cur.__cause__ or cur.__context__
        text = str(exc)
        if verify_err is not None or "CERTIFICATE_VERIFY_FAILED" in text:
            why = getattr(verify_err, "verify_message", None) or "self-signed?"
            if "local issuer" in why:
                why = f"{why}; self-signed?"
            if "mismatch" in why.lower():
                return (
                    f"TLS certificate of {self.url} does not name host '{self.host}' ({why}): connect by a "
                    f"name the certificate carries, or pass --insecure"
                )
            if self.ca_file:
                return (
                    f"TLS certificate of {self.url} not trusted by --ca-file {self.ca_file} ({why}): "
                    f"pass the CA that signed it, or --insecure"
                )
            return (
                f"TLS certificate of {self.url} not trusted ({why}): "
                f"pass --ca-file {NATIVE_CERT} or --insecure"
            )
        reason = getattr(ssl_err, "reason", None) or text
        plain = self.url.replace("https://", "http://", 1)
        return f"TLS handshake with {self.url} failed ({reason}): does it speak plain HTTP? try {plain}"

    def _get(self, path: str, auth: bool = True):
        """GET url+path; raises XpumError for transport failures and 401. Returns the httpx response."""
        if auth and self._auth_error is not None:
            raise self._auth_error  # never send a second login after a 401
        self.precheck()
        import httpx

        client = self._http()
        creds = (self.user, self._password.reveal()) if (auth and self._password) else None
        target = self.url + path
        try:
            r = client.get(target, auth=creds) if creds else client.get(target)
        except httpx.TimeoutException:
            hint = (
                " (a 1.x server also delays answers after failed logins)"
                if auth and self.line == "1.x"
                else ""
            )
            raise self._error("timeout", f"no answer from {target} within {self.timeout:g} s{hint}") from None
        except httpx.ConnectError as e:
            import ssl

            if self.scheme == "https" and (
                isinstance(e.__cause__ or e.__context__, ssl.SSLError)
                or "SSL" in str(e)
                or "CERTIFICATE" in str(e)
            ):
                raise self._error("tls", self._tls_message(e)) from None
            if "refused" in str(e).lower():
                raise self._error(
                    "refused", f"nothing listens on {self.host}:{self.port} (connection refused)"
                ) from None
            raise self._error("refused", f"cannot connect to {self.url}: {e}") from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
            hint = ""
            if self.scheme == "http":
                hint = f": does it speak HTTPS? try {self.url.replace('http://', 'https://', 1)}"
            raise self._error(
                "protocol", f"{target} did not answer with HTTP ({type(e).__name__}){hint}"
            ) from None
        except httpx.HTTPError as e:
            raise self._error("protocol", f"{target}: {type(e).__name__}: {e}") from None
        if r.status_code == 401:
            if self._password:
                msg = f"401 from {target}: wrong XPU Manager user or password ({NOT_RETRIED})"
            else:
                msg = (
                    f"401 from {target}: XPU Manager needs a user and password: set XPU_MANAGER_USER and "
                    f"XPU_MANAGER_PASSWORD or pass --credentials-file ({NOT_RETRIED})"
                )
            self._auth_error = self._error("auth", msg, status=401)
            raise self._auth_error
        if creds:
            self._auth_confirmed = True
        return r

    def _http_error(self, r, path: str) -> XpumError:
        body = " ".join(r.text.split())[:160]
        if "<html" in body.lower():
            body = "HTML error page"
        hint = ""
        if r.status_code == 500 and self.line == "1.x":
            hint = " (is the xpum daemon running? systemctl status xpum; journalctl -u xpum_rest)"
        if r.status_code == 404 and self.line == "1.x" and path.startswith("/rest/"):
            hint = " (REST API off? XPUM_EXPORTER_ONLY=1 serves only /metrics and /healtz)"
        return self._error(
            "http", f"HTTP {r.status_code} from {self.url}{path}: {body}{hint}", status=r.status_code
        )

    def _json(self, r, path: str):
        try:
            return r.json()
        except ValueError:
            ctype = r.headers.get("content-type", "?")
            raise self._error(
                "protocol",
                f"{self.url}{path} answered {r.status_code} but not JSON ({ctype}): is this an XPU Manager?",
            ) from None

    def _get_json(self, path: str, auth: bool = True, device_id=None):
        r = self._get(path, auth=auth)
        if (
            self.line == "1.x"
            and r.status_code == 404
            and path.startswith("/rest/v1/devices")
            and "json" not in r.headers.get("content-type", "")
        ):
            raise _RestOff()  # no such route (exporter-only), unlike an unknown device (JSON 404)
        if device_id is not None and (
            r.status_code == 404 or (r.status_code == 400 and "not found" in r.text.lower())
        ):
            raise self._error(
                "notfound",
                f"GPU {device_id} not found at {self.url} (removed? list the GPUs again)",
                status=r.status_code,
            )
        if r.status_code != 200:
            raise self._http_error(r, path)
        return self._json(r, path)

    def _families(self, text: str, path: str = "/metrics") -> dict:
        """sample name -> [Sample]; raises protocol error when the text is not Prometheus exposition."""
        from prometheus_client.parser import text_string_to_metric_families

        out: dict = {}
        try:
            for fam in text_string_to_metric_families(text):
                out.setdefault("__families__", set()).add(fam.name)
                for s in fam.samples:
                    out.setdefault(s.name, []).append(s)
        except Exception as e:  # the parser raises ValueError and friends on garbage
            raise self._error(
                "protocol", f"{self.url}{path} is not Prometheus text ({type(e).__name__})"
            ) from None
        return out

    # -- detection
    def detect(self) -> dict:
        """{"url", "line": "1.x"|"2.x", "version": {...}|None}; XpumError when neither answers."""
        r = self._get("/rest/v1/version", auth=False)
        if r.status_code == 200:
            data = self._json(r, "/rest/v1/version")
            if not isinstance(data, dict) or "xpum_version" not in data:
                raise self._error(
                    "protocol",
                    f"{self.url}/rest/v1/version answered JSON without xpum_version: not an XPU Manager",
                )
            self.line = "1.x"
            self.version = {
                k: data.get(k) for k in ("xpum_version", "xpum_version_git", "level_zero_version")
            }
            return {"url": self.url, "line": self.line, "version": self.version}
        if r.status_code == 500:
            raise self._error(
                "http",
                f"HTTP 500 from {self.url}/rest/v1/version: the 1.x REST service is up but "
                f"its daemon does not answer (systemctl status xpum)",
                status=500,
            )
        if r.status_code not in (404, 405):
            raise self._http_error(r, "/rest/v1/version")
        # not 1.x: a 2.x exporter serves only /metrics with hw_gpu_info
        r = self._get("/metrics", auth=False)
        if r.status_code != 200:
            raise self._error(
                "protocol",
                f"{self.url} has neither /rest/v1/version nor /metrics "
                f"(HTTP {r.status_code}): not an XPU Manager",
                status=r.status_code,
            )
        fams = self._families(r.text)
        if "hw_gpu_info" not in fams.get("__families__", set()):
            raise self._error(
                "protocol",
                f"{self.url}/metrics has no hw_gpu_info: not an XPU Manager 2.x exporter (or it sees no GPU)",
            )
        self.line = "2.x"
        self.version = self._version_2x(fams)
        self._snapshot = fams
        return {"url": self.url, "line": self.line, "version": self.version}

    @staticmethod
    def _version_2x(fams):
        for s in fams.get("target_info", []):
            v = s.labels.get("service_version")
            if v:
                return {"xpum_version": v}
        return None

    def _ensure(self):
        if self.line is None:
            self.detect()

    def metrics_text(self) -> str:
        """The raw Prometheus text of /metrics (1.x needs auth unless XPUM_EXPORTER_NO_AUTH)."""
        self._ensure()
        r = self._get("/metrics", auth=self.line == "1.x")
        if r.status_code != 200:
            raise self._http_error(r, "/metrics")
        return r.text

    def _scrape(self) -> dict:
        self._snapshot = self._families(self.metrics_text())
        return self._snapshot

    def _prom(self) -> bool:
        """True when the data comes from /metrics (2.x, or 1.x with its REST API off)."""
        return self.line == "2.x" or self.rest_api is False

    # -- the API
    def healtz(self) -> dict:
        """1.x ``/healtz``: {"ok", "status_code", "text"}. 2.x has no health path: its liveness is
        /metrics carrying hw_gpu_info, reported in the same shape."""
        self._ensure()
        if self.line == "2.x":
            n = len(self._gpus_prom(self._scrape()))
            return {"ok": n > 0, "status_code": 200, "text": f"hw_gpu_info: {n} GPU(s)"}
        r = self._get("/healtz")
        text = " ".join(r.text.split())[:200]
        if r.status_code == 404:
            raise self._http_error(r, "/healtz")
        return {"ok": r.status_code == 200 and text == "healthy", "status_code": r.status_code, "text": text}

    def list_gpus(self) -> list:
        """GPUs, normalized. 1.x ids are the server's; 2.x (and 1.x exporter-only) ids follow BDF order."""
        self._ensure()
        if not self._prom():
            try:
                return self._list_rest()
            except _RestOff:
                self.rest_api = False
        return self._gpus_prom(self._scrape())

    def _list_rest(self) -> list:
        return self._list_rest_from(self._get_json("/rest/v1/devices"))

    def _list_rest_from(self, data) -> list:
        devices = data.get("devices") if isinstance(data, dict) else None
        if not isinstance(devices, list):
            raise self._error("protocol", f"{self.url}/rest/v1/devices has no 'devices' list")
        out = []
        for d in devices:
            if not isinstance(d, dict) or not isinstance(d.get("device_id"), int):
                continue
            out.append(
                {
                    "device_id": d["device_id"],
                    "device_name": d.get("device_name"),
                    "pci_bdf_address": _norm_bdf(d.get("pci_bdf_address")),
                    "pci_device_id": _norm_pci_id(d.get("pci_device_id")),
                    "uuid": d.get("uuid"),
                    "vendor_name": d.get("vendor_name"),
                    "drm_device": d.get("drm_device"),
                    "device_type": d.get("device_type"),
                    "device_function_type": d.get("device_function_type"),
                }
            )
        return sorted(out, key=lambda g: g["device_id"])

    @staticmethod
    def _check_id(device_id):
        if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
            raise XpumError("notfound", f"GPU id must be a non-negative integer, not {device_id!r}")

    def _per_gpu(self, device_id, rest, prom) -> dict:
        """REST when the 1.x server has it; else (2.x, exporter-only 1.x) from a fresh /metrics scrape."""
        self._check_id(device_id)
        self._ensure()
        if not self._prom():
            try:
                return rest(device_id)
            except _RestOff:
                self.rest_api = False
        return prom(self._scrape(), device_id)

    def gpu_health(self, device_id) -> dict:
        return self._per_gpu(device_id, self._health_rest, self._health_prom)

    def _health_rest(self, device_id: int) -> dict:
        data = self._get_json(f"/rest/v1/devices/{device_id}/health", device_id=device_id)
        try:
            m = self._metrics_1x(device_id, with_total=False)
        except XpumError as e:
            if e.kind in ("auth", "notfound"):
                raise
            m = None
        return self._health_1x(device_id, data, m)

    def _health_1x(self, device_id: int, data, metrics) -> dict:
        """/health JSON (+ the metrics from /stats, or None) -> our health dict."""
        if not isinstance(data, dict):
            raise self._error(
                "protocol", f"{self.url}/rest/v1/devices/{device_id}/health is not a JSON object"
            )
        components = {}
        for name, comp in data.items():
            if isinstance(comp, dict) and "status" in comp:
                components[name] = {"status": comp.get("status"), "description": comp.get("description")}
        status = _overall(_STATUS_1X.get(c["status"], "unknown") for c in components.values())
        temperature, power = (metrics["temperature"], metrics["power_usage"]) if metrics else (None, None)
        return {"status": status, "components": components, "temperature": temperature, "power_usage": power}

    def gpu_metrics(self, device_id) -> dict:
        return self._per_gpu(device_id, self._metrics_1x, self._metrics_prom)

    # -- 1.x details
    def _metrics_1x(self, device_id: int, with_total: bool = True) -> dict:
        data = self._get_json(f"/rest/v1/devices/{device_id}/stats", device_id=device_id)
        props = self._get_json(f"/rest/v1/devices/{device_id}", device_id=device_id) if with_total else None
        return self._metrics_1x_from(device_id, data, props)

    def _metrics_1x_from(self, device_id: int, data, props) -> dict:
        """/stats JSON (+ /devices/<id> for the memory size, or None) -> our metrics dict."""
        if not isinstance(data, dict):
            raise self._error(
                "protocol", f"{self.url}/rest/v1/devices/{device_id}/stats is not a JSON object"
            )
        device = _stats_1x(data.get("device_level"))
        tiles = []
        for t in data.get("tile_level") or []:
            if isinstance(t, dict):
                tiles.append({"tile_id": t.get("tile_id"), **_stats_1x(t.get("data_list"))})
        out = {"device_id": device_id, **_combine(device, tiles)}
        size = _num(props.get("memory_physical_size_byte")) if isinstance(props, dict) else None
        out["memory_total"] = None if size is None else size / MIB
        if len(tiles) > 1:
            out["tiles"] = tiles
        return out

    # -- health and metrics of every GPU in one round (invoke status/metrics, the HTTP service)
    def gpu_state(self, device_id) -> dict:
        """{"health", "metrics", "error"} of one GPU with the fewest requests: 1.x /health and /stats at
        once (and /devices/<id>, for the memory size, the first time); 2.x (and exporter-only 1.x) one
        /metrics scrape. Raises XpumError (kind notfound for an unknown or vanished GPU, auth, transport
        errors)."""
        self._check_id(device_id)
        self._ensure()
        if not self._prom():
            state = self._assemble(device_id, self._wave([device_id])[1][device_id])
            if state is not None:
                err = state.pop("_exc")
                incomplete = state["health"] is None or state["metrics"] is None
                if err is not None and (err.kind in ("notfound", "auth") or incomplete):
                    raise err
                return state
            self.rest_api = False
        fams = self._scrape()
        return self._state_prom(fams, device_id)

    def overview(self, max_workers: int = 32) -> list:
        """Every GPU (as list_gpus) with "health", "metrics" and "error" (None, or {kind, message}
        for a GPU that failed or vanished during the round), in one round.

        1.x: GET /devices and /health, /stats of every GPU, all at once (/devices/<id>, for the memory
        size, once per GPU: it does not change while the GPU keeps its id and BDF). The per-GPU
        requests go out with the list for the GPUs the last round listed (the list is still asked
        every round: a GPU no longer listed is dropped, a new one fetched in a second wave); the first
        round, and any before a login succeeded, lists first. 2.x (and exporter-only 1.x): one
        /metrics scrape for everything. Raises XpumError when the list itself fails (or on a 401)."""
        self._ensure()
        if not self._prom():
            guess = list(self._known_ids) if self._auth_confirmed else []
            listing, got = self._wave(guess, max_workers, with_list=True)
            if not isinstance(listing, _RestOff):
                if isinstance(listing, XpumError):
                    raise listing
                gpus = self._list_rest_from(listing)
                ids = [g["device_id"] for g in gpus]
                for g in gpus:  # another GPU under a known id: forget what was known about that id
                    if self._props.get(g["device_id"], (g["pci_bdf_address"],))[0] != g["pci_bdf_address"]:
                        self._props.pop(g["device_id"])
                        got.pop(g["device_id"], None)
                self._props = {i: v for i, v in self._props.items() if i in ids}
                missing = [i for i in ids if i not in got]
                if missing:
                    got.update(self._wave(missing, max_workers)[1])
                self._known_ids = ids
                states = [self._assemble(i, got[i]) for i in ids]
                if all(st is not None for st in states):
                    out = []
                    for g, st in zip(gpus, states):
                        exc = st.pop("_exc")
                        if exc is not None and exc.kind == "auth":
                            raise exc
                        out.append({**g, **st})
                    return out
            self.rest_api = False
        fams = self._scrape()
        return [{**g, **self._state_prom(fams, g["device_id"])} for g in self._gpus_prom(fams)]

    def _state_prom(self, fams: dict, device_id: int) -> dict:
        return {
            "health": self._health_prom(fams, device_id),
            "metrics": self._metrics_prom(fams, device_id),
            "error": None,
        }

    def _fetch_json(self, path, device_id=None):
        try:
            return self._get_json(path, device_id=device_id)
        except (XpumError, _RestOff) as e:
            return e

    def _wave(self, ids, max_workers: int = 32, with_list: bool = False):
        """One concurrent wave of 1.x requests: GET /rest/v1/devices if ``with_list``, and /health,
        /stats and (unless known: the memory size does not change) /devices/<id> of each id. Returns
        (the list's JSON or exception or None, {id: {"health", "stats", "props"}}), each a JSON value or
        the exception its request raised."""
        from concurrent.futures import ThreadPoolExecutor

        jobs = [(None, None, "/rest/v1/devices")] if with_list else []
        for i in ids:
            base = f"/rest/v1/devices/{i}"
            jobs += [(i, "health", f"{base}/health"), (i, "stats", f"{base}/stats")]
            if i not in self._props:
                jobs.append((i, "props", base))
        if not jobs:
            return None, {}

        def run(job):
            return self._fetch_json(job[2], device_id=job[0])

        first = []
        if not self._auth_confirmed:  # one login first: a wrong password must cost one failed login, not 3n
            first = [run(jobs[0])]
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(jobs)))) as pool:
            results = first + list(pool.map(run, jobs[len(first):]))
        got: dict = {i: {"props": self._props.get(i, (None, None))[1]} for i in ids}
        listing = None
        for (i, part, _), value in zip(jobs, results):
            if i is None:
                listing = value
                continue
            got[i][part] = value
            if part == "props" and isinstance(value, dict):
                self._props[i] = (_norm_bdf(value.get("pci_bdf_address")), value)
        return listing, got

    def _assemble(self, device_id: int, got) -> dict | None:
        """[health, stats, props] answers -> {"health", "metrics", "error", "_exc"}; None when the
        server has no REST routes. Health or metrics is None where its request failed."""
        if any(isinstance(v, _RestOff) for v in got.values()):
            return None
        errors = [v for v in got.values() if isinstance(v, XpumError)]
        metrics = health = None
        try:
            if not isinstance(got["stats"], XpumError):
                props = None if isinstance(got["props"], XpumError) else got["props"]
                metrics = self._metrics_1x_from(device_id, got["stats"], props)
            if not isinstance(got["health"], XpumError):
                health = self._health_1x(device_id, got["health"], metrics)
        except XpumError as e:
            errors.append(e)
        # a vanished GPU: any of its paths said "not found"; it wins over other errors
        errors.sort(key=lambda e: (e.kind != "auth", e.kind != "notfound"))
        exc = errors[0] if errors else None
        return {"health": health, "metrics": metrics, "error": exc.as_dict() if exc else None, "_exc": exc}

    # -- Prometheus sources: the 2.x exporter, and a 1.x server whose REST API is off
    def _prom_spec(self) -> dict:
        return _PROM_2X if self.line == "2.x" else _PROM_1X

    def _gpus_prom(self, fams: dict) -> list:
        spec = self._prom_spec()
        seen: dict = {}
        for name in spec["info"]:
            for s in fams.get(name, []):
                bdf = _norm_bdf(s.labels.get("pci_bdf"))
                if not bdf or bdf in seen or s.labels.get("hw_gpu_type") == "subdevice":
                    continue
                seen[bdf] = spec["gpu"](s.labels, bdf)
        return [{"device_id": i, **seen[bdf]} for i, bdf in enumerate(sorted(seen))]

    def _bdf_of(self, fams: dict, device_id: int) -> str:
        gpus = self._gpus_prom(fams)
        if device_id >= len(gpus):
            raise self._error(
                "notfound", f"GPU {device_id} not found at {self.url} ({len(gpus)} GPU(s) listed)"
            )
        return gpus[device_id]["pci_bdf_address"]

    def _health_prom(self, fams: dict, device_id: int) -> dict:
        bdf = self._bdf_of(fams, device_id)
        m = self._metrics_prom(fams, device_id)
        out = {
            "status": "unknown",
            "components": {},
            "temperature": m["temperature"],
            "power_usage": m["power_usage"],
        }
        if self.line != "2.x":
            out["note"] = "the 1.x REST API is off (XPUM_EXPORTER_ONLY=1?): /metrics carries no health"
            return out
        states: dict = {}
        for s in fams.get("hw_status", []):
            if _norm_bdf(s.labels.get("pci_bdf")) == bdf and s.value == 1 and s.labels.get("hw_state"):
                states.setdefault(s.labels.get("hw_type") or "gpu", []).append(s.labels["hw_state"])
        for hw_type, found in states.items():
            state = max(found, key=lambda st: _RANK.get(_STATUS_2X.get(st, "unknown"), -1))
            out["components"][hw_type] = {"status": state, "description": f"hw_status {hw_type}: {state}"}
        out["status"] = _overall(_STATUS_2X.get(c["status"], "unknown") for c in out["components"].values())
        return out

    def _metrics_prom(self, fams: dict, device_id: int) -> dict:
        spec = self._prom_spec()
        bdf = self._bdf_of(fams, device_id)
        scopes: dict = {}  # None (device level) or tile id label -> {key: [values]}
        for name, key, factor, wanted in spec["series"]:
            for s in fams.get(name, []):
                if _norm_bdf(s.labels.get("pci_bdf")) != bdf or (wanted and not wanted(s.labels)):
                    continue
                scope = scopes.setdefault(s.labels.get(spec["tile_label"]), {})
                scope.setdefault(key, []).append(s.value * factor)

        def flat(values: dict) -> dict:
            return {k: (_PROM_REDUCE[k](values[k]) if values.get(k) else None) for k in _PROM_REDUCE}

        device = flat(scopes.get(None, {}))
        tile_ids = sorted((k for k in scopes if k is not None), key=lambda k: (len(k), k))
        tiles = [{"tile_id": int(k) if k.isdigit() else k, **flat(scopes[k])} for k in tile_ids]
        total = device.pop("memory_total")
        for t in tiles:
            t.pop("memory_total")
        out = {"device_id": device_id, **_combine(device, tiles)}
        out["memory_total"] = total
        if len(tiles) > 1:
            out["tiles"] = tiles
        return out


# Prometheus mappings: (sample name, our key, factor to our unit, label filter)
_MEM_LOCATIONS = ("memory", "mem", "vram", "hbm")
_PROM_REDUCE = {k: max for k in METRIC_KEYS}
_PROM_REDUCE.update(memory_used=sum, memory_total=sum)


def _gpu_2x(lab: dict, bdf: str) -> dict:
    return {
        "device_name": lab.get("hw_name") or lab.get("hw_model"),
        "pci_bdf_address": bdf,
        "pci_device_id": _norm_pci_id(lab.get("pci_device_id")),
        "uuid": None,
        "hw_id": lab.get("hw_id"),
        "vendor_name": lab.get("hw_vendor"),
        "pci_vendor_id": _norm_pci_id(lab.get("pci_vendor_id")),
        "serial_number": lab.get("hw_serial_number"),
        "firmware_version": lab.get("hw_firmware_version"),
        "gpu_type": lab.get("hw_gpu_type"),
        "device_type": "GPU",
    }


def _gpu_1x_exporter(lab: dict, bdf: str) -> dict:
    dev_file = lab.get("dev_file")
    return {
        "device_name": lab.get("dev_name"),
        "pci_bdf_address": bdf,
        "pci_device_id": _norm_pci_id(lab.get("pci_dev")),
        "uuid": lab.get("uuid"),
        "vendor_name": lab.get("vendor"),
        "drm_device": f"/dev/dri/{dev_file}" if dev_file else None,
        "device_type": "GPU",
    }


_PROM_2X = {
    "info": ("hw_gpu_info",),
    "gpu": _gpu_2x,
    "tile_label": "com_intel_subdevice_id",
    "series": (
        (
            "hw_gpu_utilization_ratio",
            "gpu_utilization",
            100.0,
            lambda lab: lab.get("hw_gpu_task", "all") == "all",
        ),
        ("hw_memory_usage_bytes", "memory_used", 1.0 / MIB, None),
        ("hw_memory_size_bytes", "memory_total", 1.0 / MIB, None),
        (
            "hw_temperature_celsius",
            "temperature",
            1.0,
            lambda lab: (
                not lab.get("statistic") and lab.get("hw_sensor_location", "gpu") not in _MEM_LOCATIONS
            ),
        ),
        (
            "hw_temperature_celsius",
            "memory_temperature",
            1.0,
            lambda lab: not lab.get("statistic") and lab.get("hw_sensor_location") in _MEM_LOCATIONS,
        ),
        ("hw_power_watts", "power_usage", 1.0, None),
        ("hw_energy_joules_total", "energy", 1.0, None),
        (
            "hw_frequency_hertz",
            "frequency",
            1e-6,
            lambda lab: (
                lab.get("hw_frequency_domain", "gpu") == "gpu" and lab.get("aggregation", "avg") == "avg"
            ),
        ),
    ),
}
# 1.x exporter (rest/prometheus_exporter/prometheus_exporter_types.py): ratios are % x 0.01, energy J
_PROM_1X = {
    "info": (
        "xpum_power_watts",
        "xpum_temperature_celsius",
        "xpum_memory_used_bytes",
        "xpum_engine_ratio",
        "xpum_frequency_mhz",
    ),
    "gpu": _gpu_1x_exporter,
    "tile_label": "sub_dev",
    "series": (
        ("xpum_engine_ratio", "gpu_utilization", 100.0, None),
        ("xpum_memory_used_bytes", "memory_used", 1.0 / MIB, None),
        ("xpum_memory_ratio", "memory_utilization", 100.0, None),
        ("xpum_temperature_celsius", "temperature", 1.0, lambda lab: lab.get("location") == "gpu"),
        ("xpum_temperature_celsius", "memory_temperature", 1.0, lambda lab: lab.get("location") == "mem"),
        ("xpum_power_watts", "power_usage", 1.0, None),
        ("xpum_energy_joules", "energy", 1.0, None),
        ("xpum_energy_joules_total", "energy", 1.0, None),
        (
            "xpum_frequency_mhz",
            "frequency",
            1.0,
            lambda lab: lab.get("location", "gpu") == "gpu" and lab.get("type", "actual") == "actual",
        ),
    ),
}


# --------------------------------------------------------------------------- one-shot facts


def _health_error(e: XpumError) -> dict:
    return {
        "status": "unknown",
        "components": {},
        "temperature": None,
        "power_usage": None,
        "error": e.as_dict(),
    }


def connect(urls, user=None, password=None, ca_file=None, insecure=False, timeout=3.0, tried=None) -> XpumClient:
    """The first of ``urls`` that answers as XPU Manager 1.x or 2.x, as a detected client (the caller
    closes it). Each URL tried is appended to ``tried`` as {"url", "outcome", "message"}. When none
    answers, raises the most telling failure: anything that answered (TLS, HTTP, protocol, timeout)
    before "refused"."""
    tried = [] if tried is None else tried
    failures = []
    for candidate in urls:
        c = XpumClient(candidate, user, password, ca_file=ca_file, insecure=insecure, timeout=timeout)
        try:
            info = c.detect()
        except XpumError as e:
            tried.append({"url": candidate, "outcome": e.kind if e.kind != "config" else "refused", "message": str(e)})
            failures.append(e)
            c.close()
            continue
        except Exception as e:
            msg = c._scrub(f"unexpected {type(e).__name__} talking to {candidate}")
            tried.append({"url": candidate, "outcome": "protocol", "message": msg})
            failures.append(XpumError("protocol", msg))
            c.close()
            continue
        tried.append(
            {"url": candidate, "outcome": "ok", "message": f"XPU Manager {info['line']} answers at {candidate}"}
        )
        return c
    telling = [e for e in failures if e.kind != "refused"] or failures
    if not telling:
        raise XpumError("config", "no XPU Manager URL to try")
    raise telling[0]


def gather(
    url=None, env=os.environ, credentials_file=None, ca_file=None, insecure=False, timeout=3.0
) -> dict:
    """One-shot facts about XPU Manager for the checks. Never raises.

    Tries the candidate URLs in order (a socket connect first, so a port where nothing listens
    costs no HTTP client); the first one that answers as 1.x or 2.x is used. An explicit URL
    (argument or $XPU_MANAGER_URL) is the only candidate. When none answers, ``error`` is the most
    telling failure: anything that answered (TLS, HTTP, protocol, timeout) before "refused".
    """
    out = {
        "tried": [],
        "url": None,
        "line": None,
        "version": None,
        "explicit": bool(url) or bool(str(env.get("XPU_MANAGER_URL", "")).strip()),
        "healtz": None,
        "gpus": [],
        "error": None,
        "credentials": "none",
    }
    try:
        urls = candidate_urls(url, env)
        user, password, out["credentials"] = _credentials(env, credentials_file)
    except XpumError as e:
        out["error"] = e.as_dict()
        return out
    except Exception as e:  # never raise from here
        out["error"] = {
            "kind": "config",
            "message": f"unexpected {type(e).__name__} reading the configuration",
        }
        return out
    try:
        client = connect(urls, user, password, ca_file=ca_file, insecure=insecure, timeout=timeout,
                         tried=out["tried"])
    except XpumError as e:
        out["error"] = e.as_dict()
        return out
    out.update(url=client.url, line=client.line, version=client.version)
    try:
        _fill(client, out)
    except XpumError as e:
        out["error"] = e.as_dict()
    except Exception as e:
        msg = client._scrub(f"unexpected {type(e).__name__} from {client.url}")
        out["error"] = {"kind": "protocol", "message": msg}
    finally:
        client.close()
    return out


def _fill(client: XpumClient, out: dict):
    if client.line == "1.x":
        # /healtz first: one authenticated request; a 401 stops everything, nothing is retried
        out["healtz"] = client.healtz()
        gpus = client.list_gpus()
    else:
        gpus = client._gpus_prom(client._snapshot or client._scrape())  # the scrape detect() made
    out["gpus"] = gpus
    if client._prom():
        fams = client._snapshot
        for g in gpus:
            try:
                g["health"] = client._health_prom(fams, g["device_id"])
            except XpumError as e:
                g["health"] = _health_error(e)
        return
    if gpus:
        from concurrent.futures import ThreadPoolExecutor

        def health(g):
            try:
                return client.gpu_health(g["device_id"])
            except XpumError as e:
                return _health_error(e)

        with ThreadPoolExecutor(max_workers=min(8, len(gpus))) as pool:
            for g, h in zip(gpus, pool.map(health, gpus)):
                g["health"] = h
