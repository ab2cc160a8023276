"""Test stand-in for a hostile or broken listener on an XPU Manager port (security review F5, F6, F15): not XPU
Manager, something any local user can run on 127.0.0.1 before it. Bounded: every connection ends after
``max_seconds`` and the server after ``lifetime``.

Modes:
  ``trickle``       answers /rest/v1/version with a valid 1.x version, everything else: headers, then one body byte
                    every ``interval`` s (a slow-loris answer)
  ``huge``          /rest/v1/version valid, everything else: ``size`` bytes of JSON string (Content-Length set), or
                    chunked without a length when ``chunked``
  ``echo``          /rest/v1/version valid, everything else: HTTP 500 whose body is the request's own headers
  ``dashboard``     any path: 200 text/html (a web dashboard on 8080: not XPU Manager)
``sent``: body bytes written; ``requests``: [(path, {header: value})].
"""

from __future__ import annotations

import json
import socket
import threading
import time

VERSION = json.dumps({"xpum_version": "1.3.7", "xpum_version_git": "x", "level_zero_version": "1.20"}).encode()


class HostileUpstream:
    def __init__(self, mode: str, size: int = 64 * 1024 * 1024, chunked: bool = False, interval: float = 0.5,
                 max_seconds: float = 20.0, lifetime: float = 60.0):
        self.mode, self.size, self.chunked, self.interval = mode, size, chunked, interval
        self.max_seconds, self.lifetime = max_seconds, lifetime
        self.sent = 0
        self.requests: list = []
        self._stop = threading.Event()
        self._sock = None
        self.url = None

    def __enter__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._sock.close()

    def _serve(self):
        end = time.monotonic() + self.lifetime
        while not self._stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        end = time.monotonic() + self.max_seconds
        try:
            conn.settimeout(self.max_seconds)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            lines = head.split("\r\n")
            path = lines[0].split(" ")[1] if " " in lines[0] else "/"
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            self.requests.append((path, headers))
            if self.mode == "dashboard":
                return self._answer(conn, 200, b"<html><body>my dashboard</body></html>", "text/html")
            if path == "/rest/v1/version":
                return self._answer(conn, 200, VERSION, "application/json")
            if self.mode == "echo":
                return self._answer(conn, 500, head.encode("latin-1"), "text/plain")
            if self.mode == "trickle":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                while time.monotonic() < end and not self._stop.is_set():
                    conn.sendall(b" ")
                    self.sent += 1
                    time.sleep(self.interval)
                return
            if self.mode == "huge":
                block = b"x" * 65536
                if self.chunked:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                                 % self.size)
                while self.sent < self.size and time.monotonic() < end:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(block), block) if self.chunked else block)
                    self.sent += len(block)
        except OSError:
            pass
        finally:
            conn.close()

    def _answer(self, conn, status, body, ctype):
        conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                     % (status, ctype.encode(), len(body)) + body)
        self.sent += len(body)
