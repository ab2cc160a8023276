"""Build the checks as one zipapp for hosts that have python3 and nothing else.

The archive is the ``checks`` package of this checkout and a ``__main__`` that runs
``python -m checks`` (the same CLI, options and exit codes) -- nothing else: the checks use the
standard library only (Python 3.9+), so no third-party package goes in, and the control-side code
(this module, ``xpu_ops.remote``, ``xpu_ops.fleet``) lives outside ``checks``. Built once per
content and cached as ``<cache>/xpu-ops-checks-<hash>.pyz``; the bytes are reproducible (fixed
timestamps and modes), and every build goes to a temp name and is renamed, so a cut build never
leaves a broken archive in the cache. A cached archive is reused only when it holds exactly this
checkout's members and only we can change it (ours, not group/other-writable), and its compiled
code (``.code``) likewise; anything else is built again.

How a host runs it, the same way for ``xpu_ops.remote`` (ssh) and ``playbooks/verify.yml`` (Ansible):
``python3 -E -s -c LOADER [verify options]`` with, on stdin, one line of base64 (``checks/stdin_boot.py``,
which LOADER runs), one line of the checks compiled here (``code_line``: used by a host whose python has
this one's bytecode magic, which then skips compiling them) and then the archive (raw bytes, or base64
where stdin must be text). The checks are imported from memory: nothing is written on the host.
``stdin_bytes`` and ``stdin_text`` make that input.

``python -m xpu_ops.zipapp [DIR]`` builds (or finds) it and prints its path; with ``--ansible``, one
JSON object instead: ``python_args`` (PYTHON_FLAGS, -c, LOADER) and ``stdin_file`` (the base64 text).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import checks

PACKAGE_DIR = Path(checks.__file__).resolve().parent
MIN_PYTHON = (3, 9)                                 # pyproject's requires-python

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


# python3 PYTHON_FLAGS -c LOADER: LOADER runs the first stdin line (base64 of checks/stdin_boot.py).
# -E -s and no current directory on sys.path: what -I does, in a form every python parses (python2
# too), so an old one gets stdin_boot's one-line "too old" error rather than a usage message.
PYTHON_FLAGS = ("-E", "-s")
LOADER = ('import sys;sys.path[:]=[p for p in sys.path if p];import binascii;'
          'exec(binascii.a2b_base64(getattr(sys.stdin,"buffer",sys.stdin).readline()))')


def default_cache_dir() -> Path:
    """``.cache/zipapp`` of the checkout the checks live in, else ``~/.cache/xpu-ops/zipapp``."""
    if os.environ.get("XPU_OPS_CACHE"):
        return Path(os.environ["XPU_OPS_CACHE"]) / "zipapp"
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").exists():
        return checkout / ".cache" / "zipapp"
    return Path.home() / ".cache" / "xpu-ops" / "zipapp"


def package_files():
    """(arcname, path) of the checks package: its modules and data files, no caches."""
    for path in sorted(PACKAGE_DIR.rglob("*")):
        rel = path.relative_to(PACKAGE_DIR)
        if path.is_file() and "__pycache__" not in rel.parts and path.suffix not in (".pyc", ".pyo"):
            yield "checks/" + rel.as_posix(), path


def members():
    """Everything that goes into the archive, as sorted (arcname, bytes)."""
    out = [(arc, path.read_bytes()) for arc, path in package_files()]
    out.append(("__main__.py", BOOTSTRAP.encode()))
    return out


def content_hash(items) -> str:
    h = hashlib.sha256()
    for arc, data in items:
        h.update(arc.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:20]


def _write(path: Path, items) -> None:
    import zipfile      # only to build: a cached archive is found without it
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for arc, data in items:
            info = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def build(cache_dir: Path | None = None, keep: int = 5) -> Path:
    """Return the path of the zipapp for the current checkout, building it if not cached."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    items = members()
    target = cache_dir / ("xpu-ops-checks-%s.pyz" % content_hash(items))
    if _holds(target, items):          # the name is no proof: a cached archive is reused only if it holds these
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
            for stale in (old, *cache_dir.glob(old.stem + ".*")):     # and its .code / .stdin.txt
                try:
                    stale.unlink()
                except OSError:
                    pass
    return target


def _private(path: Path) -> bool:
    """A regular file (not a link) that only we can change: ours, not group/other-writable, in such a folder."""
    import stat
    try:
        for st in (os.lstat(path), os.stat(path.parent)):
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return False
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _holds(pyz: Path, items) -> bool:
    """Whether the archive at pyz is exactly `items` (names in order, bytes), and only we can change it."""
    if not _private(pyz):
        return False
    import zipfile
    try:
        with zipfile.ZipFile(pyz) as z:
            infos = z.infolist()
            if [i.filename for i in infos] != [arc for arc, _ in items]:
                return False
            return all(z.read(info) == data for info, (_, data) in zip(infos, items))
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, EOFError):
        return False


def boot_source() -> bytes:
    """checks/stdin_boot.py: what LOADER runs on the host."""
    return (PACKAGE_DIR / "stdin_boot.py").read_bytes()


def code_line(pyz: Path) -> bytes:
    """``<magic hex> <base64 of zlib(marshal({"checks/x.py": marshalled code}))>``: the archive's modules
    compiled by this python, as the host would compile them (cached beside the archive)."""
    import importlib.util
    import marshal
    import zlib
    pyz = Path(pyz)
    cached = pyz.with_suffix(".%s.code" % sys.implementation.cache_tag)
    if _private(cached):                # compiled code runs on every host: only from a file no one else can change
        try:
            return cached.read_bytes()
        except OSError:
            pass
    import zipfile
    code = {}
    with zipfile.ZipFile(pyz) as z:
        for name in z.namelist():
            if name.startswith("checks/") and name.endswith(".py"):
                code[name] = marshal.dumps(compile(z.read(name), "/<stdin>/" + name, "exec", dont_inherit=True,
                                                   optimize=0))
    line = importlib.util.MAGIC_NUMBER.hex().encode() + b" " + base64.b64encode(
        zlib.compress(marshal.dumps(code), 9))
    try:
        _write_atomic(cached, line)
    except OSError:             # an archive in a folder we cannot write: compiled again next time
        pass
    return line


def stdin_bytes(pyz: Path) -> bytes:
    """What ``python3 -E -s -c LOADER`` reads on stdin: the boot line, the code line, the archive's bytes."""
    return base64.b64encode(boot_source()) + b"\n" + code_line(pyz) + b"\n" + Path(pyz).read_bytes()


def stdin_text(pyz: Path) -> Path:
    """The same as text (the archive in base64), for stdin that must be text; cached beside the archive."""
    pyz = Path(pyz)
    target = pyz.with_suffix(".%s.stdin.txt" % sys.implementation.cache_tag)
    text = b"\n".join([base64.b64encode(boot_source()), code_line(pyz), base64.b64encode(pyz.read_bytes()), b""])
    if not (target.is_file() and target.read_bytes() == text):
        _write_atomic(target, text)
    return target


def _write_atomic(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv=None) -> int:
    """``python -m xpu_ops.zipapp [--ansible] [DIR]``: build (or find) the zipapp, print its path (or JSON)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    ansible = "--ansible" in argv
    argv = [a for a in argv if a != "--ansible"]
    path = build(Path(argv[0]) if argv else None)
    if ansible:
        print(json.dumps({"python_args": [*PYTHON_FLAGS, "-c", LOADER], "stdin_file": str(stdin_text(path))}))
    else:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
