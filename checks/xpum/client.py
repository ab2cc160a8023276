"""``XpumClient``: one XPU Manager URL, 1.x REST (``xpum_rest``) or the 2.x Prometheus exporter (``xpumd``).

* 1.x: ``GET /rest/v1/version`` needs no auth; everything else is HTTP Basic. Every failed login
  makes the server sleep ``2**n`` s (n capped at 8), so this client never retries a 401 and, once
  a client got one, it refuses to send further authenticated requests.
* 2.x has no REST API: only ``/metrics`` with OpenTelemetry names (``hw_gpu_info``, ``hw_status``...).
  GPUs there have no ids; this client numbers them by PCI BDF order (stable across scrapes).
* Units: see the metric table, ``checks.xpum.metrics``. This client returns W, J, MHz, C, MiB, %.

The password is kept in one ``Secret`` and never appears in messages, reprs or results.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from checks.xpum import prometheus as P
from checks.xpum.errors import NOT_RETRIED, Secret, XpumError
from checks.xpum.rest1x import Rest1x, RestOff
from checks.xpum.settings import DEFAULT_URLS, DEFAULT_USER, may_send_credentials, validate_url
from checks.xpum.transport import Transport
from checks.xpum.values import check_id

LOGIN_TIMEOUT = 5.0  # s: a first login waits for a delayed 401 (upstream sleeps 2 s, then 4 s, ... before it)


class XpumClient(Rest1x):
    """Talks to one XPU Manager URL. ``detect()`` first (other calls do it when needed)."""

    def __init__(self, url, user=None, password=None, ca_file=None, insecure=False, timeout=5.0,
                 send_credentials=True, no_auth=False):
        self.url = validate_url(url)
        parts = urlsplit(self.url)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.user = user or (DEFAULT_USER if password else None)
        self._password = password if isinstance(password, Secret) else Secret(password or None)
        self._snapshot = None
        self.rest_api = None  # 1.x: False once the server showed it has no REST routes (exporter-only)
        self.ca_file = ca_file
        self.insecure = bool(insecure)
        self.timeout = float(timeout)
        self.line = None
        self.version = None
        self._transport = Transport(self.url, self.scheme, self.host, self.port, ca_file=ca_file,
                                    insecure=self.insecure, timeout=self.timeout, error=self._error)
        self._auth_error = None
        self._auth_confirmed = False  # an authenticated request got past the login once
        self._known_ids = []  # 1.x GPU ids of the last overview()
        self._props = {}  # 1.x GPU id -> (BDF, /devices/<id> JSON): static, asked once per GPU
        # False for a default candidate the user did not name (other than 1.x's native TLS port): credentials
        # never go to it (any local user can listen on a port >= 1024 before XPU Manager does)
        self.send_credentials = bool(send_credentials)
        # 1.x with XPUM_EXPORTER_NO_AUTH=1 (said by the user, or seen: REST 500 after an open /healtz): /metrics
        # and /healtz open, every REST route 500
        self.no_auth_exporter = bool(no_auth)
        if no_auth:
            self.rest_api = False
        self._healtz_open = False  # /healtz answered 200 "healthy"

    @classmethod
    def from_settings(cls, url, settings):
        """A client for ``url`` with a ConnectionSettings' credentials, CA, insecure and timeout; credentials only
        for a URL the user named or 1.x's native TLS port."""
        return cls(url, settings.user, settings.secret, ca_file=settings.ca_file, insecure=settings.insecure,
                   timeout=settings.timeout, send_credentials=may_send_credentials(url, settings.explicit),
                   no_auth=getattr(settings, "no_auth", False))

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
        self._transport.close()

    # -- plumbing
    def _basic(self) -> str:
        import base64

        token = f"{self.user}:{self._password.reveal()}".encode()
        return base64.b64encode(token).decode("ascii")

    def scrub(self, text) -> str:
        """``text`` with this client's password, its Basic-auth token and any Authorization header value replaced
        by *** (for messages built from exceptions and upstream bodies)."""
        text = self._password.scrub(text)
        if self._password:
            text = text.replace(self._basic(), "***")
        if "uthorization" in text:
            import re

            text = re.sub(r"(?i)(authorization\s*[:=]\s*)(basic\s+|bearer\s+)?\S+", r"\1***", text)
        return text

    def _error(self, kind, message, status=None) -> XpumError:
        return XpumError(kind, self.scrub(message), url=self.url, status=status)

    def precheck(self):
        """A plain TCP connect: raises XpumError refused/timeout/config when nothing can answer."""
        self._transport.precheck()

    def _get(self, path: str, auth: bool = True, method: str = "GET", json_body=None):
        """GET (or METHOD with a JSON body) url+path; raises XpumError for transport failures and 401."""
        if auth and self._auth_error is not None:
            raise self._auth_error  # never send a second login after a 401
        if auth and self.line == "1.x" and not self.no_auth_exporter:
            self._may_login(path)
        self.precheck()
        headers = {}
        creds = auth and bool(self._password) and self.send_credentials and not self.no_auth_exporter
        if creds:
            headers["Authorization"] = "Basic " + self._basic()
        first_login = creds and self.line == "1.x" and not self._auth_confirmed
        # a failed login sleeps 2^n s upstream (4 s for the second): the first login may take that long, so it
        # gets LOGIN_TIMEOUT to come back with its 401 rather than a timeout
        timeout = max(self.timeout, LOGIN_TIMEOUT) if first_login else None
        try:
            if json_body is None:
                r = self._transport.get(path, headers, timeout=timeout)
            else:
                import json

                headers["Content-Type"] = "application/json"
                r = self._transport.request(method, path, headers, json.dumps(json_body).encode(), timeout=timeout)
        except XpumError as e:
            if e.kind == "timeout" and first_login:
                self._auth_error = self._error("auth", (
                    f"{e} to the first login at {self.url}{path}, while /rest/v1/version answered at once: XPU Manager "
                    f"1.x sleeps 2^n s (up to 256 s) before each failed login's 401, so the user or password is most "
                    f"likely wrong, or its daemon hangs: systemctl status xpum ({NOT_RETRIED})"))
                raise self._auth_error from None
            raise
        if r.status_code == 401:
            target = self.url + path
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

    def _may_login(self, path: str):
        """Raise instead of sending a 1.x authenticated request that must not go: without credentials (upstream
        counts it as a failed login and delays every client 2^n s) or to a default candidate (credentials go only
        to a URL the user named, or over TLS to the native port)."""
        if not self._password:
            self._auth_error = self._error("auth", (
                f"XPU Manager 1.x at {self.url} needs a user and password for {path}: set XPU_MANAGER_USER and "
                f"XPU_MANAGER_PASSWORD or pass --credentials-file (not asked without them: upstream counts a request "
                f"without credentials as a failed login and delays every client 2^n s)"))
            raise self._auth_error
        if not self.send_credentials:
            clear = " in clear (plain HTTP)" if self.scheme == "http" else ""
            raise self._error("config", (
                f"XPU Manager 1.x answers at {self.url}, a default address you did not name: the password is not sent"
                f"{clear} to it (any local user can listen there); if it is yours, name it: "
                f"export XPU_MANAGER_URL={self.url}"))

    def _http_error(self, r, path: str) -> XpumError:
        body = self.scrub(" ".join(r.text.split()))[:160]
        if "<html" in body.lower():
            body = "HTML error page"
        hint = ""
        if r.status_code == 500 and self.line == "1.x":
            hint = " (is the xpum daemon running? systemctl status xpum; journalctl -u xpum_rest)"
        if r.status_code == 404 and self.line == "1.x" and path.startswith("/rest/"):
            hint = " (REST API off? XPUM_EXPORTER_ONLY=1 serves only /metrics and /healtz)"
        return self._error("http", f"HTTP {r.status_code} from {self.url}{path}: {body}{hint}", status=r.status_code)

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
            raise RestOff()  # no such route (exporter-only), unlike an unknown device (JSON 404)
        if device_id is not None and (r.status_code == 404 or (r.status_code == 400 and "not found" in r.text.lower())):
            raise self._error(
                "notfound", f"GPU {device_id} not found at {self.url} (removed? list the GPUs again)",
                status=r.status_code,
            )
        if r.status_code != 200:
            raise self._http_error(r, path)
        return self._json(r, path)

    def _families(self, text: str, path: str = "/metrics"):
        """The parsed exposition; raises protocol error when the text is not Prometheus exposition."""
        try:
            return P.parse(text)
        except ValueError as e:
            raise self._error("protocol", f"{self.url}{path} is not Prometheus text ({type(e).__name__})") from None

    # -- detection
    def detect(self) -> dict:
        """{"url", "line": "1.x"|"2.x", "version": {...}|None}; XpumError when neither answers."""
        r = self._get("/rest/v1/version", auth=False)
        if r.status_code == 200:
            data = self._json(r, "/rest/v1/version")
            if not isinstance(data, dict) or "xpum_version" not in data:
                raise self._error(
                    "protocol", f"{self.url}/rest/v1/version answered JSON without xpum_version: not an XPU Manager"
                )
            self.line = "1.x"
            self.version = {k: data.get(k) for k in ("xpum_version", "xpum_version_git", "level_zero_version")}
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
                f"{self.url} has neither /rest/v1/version nor /metrics (HTTP {r.status_code}): not an XPU Manager",
                status=r.status_code,
            )
        fams = self._families(r.text)
        if not P.has_gpu_info(fams):
            raise self._error("protocol", f"{self.url}/metrics has no hw_gpu_info: not an XPU Manager 2.x "
                                          f"exporter (or it sees no GPU)")
        self.line = "2.x"
        self.version = P.version_2x(fams)
        self._snapshot = fams
        return {"url": self.url, "line": self.line, "version": self.version}

    def _ensure(self):
        if self.line is None:
            self.detect()

    def metrics_text(self) -> str:
        """The raw Prometheus text of /metrics (1.x needs auth unless XPUM_EXPORTER_NO_AUTH)."""
        self._ensure()
        r = self._get("/metrics", auth=self.line == "1.x" and not self.no_auth_exporter)
        if r.status_code != 200:
            raise self._http_error(r, "/metrics")
        return r.text

    def _scrape(self):
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
        text = self.scrub(" ".join(r.text.split()))[:200]
        if r.status_code == 404:
            raise self._http_error(r, "/healtz")
        ok = r.status_code == 200 and text == "healthy"
        self._healtz_open = self._healtz_open or ok
        return {"ok": ok, "status_code": r.status_code, "text": text}

    def list_gpus(self) -> list:
        """GPUs, normalized. 1.x ids are the server's; 2.x (and 1.x exporter-only) ids follow BDF order."""
        self._ensure()
        if not self._prom():
            try:
                return self._list_rest()
            except RestOff:
                self.rest_api = False
            except XpumError as e:
                if not self._no_auth_500(e):
                    raise
        return self._gpus_prom(self._scrape())

    def _no_auth_500(self, e: XpumError) -> bool:
        """True (and the client reads /metrics from now on) when a REST 500 follows an open /healtz: upstream's
        XPUM_EXPORTER_NO_AUTH=1 leaves /metrics and /healtz open and never loads rest.conf, so every other route's
        login check fails with a NameError (HTTP 500), whatever the credentials."""
        if e.kind != "http" or e.status != 500 or self.line != "1.x":
            return False
        if not self._healtz_open:
            try:
                self.healtz()  # with the credentials: an open or good login either way, never a failed one
            except XpumError:
                return False
        if not self._healtz_open:
            return False
        self.rest_api, self.no_auth_exporter = False, True
        return True

    def _per_gpu(self, device_id, rest, prom) -> dict:
        """REST when the 1.x server has it; else (2.x, exporter-only 1.x) from a fresh /metrics scrape."""
        check_id(device_id)
        self._ensure()
        if not self._prom():
            try:
                return rest(device_id)
            except RestOff:
                self.rest_api = False
            except XpumError as e:
                if not self._no_auth_500(e):
                    raise
        return prom(self._scrape(), device_id)

    def gpu_health(self, device_id) -> dict:
        return self._per_gpu(device_id, self._health_rest, self._health_prom)

    def gpu_metrics(self, device_id) -> dict:
        return self._per_gpu(device_id, self._metrics_1x, self._metrics_prom)

    # -- health and metrics of every GPU in one round (invoke status/metrics, the HTTP service)
    def gpu_state(self, device_id) -> dict:
        """{"health", "metrics", "error"} of one GPU with the fewest requests: 1.x /health and /stats at
        once (and /devices/<id>, for the memory size, the first time); 2.x (and exporter-only 1.x) one
        /metrics scrape. Raises XpumError (kind notfound for an unknown or vanished GPU, auth, transport
        errors)."""
        check_id(device_id)
        self._ensure()
        if not self._prom():
            state = self._assemble(device_id, self._wave([device_id])[1][device_id])
            if state is not None:
                err = state.pop("_exc")
                incomplete = state["health"] is None or state["metrics"] is None
                if err is not None and (err.kind in ("notfound", "auth") or incomplete):
                    if not self._no_auth_500(err):
                        raise err
                    return self._state_prom(self._scrape(), device_id)
                return state
            self.rest_api = False
        return self._state_prom(self._scrape(), device_id)

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
            if isinstance(listing, XpumError) and self._no_auth_500(listing):
                listing = RestOff()
            if not isinstance(listing, RestOff):
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

    # -- Prometheus sources: the 2.x exporter, and a 1.x server whose REST API is off
    def _dialect(self):
        return P.DIALECT_2X if self.line == "2.x" else P.DIALECT_1X

    def _gpus_prom(self, fams) -> list:
        return P.gpus(fams, self._dialect())

    def _bdf_of(self, fams, device_id: int) -> str:
        gpus = self._gpus_prom(fams)
        if device_id >= len(gpus):
            raise self._error("notfound", f"GPU {device_id} not found at {self.url} ({len(gpus)} GPU(s) listed)")
        return gpus[device_id]["pci_bdf_address"]

    def _health_prom(self, fams, device_id: int) -> dict:
        bdf = self._bdf_of(fams, device_id)
        m = self._metrics_prom(fams, device_id)
        out = {"status": "unknown", "components": {}, "temperature": m["temperature"], "power_usage": m["power_usage"]}
        if self.line != "2.x":
            why = " or answers 500 (XPUM_EXPORTER_NO_AUTH=1)" if self.no_auth_exporter else ""
            out["note"] = f"the 1.x REST API is off (XPUM_EXPORTER_ONLY=1?){why}: /metrics carries no health"
            return out
        out["status"], out["components"] = P.health_2x(fams, bdf)
        return out

    def _metrics_prom(self, fams, device_id: int) -> dict:
        return P.metrics(fams, self._dialect(), self._bdf_of(fams, device_id), device_id)

    def _state_prom(self, fams, device_id: int) -> dict:
        return {"health": self._health_prom(fams, device_id), "metrics": self._metrics_prom(fams, device_id),
                "error": None}


def connect(urls=None, user=None, password=None, ca_file=None, insecure=False, timeout=3.0, tried=None,
            settings=None) -> XpumClient:
    """The first of ``urls`` (or of ``settings.urls``, with its credentials, CA, insecure and timeout)
    that answers as XPU Manager 1.x or 2.x, as a detected client (the caller closes it). Each URL tried
    is appended to ``tried`` as {"url", "outcome", "message"}. When none answers, raises the most
    telling failure: anything that answered (TLS, HTTP, protocol, timeout) before "refused"."""
    tried = [] if tried is None else tried
    failures = []
    for candidate in (settings.urls if settings is not None else urls):
        if settings is not None:
            c = XpumClient.from_settings(candidate, settings)
        else:
            named = list(urls) != list(DEFAULT_URLS)
            c = XpumClient(candidate, user, password, ca_file=ca_file, insecure=insecure, timeout=timeout,
                           send_credentials=may_send_credentials(candidate, named))
        try:
            info = c.detect()
        except XpumError as e:
            tried.append({"url": candidate, "outcome": e.kind if e.kind != "config" else "refused", "message": str(e)})
            failures.append(e)
            c.close()
            continue
        except Exception as e:
            msg = c.scrub(f"unexpected {type(e).__name__} talking to {candidate}")
            tried.append({"url": candidate, "outcome": "protocol", "message": msg})
            failures.append(XpumError("protocol", msg))
            c.close()
            continue
        ok = f"XPU Manager {info['line']} answers at {candidate}"
        tried.append({"url": candidate, "outcome": "ok", "message": ok})
        return c
    telling = [e for e in failures if e.kind != "refused"] or failures
    if not telling:
        raise XpumError("config", "no XPU Manager URL to try")
    raise telling[0]

