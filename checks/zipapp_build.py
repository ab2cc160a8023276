"""Build the checks as one zipapp for hosts that have python3 and nothing else.

The archive holds the ``checks`` package from this checkout and the pure-Python packages it may
import (httpx and its dependencies, prometheus_client), copied from the environment this runs in
(no network). Its ``__main__`` runs ``python -m checks``: the same CLI, the same options, the same
exit codes. It is built once per content and cached as ``<cache>/xpu-ops-checks-<hash>.pyz``;
the bytes are reproducible (fixed timestamps and modes), and a build is written to a temp file
and renamed, so a cut build never leaves a broken archive in the cache.

Control-host only: this module and ``checks.remote`` are not put into the archive.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT_DISTS = ("httpx", "prometheus-client")        # what the checks import lazily on the target
CONTROL_ONLY = {"remote.py", "zipapp_build.py"}     # never needed on the target
MIN_PYTHON = (3, 9)                                 # pyproject's requires-python
FORMAT = "1"                                        # bump when the archive's layout changes
DIST_INFO_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}

BOOTSTRAP = """\
# xpu-ops checks as a zipapp: the same CLI as `python -m checks`.
import sys
if sys.version_info < %(min)r:
    sys.stderr.write("xpu-ops verify: error: python %%d.%%d on this host is too old (xpu-ops needs "
                     "%(min_text)s or later; give --interpreter PATH)\\n" %% tuple(sys.version_info[:2]))
    sys.exit(2)
import runpy
runpy.run_module("checks", run_name="__main__", alter_sys=True)
""" % {"min": MIN_PYTHON, "min_text": "%d.%d" % MIN_PYTHON}


def default_cache_dir() -> Path:
    """``.cache/zipapp`` of the checkout this package lives in, else ``~/.cache/xpu-ops/zipapp``."""
    if os.environ.get("XPU_OPS_CACHE"):
        return Path(os.environ["XPU_OPS_CACHE"]) / "zipapp"
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").exists():
        return checkout / ".cache" / "zipapp"
    return Path.home() / ".cache" / "xpu-ops" / "zipapp"


def _req_name(req: str) -> str:
    return re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req).group(1)


def _marker(req: str) -> str:
    return req.split(";", 1)[1].strip() if ";" in req else ""


def dependency_closure(roots=ROOT_DISTS):
    """The installed distributions the roots need, without extras.

    A dependency behind an environment marker (``python_version < "3.11"``) is taken when it is
    installed here, since the target's Python may be older than this one; one that is not
    installed is listed in the second result instead.
    """
    seen, order, absent = set(), [], []
    todo = list(roots)
    while todo:
        name = todo.pop(0)
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            if name in roots:
                raise
            absent.append(name)
            continue
        order.append(dist)
        for req in dist.requires or []:
            if "extra" in _marker(req):
                continue
            todo.append(_req_name(req))
    return order, absent


def _dist_files(dist):
    """(arcname, path) of a distribution's importable files and metadata (no bytecode, no scripts)."""
    for f in dist.files or []:
        parts = Path(str(f)).parts
        if not parts or parts[0] == ".." or "__pycache__" in parts or str(f).endswith((".pyc", ".pyo")):
            continue
        if parts[0].endswith(".dist-info") and parts[-1] in DIST_INFO_SKIP:
            continue
        path = Path(f.locate())
        if path.is_file():
            yield "/".join(parts), path


def _package_files():
    for path in sorted(PACKAGE_DIR.rglob("*")):
        rel = path.relative_to(PACKAGE_DIR)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if rel.as_posix() in CONTROL_ONLY:
            continue
        yield "checks/" + rel.as_posix(), path


def members():
    """Everything that goes into the archive, as sorted (arcname, bytes), plus the absent deps."""
    dists, absent = dependency_closure()
    files = dict(_package_files())
    for dist in dists:
        for arc, path in _dist_files(dist):
            if arc.split("/")[0] == "checks":
                continue
            files.setdefault(arc, path)
    out = [(arc, Path(p).read_bytes()) for arc, p in sorted(files.items())]
    manifest = "format %s\npython>=%d.%d\n%s%s" % (
        FORMAT, *MIN_PYTHON, "".join("%s %s\n" % (d.metadata["Name"], d.version) for d in dists),
        "".join("absent %s\n" % a for a in absent))
    out.append(("xpu_ops_zipapp.txt", manifest.encode()))
    out.append(("__main__.py", BOOTSTRAP.encode()))
    return out, absent


def content_hash(items) -> str:
    h = hashlib.sha256()
    for arc, data in items:
        h.update(arc.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:20]


def _write(path: Path, items) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for arc, data in items:
            info = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def build(cache_dir: Path | None = None, keep: int = 5) -> Path:
    """Return the path of the zipapp for the current checkout, building it if not cached."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    items, _ = members()
    target = cache_dir / ("xpu-ops-checks-%s.pyz" % content_hash(items))
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".pyz", dir=cache_dir)
    os.close(fd)
    try:
        _write(Path(tmp), items)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    olds = sorted(cache_dir.glob("xpu-ops-checks-*.pyz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in olds[keep:]:
        if old != target:
            try:
                old.unlink()
            except OSError:
                pass
    return target


def main(argv=None) -> int:
    """``python -m checks.zipapp_build [DIR]``: build (or find) the zipapp, print its path."""
    argv = sys.argv[1:] if argv is None else argv
    path = build(Path(argv[0]) if argv else None)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
