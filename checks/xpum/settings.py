"""Where XPU Manager is and how to talk to it: one ``ConnectionSettings``, resolved flag first, then environment.

Every entry point (``invoke verify`` / ``python -m checks``, ``invoke status/metrics`` / ``python -m xpu_ops``
and the HTTP service) resolves it here, so they honour the same variables:

================================  ==================  ==========================================================
variable                          flag                meaning (default)
================================  ==================  ==========================================================
``XPU_MANAGER_URL``               ``--xpum-url``      the URL; unset: DEFAULT_URLS, the first that answers
``XPU_MANAGER_USER``              (none)              1.x Basic-auth user (``xpumadmin`` when a password is set)
``XPU_MANAGER_PASSWORD``          (none: never argv)  1.x Basic-auth password
``XPU_MANAGER_CREDENTIALS_FILE``  ``--credentials-file``  ``user:password`` or the two lines above; wins over them
``XPU_MANAGER_CA_FILE``           ``--ca-file``       CA that signed the 1.x TLS certificate
``XPU_MANAGER_INSECURE``          ``--insecure``      ``1``: do not verify the TLS certificate (``0``)
``XPU_MANAGER_TIMEOUT``           ``--timeout``       seconds per XPU Manager request, a wall-clock limit (3)
``XPU_MANAGER_EXPORTER_NO_AUTH``  (none)              ``1``: the 1.x server runs with ``XPUM_EXPORTER_NO_AUTH=1``:
                                                      read its open ``/metrics`` and ``/healtz``, no credentials (``0``)
================================  ==================  ==========================================================

A bad value raises ``XpumError(kind="config")`` whose one-line message names where the value came from
(``XPU_MANAGER_TIMEOUT='abc' is not a number`` / ``--timeout abc is not a number``); the password never
appears in it.
"""

from __future__ import annotations

import math
import os
from urllib.parse import urlsplit

from checks.xpum.errors import Secret, XpumError, redact_url

DEFAULT_URLS = [
    "https://127.0.0.1:30000",
    "https://127.0.0.1:29999",
    "http://127.0.0.1:29999",
    "http://127.0.0.1:8080",
]
NATIVE_URL = DEFAULT_URLS[0]  # 1.x native xpum_rest: TLS on 30000 (rest/xpum_rest_main.py, v1.3.x)
DEFAULT_USER = "xpumadmin"
DEFAULT_TIMEOUT = 3.0
MIN_TIMEOUT = 0.05
NATIVE_CERT = "/usr/lib/xpum/rest/conf/cert.pem"
TRUE = ("1", "true", "yes", "on")
FALSE = ("", "0", "false", "no", "off")
# setting -> (flag, environment variable)
SOURCES = {
    "url": ("--xpum-url", "XPU_MANAGER_URL"),
    "credentials_file": ("--credentials-file", "XPU_MANAGER_CREDENTIALS_FILE"),
    "ca_file": ("--ca-file", "XPU_MANAGER_CA_FILE"),
    "insecure": ("--insecure", "XPU_MANAGER_INSECURE"),
    "timeout": ("--timeout", "XPU_MANAGER_TIMEOUT"),
}


# --------------------------------------------------------------------------- URLs


def validate_url(url) -> str:
    """The URL without a trailing slash; XpumError(config) when it cannot be an XPU Manager URL."""
    shown = redact_url(str(url))

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


def may_send_credentials(url: str, named: bool) -> bool:
    """Credentials go only to a URL the user named (flag, environment, config) or over TLS to 1.x's native port;
    never to another default candidate, where any local user may listen first."""
    return bool(named) or url.rstrip("/") == NATIVE_URL


def candidate_urls(url=None, env=os.environ) -> list:
    """[url] if given, else [$XPU_MANAGER_URL] if set, else DEFAULT_URLS (upstream's defaults)."""
    if url:
        return [validate_url(url)]
    if env.get("XPU_MANAGER_URL", "").strip():
        return [validate_url(env["XPU_MANAGER_URL"])]
    return list(DEFAULT_URLS)


# --------------------------------------------------------------------------- credentials


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def read_credentials_file(path: str) -> tuple:
    """(user, password) from lines ``user:password`` or ``XPU_MANAGER_USER=``/``XPU_MANAGER_PASSWORD=``."""
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


def loose_mode(path: str):
    """A one-line warning when the credentials file can be read by its group or others, else None. Not for a
    systemd credential ($CREDENTIALS_DIRECTORY, LoadCredential=): systemd makes that private copy 0440 for the
    service's own group on a directory only the service can enter."""
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and os.path.dirname(os.path.realpath(path)) == os.path.realpath(cred_dir):
        return None
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        return None
    if mode & 0o077:
        return (f"credentials file {path} is readable by {'others' if mode & 0o007 else 'its group'} "
                f"(mode {mode:04o}): chmod 600 {path}")
    return None


def credentials(env=os.environ, path=None) -> tuple:
    """(user, password, source) with source "file", "env" or "none". An explicit file wins."""
    if path:
        user, password = read_credentials_file(path)
        return user, password, "file"
    password = env.get("XPU_MANAGER_PASSWORD") or None
    user = env.get("XPU_MANAGER_USER") or None
    if password:
        return user or DEFAULT_USER, password, "env"
    if user:
        return user, None, "env"
    return None, None, "none"


def load_credentials(env=os.environ, path=None) -> tuple:
    """(user, password) from ``path`` if given, else from $XPU_MANAGER_USER/$XPU_MANAGER_PASSWORD.
    The user defaults to xpumadmin when a password is known; (None, None) when nothing is set.
    Raises XpumError(kind="config") for an unreadable or garbled file."""
    user, password, _ = credentials(env, path)
    return user, password


# --------------------------------------------------------------------------- values with their source


def parse_bool(raw, source: str) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off/''``; ``source`` (e.g. "XPU_MANAGER_INSECURE='maybe'") names it."""
    text = str(raw).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise XpumError("config", f"{source} is not a boolean (use 1 or 0)")


def parse_seconds(raw, source: str, minimum: float = MIN_TIMEOUT) -> float:
    """A finite number of seconds >= minimum."""
    try:
        value = float(str(raw).strip()) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        raise XpumError("config", f"{source} is not a number") from None
    if not (value >= minimum and math.isfinite(value)):
        raise XpumError("config", f"{source} must be at least {minimum:g} s")
    return value


def _given(value):
    """A flag's or variable's value, None when unset or blank."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return value


class ConnectionSettings:
    """URL candidates, credentials, CA file, insecure and timeout for one XPU Manager.

    ``resolve()`` takes each from its flag, else from the environment, validates it, and remembers where
    it came from (``sources``). The password lives in a ``Secret``: never in reprs or messages."""

    def __init__(self, urls=None, user=None, password=None, ca_file=None, insecure=False,
                 timeout=DEFAULT_TIMEOUT, credentials_source="none", explicit=None, sources=None, no_auth=False,
                 warnings=()):
        self.urls = list(urls or DEFAULT_URLS)
        self.explicit = (len(self.urls) == 1) if explicit is None else bool(explicit)
        self.user = user or (DEFAULT_USER if password else None)
        self.secret = password if isinstance(password, Secret) else Secret(password or None)
        self.ca_file = ca_file
        self.insecure = bool(insecure)
        self.timeout = float(timeout)
        self.credentials_source = credentials_source
        self.sources = dict(sources or {})
        self.no_auth = bool(no_auth)  # the 1.x server runs with XPUM_EXPORTER_NO_AUTH=1
        self.warnings = list(warnings)  # one-line notes for the person (a loose credentials file)

    @property
    def password(self):
        return self.secret.reveal()

    def __repr__(self):
        return (f"ConnectionSettings(urls={self.urls!r}, user={self.user!r}, "
                f"password={'***' if self.secret else None}, ca_file={self.ca_file!r}, "
                f"insecure={self.insecure}, timeout={self.timeout:g})")

    def client_kwargs(self) -> dict:
        """Keyword arguments of XpumClient / connect() (the password included: do not log them)."""
        return {"user": self.user, "password": self.password, "ca_file": self.ca_file,
                "insecure": self.insecure, "timeout": self.timeout}

    @classmethod
    def resolve(cls, env=None, url=None, credentials_file=None, ca_file=None, insecure=None, timeout=None,
                default_timeout=DEFAULT_TIMEOUT):
        """Each setting from its flag (the arguments), else from ``env`` (default os.environ), else the
        default. Raises XpumError(kind="config") naming the flag or variable of a bad value."""
        env = os.environ if env is None else env
        picked, sources = {}, {}
        for name, flag_value in (("url", url), ("credentials_file", credentials_file), ("ca_file", ca_file),
                                 ("insecure", insecure or None), ("timeout", timeout)):
            flag, var = SOURCES[name]
            if _given(flag_value) is not None:
                picked[name], sources[name] = _given(flag_value), flag
            elif _given(env.get(var)) is not None:
                picked[name], sources[name] = _given(env.get(var)), var

        def shown(name, value=None):
            """How a person typed it: --timeout 0.5 / XPU_MANAGER_TIMEOUT='0.5' / --insecure."""
            src = sources[name]
            value = picked[name] if value is None else value
            if src.startswith("--"):
                return src if value is True else f"{src} {value}"
            return f"{src}={value!r}"

        def at(name, e):
            return XpumError("config", f"{e} ({sources[name]})")

        urls = list(DEFAULT_URLS)
        if "url" in picked:
            try:
                urls = [validate_url(picked["url"])]
            except XpumError as e:
                raise at("url", e) from None
        try:
            user, password, cred_source = credentials(env, picked.get("credentials_file"))
        except XpumError as e:
            raise at("credentials_file", e) if "credentials_file" in picked else e from None
        ca = picked.get("ca_file")
        if ca is not None and not os.path.isfile(ca):
            raise at("ca_file", f"CA file {ca} does not exist")
        secure_off = False
        if "insecure" in picked:
            secure_off = picked["insecure"] is True or parse_bool(picked["insecure"], shown("insecure"))
        seconds = default_timeout
        if "timeout" in picked:
            seconds = parse_seconds(picked["timeout"], shown("timeout"))
        no_auth = False
        raw = _given(env.get("XPU_MANAGER_EXPORTER_NO_AUTH"))
        if raw is not None:
            no_auth = parse_bool(raw, f"XPU_MANAGER_EXPORTER_NO_AUTH={raw!r}")
        warnings = [w for w in [loose_mode(picked["credentials_file"])] if w] if "credentials_file" in picked else []
        return cls(urls, user, password, ca_file=ca, insecure=secure_off, timeout=seconds,
                   credentials_source=cred_source, explicit="url" in picked, sources=sources, no_auth=no_auth,
                   warnings=warnings)
