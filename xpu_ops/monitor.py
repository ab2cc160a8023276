"""XPUMonitorService: PyTorch's view of the GPUs plus XPU Manager's telemetry, cached briefly.

One shared instance (``get_xpu_monitor_service()``) serves ``invoke status/metrics`` and the HTTP
service. XPU Manager is reached through the one client, ``checks.xpum`` (1.x REST or the 2.x
exporter); PyTorch through the child-process probe of the ``torch.xpu`` check (``checks.torch_run``).

Units everywhere: utilisation %, memory MiB, temperature Celsius, power W (energy J, frequency MHz).

Configuration (read once when the instance is made; see README "GPU status and metrics API"): the
XPU_MANAGER_* variables through checks.xpum's ConnectionSettings (the same for verify), and:

==============================  =============================================================
``XPU_OPS_CACHE_SECONDS``       how long answers from XPU Manager are reused (default 2; 0 = not)
``XPU_OPS_PYTHON``              interpreter whose PyTorch is probed (default: this one)
``XPU_OPS_TORCH_TIMEOUT``       seconds for the PyTorch probe (default 60)
``XPU_OPS_TORCH_CACHE_SECONDS``  how long the PyTorch probe's answer is reused (default 300)
==============================  =============================================================
"""

from __future__ import annotations

import copy
import datetime
import os
import re
import sys
import threading
import time

from checks import xpum
from xpu_ops.ttlcache import TTLCache  # noqa: F401 (xpu_ops.monitor.TTLCache, as before)
from xpu_ops.sysfs_source import SysfsSourceMixin, source_and_root

# The metrics every GPU (and tile) has, null when XPU Manager does not report one: the metric table's
# (checks.xpum.metrics), in its order. Units: utilisation %, memory MiB, temperature C, power W, MHz, J.
METRIC_KEYS = xpum.METRIC_KEYS
TILE_KEYS = xpum.TILE_KEYS
HEALTH_STATES = ("healthy", "warning", "critical", "unknown")


# --------------------------------------------------------------------------- errors


class MonitorError(Exception):
    """Base of what the monitor raises; ``str(e)`` is one line for a person (never a password)."""


class ConfigError(MonitorError):
    """The configuration is unusable (bad URL, unreadable credentials or CA file, bad number)."""


class XPUManagerUnavailable(MonitorError):
    """XPU Manager did not answer usefully. ``kind`` is a checks.xpum kind (refused, timeout, tls, auth...)."""

    def __init__(self, message, kind="refused"):
        super().__init__(message)
        self.kind = kind


class GPUNotFound(MonitorError, LookupError):
    """No GPU with that id (never was, or it vanished). ``known`` lists the ids XPU Manager reports."""

    def __init__(self, device_id, known=(), message=None, lister="XPU Manager"):
        self.device_id = device_id
        self.known = list(known)
        listed = ", ".join(str(i) for i in self.known) or "none"
        super().__init__(message or f"GPU {device_id} not found ({lister} lists GPU ids: {listed})")


class InvalidDeviceId(MonitorError, ValueError):
    """A device id that is not a non-negative integer."""


def _check_id(device_id):
    if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
        raise InvalidDeviceId(f"device_id must be a non-negative integer, not {device_id!r}")
    return device_id


# --------------------------------------------------------------------------- settings


def _env_float(env, name, default, minimum=0.0):
    raw = str(env.get(name, "")).strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value >= minimum or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a number >= {minimum:g}")
    return value


class Settings:
    """Where XPU Manager is and how to talk to it (``connection``: checks.xpum's ConnectionSettings, the
    one every entry point resolves), how long to cache, which PyTorch to probe. ``from_env()`` validates;
    ``ConfigError`` says what is wrong in one line, naming the flag or variable."""

    def __init__(self, urls=None, user=None, password=None, ca_file=None, insecure=False, timeout=3.0,
                 cache_seconds=2.0, python=None, torch_timeout=60.0, torch_cache_seconds=300.0,
                 credentials_source="none", connection=None, source="xpum", root="/"):
        self.source, self.root = source, root  # telemetry source (from_env: auto), the tree sysfs reads
        self.connection = connection or xpum.ConnectionSettings(
            urls, user, password, ca_file=ca_file, insecure=insecure, timeout=timeout,
            credentials_source=credentials_source)
        self.cache_seconds = float(cache_seconds)
        self.python = python or sys.executable
        self.torch_timeout = float(torch_timeout)
        self.torch_cache_seconds = float(torch_cache_seconds)

    urls = property(lambda self: self.connection.urls)
    explicit_url = property(lambda self: self.connection.explicit)
    user = property(lambda self: self.connection.user)
    password = property(lambda self: self.connection.password)
    ca_file = property(lambda self: self.connection.ca_file)
    insecure = property(lambda self: self.connection.insecure)
    timeout = property(lambda self: self.connection.timeout)
    credentials_source = property(lambda self: self.connection.credentials_source)

    def __repr__(self):
        return (f"Settings(urls={self.urls!r}, user={self.user!r}, password={'***' if self.password else None}, "
                f"ca_file={self.ca_file!r}, insecure={self.insecure}, timeout={self.timeout:g}, "
                f"cache_seconds={self.cache_seconds:g})")

    @classmethod
    def from_env(cls, env=None, url=None, credentials_file=None, ca_file=None, insecure=None, timeout=None,
                 cache_seconds=None, python=None, torch_timeout=None, source=None, root=None):
        """Settings from the environment; explicit arguments (the CLI's options) win over it."""
        env = os.environ if env is None else env
        source, root = source_and_root(env, source, root)  # XPU_OPS_SOURCE, XPU_OPS_ROOT (ConfigError)
        try:
            connection = xpum.ConnectionSettings.resolve(env, url=url, credentials_file=credentials_file,
                                                         ca_file=ca_file, insecure=insecure, timeout=timeout)
        except xpum.XpumError as e:
            raise ConfigError(str(e)) from None
        if cache_seconds is None:
            cache_seconds = _env_float(env, "XPU_OPS_CACHE_SECONDS", 2.0)
        python = python or str(env.get("XPU_OPS_PYTHON", "")).strip() or sys.executable
        if torch_timeout is None:
            torch_timeout = _env_float(env, "XPU_OPS_TORCH_TIMEOUT", 60.0, minimum=1.0)
        elif not 1.0 <= torch_timeout < float("inf"):
            raise ConfigError(f"--torch-timeout {torch_timeout!r} must be at least 1 s")
        torch_cache = _env_float(env, "XPU_OPS_TORCH_CACHE_SECONDS", 300.0)
        return cls(cache_seconds=cache_seconds, python=python, torch_timeout=torch_timeout,
                   torch_cache_seconds=torch_cache, connection=connection, source=source, root=root)


# --------------------------------------------------------------------------- shaping


_HINTS = {
    "--ca-file": "XPU_MANAGER_CA_FILE (--ca-file)",
    "--insecure": "XPU_MANAGER_INSECURE=1 (--insecure)",
    "--credentials-file": "XPU_MANAGER_CREDENTIALS_FILE (--credentials-file)",
}
_HINT_RE = re.compile(r"(?<![\w(-])(--ca-file|--insecure|--credentials-file)\b")


def _hint_env(message: str) -> str:
    """checks.xpum names the verify options; here the environment variables come first."""
    return _HINT_RE.sub(lambda m: _HINTS[m.group(1)], message)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _finite(v):
    """A number for JSON: NaN/inf (a Prometheus sample can be NaN) and non-numbers become None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def _metrics_shape(m):
    m = m or {}
    out = {k: _finite(m.get(k)) for k in METRIC_KEYS}
    out["tiles"] = [{"tile_id": t.get("tile_id"), **{k: _finite(t.get(k)) for k in TILE_KEYS}}
                    for t in m.get("tiles") or [] if isinstance(t, dict)]
    return out


def _health_shape(h):
    h = h or {}
    status = h.get("status") if h.get("status") in HEALTH_STATES else "unknown"
    components = {
        str(name): {"status": None if c.get("status") is None else str(c.get("status")),
                    "description": c.get("description")}
        for name, c in (h.get("components") or {}).items() if isinstance(c, dict)
    }
    return {"status": status, "temperature": _finite(h.get("temperature")),
            "power_usage": _finite(h.get("power_usage")), "components": components}


def _gpu_entry(g, fetched_at):
    err = g.get("error")
    return {
        "device_id": g["device_id"],
        "device_name": g.get("device_name"),
        "pci_bdf_address": g.get("pci_bdf_address"),
        "health": _health_shape(g.get("health")),
        "metrics": _metrics_shape(g.get("metrics")),
        "reason": err["message"] if err else None,
        "source": "xpum", **{k: g[k] for k in ("source", "driver", "sources", "unavailable", "limits", "engines",
                                               "notes") if k in g},
        "_fetched_at": fetched_at,
        "_info": {k: v for k, v in g.items() if k not in ("health", "metrics", "error")},
    }


def pytorch_gpu(probe: dict) -> dict:
    """The torch.xpu probe's result (checks.torch_run) -> the ``pytorch_gpu`` part of the status.

    ``device`` is what the application should use: ``xpu:0`` only when torch.xpu is available and a
    tensor op on xpu:0 worked (as the torch.xpu check decides), else ``cpu``. ``intel_extension`` is
    true only when IPEX is installed, matches torch's major.minor and imports."""
    p = probe or {}
    ok = p.get("outcome") == "ok"
    available = bool(ok and p.get("torch") and p.get("available"))
    usable = available and bool(p.get("tensor_op"))
    ipex = bool(ok and p.get("ipex_version") and p.get("ipex_matches") and p.get("ipex_import") is not False)
    reason = None
    if not ok:
        reason = p.get("reason") or "the PyTorch probe failed"
    elif not p.get("torch"):
        reason = f"PyTorch is not installed in {p.get('python')}"
    elif not available:
        if not p.get("torch_xpu_build"):
            reason = f"torch {p.get('torch')} has no XPU support (a CPU build)"
        else:
            reason = "torch.xpu.is_available() is False" + (
                f" ({p['is_available_error']})" if p.get("is_available_error") else "")
    elif not usable:
        reason = f"a tensor op on xpu:0 failed: {p.get('tensor_error')}"
    return {
        "available": available,
        "device": "xpu:0" if usable else "cpu",
        "count": int(p.get("count") or 0) if available else 0,
        "names": list(p.get("names") or []) if available else [],
        "intel_extension": ipex,
        "torch_version": p.get("torch") if ok else None,
        "ipex_version": p.get("ipex_version") if ok else None,
        "reason": reason,
    }


# --------------------------------------------------------------------------- the service


AUTH_RETRY_SECONDS = 600  # after a 401, the next login no sooner than this (security review F22)


class XPUMonitorService(SysfsSourceMixin):
    """PyTorch + XPU Manager, as the users' backends expect it (see README "GPU status and metrics API").

    Thread-safe. Answers from XPU Manager (successes and failures alike) are reused for
    ``settings.cache_seconds``; concurrent callers share one upstream round. Per-GPU requests go to
    XPU Manager concurrently (checks.xpum ``overview``/``gpu_state``).
    """

    def __init__(self, settings: Settings | None = None, env=None, torch_probe=None, clock=time.monotonic):
        self.config_error = None
        if settings is None:
            try:
                settings = Settings.from_env(env)
            except ConfigError as e:
                self.config_error = str(e)
                settings = Settings()
        self.settings = settings
        self._clock = clock
        self._torch_probe = torch_probe or self._run_torch_probe
        self._cache = TTLCache(settings.cache_seconds, clock)
        self._torch_cache = TTLCache(settings.torch_cache_seconds, clock)
        self._lock = threading.Lock()
        self._client = None
        self._connected_at = None
        self._auth_error = None  # after a 401 no login for AUTH_RETRY_SECONDS: XPU Manager delays each failed one 2^n s
        self._auth_error_at = None
        self._state = None  # (at, ok, reason, kind) of the last upstream outcome
        self._known_ids = []  # GPU ids XPU Manager listed last
        self.upstream_rounds = 0  # counters for tests and the benchmark
        self.connects = 0

    def __repr__(self):
        return f"XPUMonitorService(url={self.url!r}, line={self.line!r}, settings={self.settings!r})"

    # -- XPU Manager connection
    @property
    def url(self):
        return self._client.url if self._client else (self.settings.urls[0] if self.settings.explicit_url else None)

    @property
    def line(self):
        return self._client.line if self._client else None

    @property
    def version(self):
        v = self._client.version if self._client else None
        return (v or {}).get("xpum_version")

    def _note(self, ok, reason=None, kind=None):
        self._state = (self._clock(), ok, reason, kind)

    def _connect(self):
        if self.config_error:
            raise XPUManagerUnavailable(self.config_error, kind="config")
        if self._auth_error is not None:
            if self._clock() - self._auth_error_at < AUTH_RETRY_SECONDS:
                raise XPUManagerUnavailable(self._auth_error, kind="auth")
            self._auth_error = None  # one more login, long after the last failed one (a transient 401 at start-up)
            self._drop(self._client)
        with self._lock:
            if self._client is not None:
                return self._client
        s = self.settings
        tried = []
        try:
            client = xpum.connect(settings=s.connection, tried=tried)
        except xpum.XpumError as e:
            msg = str(e)
            if e.kind == "refused" and len(tried) > 1:
                msg = (f"no XPU Manager answers at {', '.join(t['url'] for t in tried)} (connection refused): "
                       f"is it installed and running? Set XPU_MANAGER_URL if it listens elsewhere")
            msg = _hint_env(msg)
            self._note(False, msg, e.kind)
            raise XPUManagerUnavailable(msg, kind="config" if e.kind == "config" else e.kind) from None
        with self._lock:
            if self._client is None:
                self._client, self._connected_at = client, self._clock()
                self.connects += 1
            else:
                client.close()
            return self._client

    def _drop(self, client):
        """Forget a client that failed (the next round connects again; maybe XPU Manager restarted)."""
        with self._lock:
            if self._client is client:
                self._client = None
        self._cache.invalidate("connect")

    def _upstream(self, fn):
        """fn(client) with a connected client; XpumError -> GPUNotFound / XPUManagerUnavailable."""
        if fn != self._ping and self.source == "sysfs":  # the ping always asks XPU Manager
            return self._sysfs_round(fn)
        client = self._cache.get("connect", self._connect)
        with self._lock:
            self.upstream_rounds += 1
        try:
            out = fn(client)
        except xpum.XpumError as e:
            if e.kind == "notfound":
                self._note(True)
                raise GPUNotFound(None, message=str(e)) from None
            msg = _hint_env(str(e))
            if e.kind == "auth":
                msg = self._auth_error = (f"{msg}; fix the credentials (restart this service, or it tries once more "
                                          f"in {AUTH_RETRY_SECONDS // 60:g} min)")
                self._auth_error_at = self._clock()
            else:
                self._drop(client)
            self._note(False, msg, e.kind)
            raise XPUManagerUnavailable(msg, kind=e.kind) from None
        except Exception as e:  # a bug or an unexpected answer: never a traceback to the caller
            self._drop(client)
            msg = client.scrub(f"unexpected {type(e).__name__} talking to {client.url}")
            self._note(False, msg, "protocol")
            raise XPUManagerUnavailable(msg, kind="protocol") from None
        self._note(True)
        return out

    @property
    def available(self) -> bool:
        """True when the XPU Manager endpoint answers (as of the last cache interval)."""
        st = self._state
        if st is not None and self._clock() - st[0] < self.settings.cache_seconds:
            return st[1]
        if st is not None and self._cache.running("ping"):
            return st[1]  # a ping is under way: the last known state, without waiting for a slow upstream (F5)
        try:
            self._cache.get("ping", lambda: self._upstream(self._ping))
        except MonitorError:
            return False
        return True

    def _ping(self, client):
        if self._connected_at is not None and self._clock() - self._connected_at < self.settings.cache_seconds:
            return None  # connect() just detected it
        return client.detect()

    @property
    def reason(self):
        """Why XPU Manager is unavailable (one line), or None."""
        if self.config_error:
            return self.config_error
        st = self._state
        return None if st is None or st[1] else st[2]

    def manager_info(self) -> dict:
        ok = self.available
        return {"available": ok, "url": self.url, "line": self.line, "version": self.version,
                "reason": None if ok else self.reason}

    # -- data, cached
    def _overview(self):
        def fetch():
            gpus = self._upstream(lambda c: c.overview())
            at = now_iso()
            self._known_ids = [g["device_id"] for g in gpus if not g.get("error")]
            return [_gpu_entry(g, at) for g in gpus]
        return self._cache.get("overview", fetch)

    def _list(self):
        """[GPU as checks.xpum lists it]: from a fresh status round if there is one, else asked for."""
        ov = self._cache.peek("overview")
        if ov is not None:
            return [g["_info"] for g in ov]

        def fetch():
            gpus = self._upstream(lambda c: c.list_gpus())
            self._known_ids = [g["device_id"] for g in gpus]
            return gpus
        return self._cache.get("list", fetch)

    def _gpu(self, device_id):
        """One GPU's entry: from a fresh status round, else asked for alone (cached per GPU). An id the
        last list had is asked for straight away (a vanished GPU answers "not found"); any other id
        is checked against the list (asked again at most once per interval) before XPU Manager is."""
        _check_id(device_id)
        for g in self._cache.peek("overview") or ():
            if g["device_id"] == device_id and g["reason"] is None:
                return g
        if device_id not in self._known_ids:
            known = [g["device_id"] for g in self._list()]
            if device_id not in known:
                raise GPUNotFound(device_id, known, lister=self._lister())

        def fetch():
            state = self._upstream(lambda c: c.gpu_state(device_id))
            return _gpu_entry({"device_id": device_id, **state}, now_iso())
        try:
            return self._cache.get(("gpu", device_id), fetch)
        except GPUNotFound:
            self._cache.invalidate("list")
            self._cache.invalidate("overview")
            self._known_ids = [i for i in self._known_ids if i != device_id]
            raise GPUNotFound(device_id, self._known_ids,
                              message=f"GPU {device_id} not found (it vanished from {self._lister()})") from None

    def _lister(self) -> str:
        """Who listed the GPU ids, for "not found": XPU Manager, or the kernel on the sysfs source."""
        return "the kernel (sysfs)" if self.source == "sysfs" else "XPU Manager"

    # -- the contract
    def get_gpu_list(self) -> list:
        """[{"device_id", "device_name", "pci_bdf_address", ...}] as XPU Manager lists them (1.x ids are
        its own; 2.x ids follow PCI BDF order). Raises XPUManagerUnavailable."""
        return copy.deepcopy(self._list())

    def get_gpu_metrics(self, device_id=0) -> dict:
        """{"gpu_utilization" %, "memory_used" MiB, "memory_total" MiB, "temperature" C, "power_usage" W,
        "memory_utilization" %, "memory_temperature" C, "frequency" MHz, "energy" J, "tiles": [...]};
        a value XPU Manager does not report is None. Raises GPUNotFound, XPUManagerUnavailable."""
        return copy.deepcopy(self._gpu(device_id)["metrics"])

    def get_gpu_health(self, device_id=0) -> dict:
        """{"status": healthy|warning|critical|unknown, "temperature" C, "power_usage" W, "components": {...}}."""
        return copy.deepcopy(self._gpu(device_id)["health"])

    def get_gpu_status(self, device_id=0) -> dict:
        """The body of GET /api/v1/analytics/gpu/metrics: {"device_id", "health", "metrics", "timestamp"}."""
        g = self._gpu(device_id)
        return copy.deepcopy({"device_id": device_id, "health": g["health"], "metrics": g["metrics"],
                              "timestamp": g["_fetched_at"], "source": g["source"]})

    def get_manager_status(self) -> dict:
        """The ``xpu_manager`` part of the status: available, url, line, version, gpus (health and
        metrics each), reason (why not available, else None), timestamp (when fetched)."""
        if self.source == "sysfs":  # XPU Manager is not asked (--source sysfs) or does not answer (auto)
            return self._manager_not_asked()
        try:
            gpus = self._overview()
        except MonitorError as e:
            return {"available": False, "url": self.url, "line": self.line, "version": self.version,
                    "gpus": [], "reason": str(e), "timestamp": now_iso()}
        at = gpus[0]["_fetched_at"] if gpus else now_iso()
        return {"available": True, "url": self.url, "line": self.line, "version": self.version,
                "gpus": [{k: v for k, v in g.items() if not k.startswith("_")} for g in copy.deepcopy(gpus)],
                "reason": None, "timestamp": at}

    # -- PyTorch
    def _run_torch_probe(self) -> dict:
        from checks.torch_run import TorchProbe

        env = {k: v for k, v in os.environ.items() if k not in ("XPU_MANAGER_PASSWORD", "XPU_MANAGER_USER")}
        return TorchProbe(self.settings.python, self.settings.torch_timeout, env).result()

    def start_pytorch_probe(self):
        """Start (or reuse) the PyTorch probe in the background; get_pytorch_gpu() waits for it."""
        threading.Thread(target=self.get_pytorch_gpu, name="xpu-ops-torch-probe", daemon=True).start()

    def get_pytorch_gpu(self) -> dict:
        """{"available", "device" (xpu:0 or cpu), "count", "names", "intel_extension", "torch_version",
        "ipex_version", "reason"} from the torch.xpu check's child-process probe (cached)."""
        try:
            probe = self._torch_cache.get("probe", self._torch_probe)
        except Exception as e:
            probe = {"outcome": "error", "reason": f"the PyTorch probe failed: {type(e).__name__}"}
        return pytorch_gpu(probe)

    def get_status(self) -> dict:
        """The body of GET /api/v1/analytics/gpu/status: {"pytorch_gpu", "xpu_manager", "timestamp"}.
        Never raises for XPU Manager trouble: ``xpu_manager.available`` is false with a ``reason``."""
        if self._torch_cache.peek("probe") is None:
            self.start_pytorch_probe()  # runs while XPU Manager is asked
        manager = self.get_manager_status()
        telemetry = self.get_telemetry_status(manager)
        at = manager.pop("timestamp")
        return {"pytorch_gpu": self.get_pytorch_gpu(), "xpu_manager": manager, "telemetry": telemetry, "timestamp": at}

    def close(self):
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        self._cache.invalidate()


_shared = None
_shared_lock = threading.Lock()


def get_xpu_monitor_service() -> XPUMonitorService:
    """The one shared XPUMonitorService, configured from the environment when first asked for."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = XPUMonitorService()
        return _shared


def reset_xpu_monitor_service(service: XPUMonitorService | None = None):
    """Replace (or with None, forget) the shared instance; the next get_xpu_monitor_service() uses it."""
    global _shared
    with _shared_lock:
        old, _shared = _shared, service
    if old is not None and old is not service:
        old.close()
