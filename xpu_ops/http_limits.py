"""Limits for the HTTP service: how many connections it holds, and how long a client may take to send its
request headers (uvicorn's own knobs cover keep-alive idling, not a slow request head).

Without them, ~1100 clients that each send half a request hold every file descriptor of the service until they
hang up (security review F17). ``uvicorn_config()`` is what ``xpu-ops serve`` and ``BackgroundServer`` run.
"""

from uvicorn.protocols.http.h11_impl import H11Protocol

LIMIT_CONCURRENCY = 200     # connections + running requests; beyond: 503 at once (uvicorn's limit_concurrency)
HEADER_TIMEOUT = 10.0       # seconds from a connection's first byte (or its previous response) to a full head


class HeaderDeadlineH11(H11Protocol):
    """uvicorn's h11 protocol, plus: a request head must arrive within ``header_timeout`` seconds of the
    connection opening (or of the previous response on a keep-alive connection), else the connection closes."""

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport):
        super().connection_made(transport)
        self._head_timer = None
        self._arm()

    def _arm(self):
        if getattr(self, "_head_timer", None) is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self):
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _waiting_for_head(self):
        return self.cycle is None or self.cycle.response_complete

    def data_received(self, data):
        if self._waiting_for_head():
            self._arm()
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm()

    def on_response_complete(self):
        super().on_response_complete()
        self._disarm()   # the next head: uvicorn's keep-alive timeout until its first byte, then ours

    def connection_lost(self, exc):
        self._disarm()
        super().connection_lost(exc)

    def _head_too_slow(self):
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app, header_timeout=HEADER_TIMEOUT, limit_concurrency=LIMIT_CONCURRENCY, **kw):
    """uvicorn.Config for ``app`` with the connection limit and the request-head deadline."""
    import uvicorn

    protocol = type("HeaderDeadlineH11", (HeaderDeadlineH11,), {"header_timeout": float(header_timeout)})
    return uvicorn.Config(app, http=protocol, limit_concurrency=limit_concurrency, **kw)
