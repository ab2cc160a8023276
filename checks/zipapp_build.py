"""Build the checks as one zipapp for hosts that have python3 and nothing else.

The archive holds the ``checks`` package from this checkout and the pure-Python packages it may
import (httpx and its dependencies, prometheus_client). Those are installed once with
``pip install --target`` for the oldest Python the checks support (``--python-version 3.9``,
wheels only), with the dependencies that only older or newer Pythons need (``exceptiongroup``
below 3.11 ...) added, so one archive runs on every python3 from 3.9 on; where pip cannot reach
an index they are copied from this environment instead (they then need its Python or later).
Its ``__main__`` runs ``python -m checks``: the same CLI, the same options, the same exit codes.
Built once per content and cached as ``<cache>/xpu-ops-checks-<hash>.pyz``; the bytes are
reproducible (fixed timestamps and modes), and every build goes to a temp name and is renamed,
so a cut build never leaves a broken archive or dependency folder in the cache.

Control-host only: this module and ``checks.remote`` are not put into the archive.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT_DISTS = ("httpx", "prometheus-client")        # what the checks import lazily on the target
CONTROL_ONLY = {"remote.py", "zipapp_build.py"}     # never needed on the target
MIN_PYTHON = (3, 9)                                 # pyproject's requires-python
NEWEST_MINOR = 15                                   # markers are tried for 3.MIN .. 3.NEWEST_MINOR
FORMAT = "2"                                        # bump when the archive's layout changes
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


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(roots=ROOT_DISTS):
    """The installed distributions the roots need here, without extras; plus the absent ones.

    A dependency behind an environment marker is taken when it is installed; one that is not
    (``exceptiongroup`` on Python 3.11) is listed in the second result.
    """
    seen, order, absent = set(), [], []
    todo = list(roots)
    while todo:
        name = todo.pop(0)
        if _canon(name) in seen:
            continue
        seen.add(_canon(name))
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


def _skip(parts) -> bool:
    return (not parts or parts[0] in ("..", "bin") or "__pycache__" in parts
            or parts[-1].endswith((".pyc", ".pyo"))
            or (parts[0].endswith(".dist-info") and parts[-1] in DIST_INFO_SKIP))


def _venv_files():
    """(arcname, path) of the dependencies as installed in this environment."""
    dists, absent = dependency_closure()
    files = {}
    for dist in dists:
        for f in dist.files or []:
            parts = Path(str(f)).parts
            path = Path(f.locate())
            if not _skip(parts) and path.is_file():
                files.setdefault("/".join(parts), path)
    note = "deps copied from python %d.%d\n%s%s" % (
        *sys.version_info[:2], "".join("%s %s\n" % (d.metadata["Name"], d.version) for d in dists),
        "".join("absent %s\n" % a for a in absent))
    return files, note


def _requirement(text):
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip carries its own copy
        from pip._vendor.packaging.requirements import Requirement
    return Requirement(text)


def _pins():
    """The roots at the versions installed here (what local verify runs with)."""
    pins = []
    for name in ROOT_DISTS:
        try:
            pins.append("%s==%s" % (name, md.version(name)))
        except md.PackageNotFoundError:
            pins.append(name)
    return pins


def _pip(args, timeout):
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=timeout)


def _pip_target_args():
    return ["--only-binary=:all:", "--python-version", "%d.%d" % MIN_PYTHON, "--no-compile",
            "--no-warn-script-location", "-q", "--timeout", "15", "--retries", "1"]


def _marker_deps(report) -> list:
    """Requirements that some Python from MIN_PYTHON on needs but pip left out (markers)."""
    items = report.get("install", [])
    have = {_canon(i["metadata"]["name"]) for i in items}
    envs = [{"python_version": "3.%d" % m, "python_full_version": "3.%d.0" % m, "extra": ""}
            for m in range(MIN_PYTHON[1], NEWEST_MINOR + 1)]
    out = []
    for item in items:
        for text in item["metadata"].get("requires_dist") or []:
            req = _requirement(text)
            if _canon(req.name) in have or req.marker is None:
                continue
            if any(req.marker.evaluate(e) for e in envs):
                req.marker = None
                out.append(str(req))
                have.add(_canon(req.name))
    return out


def pip_deps(cache_dir: Path, timeout: float = 300, retry_after: float = 3600):
    """The dependencies installed for Python MIN_PYTHON+ by pip into a cached folder, or None.

    None when pip cannot get them (no index reachable); that is remembered for retry_after
    seconds, so an offline control host does not wait for pip on every verify.
    """
    reqs = _pins()
    key = hashlib.sha256(("%s %r %s" % (FORMAT, MIN_PYTHON, " ".join(reqs))).encode()).hexdigest()[:16]
    final = cache_dir / ("deps-%s" % key)
    failed = cache_dir / (".deps-%s.failed" % key)
    if (final / ".ready").exists():
        return final
    try:
        if time.time() - failed.stat().st_mtime < retry_after:
            return None
    except OSError:
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".deps-", dir=cache_dir))
    ok = False
    try:
        for _ in range(4):   # markers can bring dependencies that have markers of their own
            r = _pip(["install", "--dry-run", "--ignore-installed", "--report", str(work / "report.json"),
                      "--target", str(work / "t"), *_pip_target_args(), *reqs], timeout)
            if r.returncode != 0:
                failed.write_text(r.stderr[-2000:])
                return None
            more = _marker_deps(json.loads((work / "report.json").read_text()))
            if not more:
                break
            reqs += more
        r = _pip(["install", "--target", str(work / "t"), *_pip_target_args(), *reqs], timeout)
        if r.returncode != 0:
            failed.write_text(r.stderr[-2000:])
            return None
        (work / "t" / ".ready").write_text("\n".join(reqs) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work / "t", final)
        ok = True
        for old in cache_dir.glob("deps-*"):      # other pins: no longer wanted
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
        return final
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        failed.write_text(repr(e))
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if ok and failed.exists():
            failed.unlink()


def _dir_files(folder: Path):
    files = {}
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.is_file() and not _skip(parts) and parts != (".ready",):
            files["/".join(parts)] = path
    return files


def _package_files():
    for path in sorted(PACKAGE_DIR.rglob("*")):
        rel = path.relative_to(PACKAGE_DIR)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if rel.as_posix() in CONTROL_ONLY:
            continue
        yield "checks/" + rel.as_posix(), path


def members(cache_dir: Path | None = None):
    """Everything that goes into the archive, as sorted (arcname, bytes)."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    files = dict(_package_files())
    deps = None if os.environ.get("XPU_OPS_ZIPAPP_OFFLINE") else pip_deps(cache_dir)
    if deps:
        dep_files = _dir_files(deps)
        note = "deps for python>=%d.%d\n%s" % (*MIN_PYTHON, (deps / ".ready").read_text())
    else:
        dep_files, note = _venv_files()
    for arc, path in dep_files.items():
        if arc.split("/")[0] != "checks":
            files.setdefault(arc, path)
    out = [(arc, Path(p).read_bytes()) for arc, p in sorted(files.items())]
    manifest = "format %s\npython>=%d.%d\n%s" % (FORMAT, *MIN_PYTHON, note)
    out.append(("xpu_ops_zipapp.txt", manifest.encode()))
    out.append(("__main__.py", BOOTSTRAP.encode()))
    return out


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
    items = members(cache_dir)
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
