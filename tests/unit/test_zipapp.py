"""The checks zipapp: what goes in, reproducible bytes, cut builds, and real runs with every python3
found on this machine (the oldest supported one makes a real HTTP request through the bundled httpx)."""
import glob
import http.server
import json
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from checks import zipapp_build as zb

OFFLINE = {"XPU_OPS_ZIPAPP_OFFLINE": "1"}


def pythons():
    """Interpreters to run the archive with: this one, the system's, and pyenv's, one per minor version."""
    found = {}
    for exe in [sys.executable, "/usr/bin/python3", *sorted(glob.glob("/root/.pyenv/versions/*/bin/python"))]:
        try:
            r = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if r.returncode == 0:
            found.setdefault(tuple(map(int, r.stdout.split("."))), exe)
    return found


PYTHONS = pythons()


@pytest.fixture(scope="module")
def pyz():
    """The archive as remote verify ships it (dependencies resolved for Python 3.9 when pip can)."""
    return zb.build()


def test_contents(pyz):
    names = zipfile.ZipFile(pyz).namelist()
    assert "__main__.py" in names and "checks/__main__.py" in names and "checks/cli.py" in names
    assert "checks/gpu_families.json" in names
    assert "checks/remote.py" not in names and "checks/zipapp_build.py" not in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("bin/")]
    assert "httpx/__init__.py" in names and "prometheus_client/__init__.py" in names
    manifest = zipfile.ZipFile(pyz).read("xpu_ops_zipapp.txt").decode()
    print("\n" + manifest)
    assert manifest.startswith("format ")


def test_reproducible_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XPU_OPS_ZIPAPP_OFFLINE", "1")
    a, b = zb.build(tmp_path / "a"), zb.build(tmp_path / "b")
    assert a.name == b.name and a.read_bytes() == b.read_bytes()
    mtime = a.stat().st_mtime_ns
    assert zb.build(tmp_path / "a") == a and a.stat().st_mtime_ns == mtime


def test_content_change_gives_a_new_archive(tmp_path, monkeypatch):
    monkeypatch.setenv("XPU_OPS_ZIPAPP_OFFLINE", "1")
    items = zb.members(tmp_path)
    changed = [(arc, data + b"\n# changed\n" if arc == "checks/cli.py" else data) for arc, data in items]
    assert zb.content_hash(items) != zb.content_hash(changed)


def test_cut_build_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XPU_OPS_ZIPAPP_OFFLINE", "1")

    def cut(path, items):
        Path(path).write_bytes(b"PK half")
        raise KeyboardInterrupt
    monkeypatch.setattr(zb, "_write", cut)
    with pytest.raises(KeyboardInterrupt):
        zb.build(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("version", sorted(PYTHONS), ids=lambda v: "py%d.%d" % v)
def test_runs_with_python(pyz, version, tmp_path):
    """Each python here runs the archive (elsewhere, -E -s as on a target), or says it is too old."""
    r = subprocess.run([PYTHONS[version], "-E", "-s", str(pyz), "--json", "--only", "platform"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    if version < zb.MIN_PYTHON:
        assert r.returncode == 2 and r.stdout == ""
        (line,) = r.stderr.splitlines()
        assert line.startswith("xpu-ops verify: error: python %d.%d on this host is too old" % version)
        return
    assert r.returncode == 0, r.stderr
    assert [c["id"] for c in json.loads(r.stdout)["checks"]] == ["platform"]


def test_bundled_httpx_works_on_the_oldest_python(pyz):
    supported = [v for v in PYTHONS if v >= zb.MIN_PYTHON]
    oldest = min(supported)
    if "deps for python>=" not in zipfile.ZipFile(pyz).read("xpu_ops_zipapp.txt").decode():
        pytest.skip("dependencies copied from this environment (no package index reachable)")

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        code = ("import sys; sys.path.insert(0, sys.argv[1]); import httpx, prometheus_client\n"
                "r = httpx.Client(timeout=5).get(sys.argv[2]); print(r.status_code, r.text)")
        r = subprocess.run([PYTHONS[oldest], "-E", "-s", "-c", code, str(pyz),
                            "http://127.0.0.1:%d/" % srv.server_address[1]],
                           capture_output=True, text=True, timeout=60)
    finally:
        srv.shutdown()
        srv.server_close()
    print("\npython %d.%d: %s" % (*oldest, r.stdout.strip()))
    assert r.returncode == 0 and r.stdout.split() == ["200", "hello"], r.stderr[-2000:]
