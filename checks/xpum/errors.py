"""What goes wrong talking to XPU Manager (``XpumError`` and its kinds), and the password's holder.

Nothing here imports more than the standard library's ``urllib.parse``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

KINDS = ("config", "refused", "timeout", "tls", "auth", "http", "protocol", "notfound")
NOT_RETRIED = "not retried: the server delays each failed login 2^n s"


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


class Secret:
    """Holds the password; shows as *** in reprs, vars() and f-strings. ``reveal()`` gives it back."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value

    def reveal(self):
        return self._value

    def scrub(self, text) -> str:
        """``text`` with the password replaced by ***."""
        text = str(text)
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self):
        return "***"

    __str__ = __repr__

    def __bool__(self):
        return bool(self._value)


def redact_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable>"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
    return url
