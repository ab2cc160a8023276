"""A PEP 503 package index on 127.0.0.1 standing in for PyPI, holding stand-in wheels of XPU Manager 1.x REST's pins.

The 1.x REST packages (upstream's rest/requirements.txt: Flask, gunicorn, grpcio, ...) are what roles/xpumanager
installs into its venv. Here each pinned name==version is a real, installable, *empty* wheel (metadata only),
except ``gunicorn``, whose ``gunicorn`` console script is the stand-in of tests/support/standin_deb.py (it takes
upstream's xpum_rest command line and serves the 1.x stand-in). So the role's own work is exercised for real
(venv, exact pins, only this index, the unit starting the venv's gunicorn), not Flask or gunicorn themselves.
Static files served by ``http.server`` on 127.0.0.1; every request is recorded.
"""
from __future__ import annotations

import base64
import hashlib
import re
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.standin_deb import SHIM

GUNICORN_MODULE = "xpu_ops_gunicorn_standin"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(out: Path, name: str, version: str, files: dict[str, str] | None = None,
                entry_points: str = "") -> Path:
    """A py3-none-any wheel: METADATA, WHEEL, RECORD (with hashes), optional modules and entry points."""
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    content = dict(files or {})
    content[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    content[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: xpu-ops-tests\nRoot-Is-Purelib: true\n"
                                "Tag: py3-none-any\n")
    if entry_points:
        content[f"{info}/entry_points.txt"] = entry_points
    record = [_record_line(p, t.encode()) for p, t in content.items()] + [f"{info}/RECORD,,"]
    content[f"{info}/RECORD"] = "\n".join(record) + "\n"
    whl = out / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for p, t in content.items():
            z.writestr(p, t)
    return whl


def gunicorn_files() -> tuple[dict[str, str], str]:
    module = (f"SOURCE = {SHIM!r}\n\n\ndef main():\n"
              "    exec(compile(SOURCE, 'gunicorn', 'exec'), {'__name__': '__main__'})\n")
    return {f"{GUNICORN_MODULE}.py": module}, f"[console_scripts]\ngunicorn = {GUNICORN_MODULE}:main\n"


def build_index(root: Path, pins: list[str]) -> Path:
    """root/simple/<name>/index.html for each ``name[extra]==version`` pin; returns root."""
    wheels = root / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for pin in pins:
        m = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(.+)", pin)
        if not m:
            raise ValueError(f"not a pin: {pin}")
        name, version = m.groups()
        files, eps = gunicorn_files() if _norm(name) == "gunicorn" else ({}, "")
        whl = build_wheel(wheels, name, version, files, eps)
        page = root / "simple" / _norm(name)
        page.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(whl.read_bytes()).hexdigest()
        (page / "index.html").write_text(
            f'<!DOCTYPE html><html><body><a href="../../wheels/{whl.name}#sha256={digest}">{whl.name}</a>'
            "</body></html>\n")
    return root


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        self.server.requests.append(self.path)


class Index:
    """``with Index(root) as url:`` serves root on 127.0.0.1 (a free port); ``.requests`` lists the paths asked."""

    def __init__(self, root: Path):
        self.root, self.requests = root, []

    def __enter__(self) -> str:
        self._srv = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(self.root)))
        self._srv.requests = self.requests
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._srv.server_address[1]}/simple/"

    def __exit__(self, *exc):
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(timeout=10)
