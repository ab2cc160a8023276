"""HTTP(S) to one XPU Manager with the standard library alone (``http.client`` + ``ssl``).

What it keeps from the client it replaces (httpx): a plain TCP connect first (``precheck``: nothing
listens -> "refused" before ``ssl``/``http.client`` are even imported; that socket then carries the first
request), one timeout per socket operation (kind "timeout"), TLS failures explained (not trusted,
host name mismatch, "does it speak plain HTTP?"), redirects never followed, no proxy from the environment,
``User-Agent: xpu-ops``, and keep-alive connections reused. Connections sit in a small pool: a
request takes one that no other thread uses (the 1.x client sends waves of requests from a thread
pool), gives it back after reading the whole answer, and an idle one the server has closed meanwhile
(gunicorn drops idle connections after 2 s) is left behind; a request that meets such a connection
closed under it is sent once more on a fresh one (GET only, nothing answered yet).
"""

from __future__ import annotations

import _thread  # threading.Lock is _thread.allocate_lock; importing threading costs verify ~1 ms
import socket
import time

from checks.xpum.errors import XpumError
from checks.xpum.settings import NATIVE_CERT

PRECHECK_TIMEOUT = 1.0
MAX_IDLE = 32
IDLE_SECONDS = 1.5  # a kept-alive connection idle longer is not reused: gunicorn closes them after 2 s
USER_AGENT = "xpu-ops"
MIB = 1024 * 1024
MAX_BODY = 16 * MIB  # a JSON answer larger than this is not XPU Manager's (F6: a hostile listener must not OOM us)
MAX_METRICS_BODY = 64 * MIB  # /metrics


class Response:
    """A whole HTTP answer: ``status_code``, ``headers`` (lower-case names), ``content``, ``text``, ``json()``."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: dict, content: bytes):
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        ctype = self.headers.get("content-type", "")
        charset = "utf-8"
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip("\"'")
        try:
            return self.content.decode(charset, "replace")
        except LookupError:
            return self.content.decode("utf-8", "replace")

    def json(self):
        """The body as JSON; ValueError when it is not."""
        import json

        return json.loads(self.content)


class _Deadline:
    """A wall-clock limit on one request: past ``seconds`` the socket is shut down, so a server that trickles its
    answer (headers or body) one byte at a time cannot hold the caller longer (socket timeouts are per read)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.fired = False
        self._done = None

    def arm(self, sock):
        done = _thread.allocate_lock()
        done.acquire()
        self._done = done
        _thread.start_new_thread(self._watch, (done, sock))

    def _watch(self, done, sock):
        if not done.acquire(timeout=self.seconds):
            self.fired = True
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS
            except (OSError, ValueError):
                pass

    def disarm(self):
        if self._done is not None:
            self._done.release()
            self._done = None


class _TooBig(Exception):
    pass


def _read_body(resp, cap: int) -> bytes:
    length = resp.getheader("content-length") or ""
    if length.strip().isdigit() and int(length) > cap:
        raise _TooBig()
    chunks, n = [], 0
    while True:
        chunk = resp.read(65536)
        if not chunk:
            return b"".join(chunks)
        n += len(chunk)
        if n > cap:
            raise _TooBig()
        chunks.append(chunk)


def _single_cert_der(path):
    """The DER bytes of the one certificate in PEM file ``path``; None when it holds none or several."""
    import ssl

    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read(1024 * 1024)
    except OSError:
        return None
    end = "-----END CERTIFICATE-----"
    if text.count("-----BEGIN CERTIFICATE-----") != 1 or end not in text:
        return None
    pem = text[text.index("-----BEGIN CERTIFICATE-----"):text.index(end) + len(end)]
    try:
        return ssl.PEM_cert_to_DER_cert(pem)
    except ValueError:
        return None


def _closed(sock) -> bool:
    """True when an idle keep-alive socket is unusable: the peer closed it (or sent something unasked)."""
    import select

    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class Transport:
    """GET requests to ``scheme://host:port``. ``error(kind, message)`` makes the XpumError to raise
    (the client's: it scrubs the password and names the URL)."""

    def __init__(self, url, scheme, host, port, ca_file=None, insecure=False, timeout=5.0, error=None):
        self.url, self.scheme, self.host, self.port = url, scheme, host, port
        self.ca_file = ca_file
        self.insecure = bool(insecure)
        self.timeout = float(timeout)
        self._error = error or (lambda kind, message, status=None: XpumError(kind, message, url=url))
        self._lock = _thread.allocate_lock()
        self._idle: list = []  # keep-alive connections no request uses right now
        self._presock = None  # the precheck's connected socket, for the first request
        self._prechecked = False
        self._context = None
        self._pin = None  # DER of --ca-file's one certificate once it is used as a pin (the server's own cert)

    # -- connections
    def precheck(self):
        """A plain TCP connect: raises XpumError refused/timeout/config when nothing can answer."""
        if self._prechecked:
            return
        where = f"{self.host}:{self.port}"
        wait = min(self.timeout, PRECHECK_TIMEOUT)
        try:
            # an ASCII host as bytes: getaddrinfo then skips the idna codec (its import costs verify ~1.5 ms)
            host = self.host.encode("ascii") if self.host.isascii() else self.host
            sock = socket.create_connection((host, self.port), timeout=wait)
        except socket.gaierror as e:
            raise self._error("config", f"cannot resolve XPU Manager host '{self.host}': {e.strerror}") from None
        except ConnectionRefusedError:
            raise self._error(
                "refused",
                f"nothing listens on {where} (connection refused): is the XPU Manager service running there?",
            ) from None
        except socket.timeout:
            raise self._error("timeout", f"no answer from {self.url} within {wait:g} s (TCP connect)") from None
        except OSError as e:
            raise self._error("refused", f"cannot connect to {where}: {e.strerror or type(e).__name__}") from None
        with self._lock:
            self._presock, self._prechecked = sock, True

    def ssl_context(self):
        import ssl

        if self._context is not None:
            return self._context
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            try:
                ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
            except (OSError, ssl.SSLError) as e:
                why = getattr(e, "strerror", None) or getattr(e, "reason", None) or type(e).__name__
                raise self._error("config", f"cannot use CA file {self.ca_file}: {why}") from None
        self._context = ctx
        return ctx

    def _open(self, conn):
        """Connect ``conn`` (TCP, then TLS for https); XpumError for anything that fails."""
        import ssl

        ctx = self.ssl_context() if self.scheme == "https" else None
        with self._lock:
            sock, self._presock = self._presock, None
        try:
            if sock is None:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.settimeout(self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ctx is not None:
                sock = self._wrap(ctx, sock)
        except socket.timeout:
            _close(sock)
            raise  # reported by get(), like a request that gets no answer
        except ssl.SSLError as e:
            _close(sock)
            raise self._error("tls", self.tls_message(e)) from None
        except ConnectionRefusedError:
            raise self._error("refused", f"nothing listens on {self.host}:{self.port} (connection refused)") from None
        except OSError as e:
            _close(sock)
            raise self._error("refused", f"cannot connect to {self.url}: {e.strerror or type(e).__name__}") from None
        conn.sock = sock

    def _wrap(self, ctx, sock):
        """TLS on ``sock``. A --ca-file that is one self-signed server certificate without the host's name (as
        upstream's keytool.sh makes it: ``-subj "/ST=Unknown/O=XPUM"``, no CN, no subjectAltName) is a pin: the
        server must present exactly that certificate; the host name is not checked."""
        import ssl

        if self._pin is not None:
            return self._pinned(sock)
        try:
            return ctx.wrap_socket(sock, server_hostname=self.host)
        except ssl.SSLCertVerificationError as e:
            der = _single_cert_der(self.ca_file) if self.ca_file and not self.insecure else None
            if der is None:
                raise
            _close(sock)
            why = e
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.settimeout(self.timeout)
        self._pin = der
        try:
            return self._pinned(sock)
        except (ssl.SSLError, XpumError):
            self._pin = None
            raise self._error("tls", self.tls_message(why)) from None

    def _pinned(self, sock):
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # checked below: byte for byte the pinned certificate
        tls = ctx.wrap_socket(sock, server_hostname=self.host)
        if tls.getpeercert(binary_form=True) != self._pin:
            _close(tls)
            raise self._error("tls", f"TLS certificate of {self.url} is not the one pinned from --ca-file "
                                     f"{self.ca_file}")
        return tls

    def _acquire(self, fresh=False):
        """(a connection no other request uses, whether it is a kept-alive one)."""
        import http.client

        now = time.monotonic()
        with self._lock:
            while self._idle and not fresh:
                conn, since = self._idle.pop()
                if conn.sock is not None and now - since < IDLE_SECONDS and not _closed(conn.sock):
                    return conn, True
                conn.close()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        if self.scheme == "https":
            conn.default_port = 443  # the Host header names the port only when it is not the default
        return conn, False

    def _release(self, conn):
        with self._lock:
            if conn.sock is not None and len(self._idle) < MAX_IDLE:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
            sock, self._presock = self._presock, None
        for conn, _ in idle:
            conn.close()
        _close(sock)

    # -- requests
    def get(self, path: str, headers: dict, timeout_hint: str = "", timeout=None) -> Response:
        """GET path -> Response (any status). XpumError for what is not an HTTP answer."""
        return self.request("GET", path, headers, timeout_hint=timeout_hint, timeout=timeout)

    def request(self, method: str, path: str, headers: dict, body: bytes | None = None,
                timeout_hint: str = "", timeout=None) -> Response:
        """METHOD path [body] -> Response (any status). XpumError for what is not an HTTP answer. ``timeout``
        (default: the transport's) bounds each socket operation AND the whole request (a wall-clock deadline)."""
        import http.client

        payload = body
        seconds = self.timeout if timeout is None else float(timeout)
        cap = MAX_METRICS_BODY if path == "/metrics" else MAX_BODY
        target = self.url + path
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*", **headers}
        for attempt in (0, 1):
            conn, reused = self._acquire(fresh=attempt > 0)
            deadline = _Deadline(seconds)
            try:
                if conn.sock is None:
                    self._open(conn)
                conn.sock.settimeout(seconds)
                deadline.arm(conn.sock)
                conn.request(method, path, body=payload, headers=headers)
                resp = conn.getresponse()
                body = _read_body(resp, cap)
            except XpumError:
                conn.close()
                raise
            except _TooBig:
                conn.close()
                raise self._error("protocol", f"{target} answered more than {cap // MIB} MiB: not an XPU Manager "
                                              f"answer (not read further)") from None
            except socket.timeout:
                conn.close()
                msg = f"no answer from {target} within {seconds:g} s{timeout_hint}"
                raise self._error("timeout", msg) from None
            except (http.client.HTTPException, OSError) as e:
                conn.close()
                if deadline.fired:
                    msg = f"no answer from {target} within {seconds:g} s{timeout_hint}"
                    raise self._error("timeout", msg) from None
                if reused and attempt == 0 and method == "GET" and isinstance(
                        e, (http.client.RemoteDisconnected, ConnectionError)):
                    continue  # the kept-alive connection was closed under us: once more on a fresh one
                hint = ""
                if self.scheme == "http":
                    hint = f": does it speak HTTPS? try {self.url.replace('http://', 'https://', 1)}"
                raise self._error("protocol", f"{target} did not answer with HTTP ({type(e).__name__}){hint}") from None
            finally:
                deadline.disarm()
            if deadline.fired:
                conn.close()
                raise self._error("timeout", f"no answer from {target} within {seconds:g} s{timeout_hint}")
            if resp.will_close:
                conn.close()
            self._release(conn)
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
        raise AssertionError("unreachable")

    def tls_message(self, exc) -> str:
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
            last = "; --insecure only as a last resort: it sends the password to a peer nobody verified"
            if "mismatch" in why.lower():
                return (
                    f"TLS certificate of {self.url} does not name host '{self.host}' ({why}): pass the server's own "
                    f"certificate as --ca-file (a single self-signed certificate is accepted as a pin: exactly that "
                    f"certificate, no host name check), or connect by a name the certificate carries{last}"
                )
            if self.ca_file:
                return (
                    f"TLS certificate of {self.url} not trusted by --ca-file {self.ca_file} ({why}): pass the CA that "
                    f"signed it, or the server's own certificate (accepted as a pin){last}"
                )
            return (f"TLS certificate of {self.url} not trusted ({why}): pass --ca-file {NATIVE_CERT} (the native "
                    f"server's own certificate, accepted as a pin){last}")
        reason = getattr(ssl_err, "reason", None) or text
        plain = self.url.replace("https://", "http://", 1)
        return f"TLS handshake with {self.url} failed ({reason}): does it speak plain HTTP? try {plain}"


def _close(sock):
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
