"""The checks zipapp: what goes in (the checks package alone, at most 150 KB, standard library only),
reproducible bytes, cut builds, and real runs with every python3 found on this machine -- as a file,
and from stdin in memory the way remote verify and playbooks/verify.yml run it."""
import base64
import glob
import importlib.util
import json
import marshal
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.support import hosttree as ht
from xpu_ops import zipapp as zb

REPO = Path(__file__).resolve().parents[2]
MAX_BYTES = 150 * 1024          # issue #9: the zipapp is at most 150 KB
HW = "platform,pci.gpu,kernel.driver,dri.nodes,dri.access,firmware,userspace"


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
SUPPORTED = sorted(v for v in PYTHONS if v >= zb.MIN_PYTHON)


@pytest.fixture(scope="module")
def pyz():
    """The archive as remote verify ships it."""
    return zb.build()


def test_contents_are_the_checks_package_alone(pyz):
    names = zipfile.ZipFile(pyz).namelist()
    size = pyz.stat().st_size
    print("\nzipapp: %d bytes, %d members" % (size, len(names)))
    assert size <= MAX_BYTES
    assert "__main__.py" in names and "checks/__main__.py" in names and "checks/cli.py" in names
    assert "checks/gpu_families.json" in names and "checks/stdin_boot.py" in names
    assert [n for n in names if n != "__main__.py" and not n.startswith("checks/")] == []
    # exactly the package's files as they are in the checkout: no control-side module, no cache
    on_disk = sorted("checks/" + p.relative_to(REPO / "checks").as_posix() for p in (REPO / "checks").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    assert sorted(n for n in names if n.startswith("checks/")) == on_disk
    for control_side in ("remote", "fleet", "zipapp", "zipapp_build"):
        assert "checks/%s.py" % control_side not in names
    from checks import stdin_boot
    assert stdin_boot.MIN_PYTHON == zb.MIN_PYTHON         # the two ways in say "too old" alike


def test_checks_import_the_standard_library_only():
    """Every module of the checks package, imported in `python -I -S` (no site-packages): nothing else loads."""
    mods = sorted(".".join(("checks", *p.relative_to(REPO / "checks").with_suffix("").parts)).replace(".__init__", "")
                  for p in (REPO / "checks").rglob("*.py") if p.name != "__main__.py" and "__pycache__" not in p.parts)
    assert "checks.xpum" in mods or "checks.xpum.client" in mods
    code = ("import sys, importlib\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "before = set(sys.modules)\n"
            "failed = []\n"
            "for m in sys.argv[2:]:\n"
            "    try:\n"
            "        importlib.import_module(m)\n"
            "    except ImportError as e:\n"
            "        failed.append('%s: %s' % (m, e))\n"
            "top = {n.split('.')[0] for n in set(sys.modules) - before}\n"
            "print(sorted(n for n in top if n not in sys.stdlib_module_names and n != 'checks'))\n"
            "print(failed)\n")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO), *mods],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    foreign, failed = r.stdout.splitlines()
    print("\n%d modules imported" % len(mods))
    assert failed == "[]", "modules of checks that need more than the standard library: " + failed
    assert foreign == "[]", "non-standard-library modules imported: " + foreign


def test_reproducible_and_cached(tmp_path):
    a, b = zb.build(tmp_path / "a"), zb.build(tmp_path / "b")
    assert a.name == b.name and a.read_bytes() == b.read_bytes()
    mtime = a.stat().st_mtime_ns
    assert zb.build(tmp_path / "a") == a and a.stat().st_mtime_ns == mtime


def test_content_change_gives_a_new_archive():
    items = zb.members()
    changed = [(arc, data + b"\n# changed\n" if arc == "checks/cli.py" else data) for arc, data in items]
    assert zb.content_hash(items) != zb.content_hash(changed)


def test_cut_build_leaves_nothing(tmp_path, monkeypatch):
    def cut(path, items):
        Path(path).write_bytes(b"PK half")
        raise KeyboardInterrupt
    monkeypatch.setattr(zb, "_write", cut)
    with pytest.raises(KeyboardInterrupt):
        zb.build(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("version", sorted(PYTHONS), ids=lambda v: "py%d.%d" % v)
def test_runs_with_python(pyz, version, tmp_path):
    """Each python here runs the archive (-I -S: no site-packages at all), or says it is too old."""
    flags = ["-I", "-S"] if version >= (3, 4) else ["-E", "-s", "-S"]
    r = subprocess.run([PYTHONS[version], *flags, str(pyz), "--json", "--only", "platform"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    if version < zb.MIN_PYTHON:
        assert r.returncode == 2 and r.stdout == ""
        (line,) = r.stderr.splitlines()
        assert line.startswith("xpu-ops verify: error: python %d.%d on this host is too old" % version)
        return
    assert r.returncode == 0, r.stderr
    assert [c["id"] for c in json.loads(r.stdout)["checks"]] == ["platform"]


@pytest.mark.parametrize("preset", ["arc_a_i915", "gpu_no_driver"])
def test_zipapp_without_site_packages_on_a_host_tree(pyz, tmp_path, preset):
    """The oldest supported python, no site-packages: the archive verifies a host tree as the checkout does."""
    root = tmp_path / preset
    ht.PRESETS[preset](root)
    args = ["--root", str(root), "--user", "alice", "--only", HW, "--json"]
    r = subprocess.run([PYTHONS[SUPPORTED[0]], "-I", "-S", str(pyz), *args],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    local = subprocess.run([sys.executable, "-m", "checks", *args], capture_output=True, text=True, timeout=120,
                           cwd=REPO)
    assert r.returncode == local.returncode and r.returncode in (0, 1), r.stderr
    got, want = json.loads(r.stdout), json.loads(local.stdout)
    assert [(c["id"], c["status"], c["detail"]) for c in got["checks"]] == \
        [(c["id"], c["status"], c["detail"]) for c in want["checks"]]
    assert got["gpus"] == want["gpus"]


def _loader(python, stdin, *args, cwd, env=None):
    return subprocess.run([python, *zb.PYTHON_FLAGS, "-c", zb.LOADER, *args], input=stdin, capture_output=True,
                          timeout=120, cwd=cwd, env=env)


@pytest.mark.parametrize("version", sorted(PYTHONS), ids=lambda v: "py%d.%d" % v)
def test_runs_from_stdin_in_memory(pyz, version, tmp_path):
    """As remote verify runs it: LOADER, the boot line and the raw archive on stdin; nothing written."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = dict(os.environ, HOME=str(home), TMPDIR=str(tmp))
    r = _loader(PYTHONS[version], zb.stdin_bytes(pyz), "--json", "--only", "platform", cwd=home, env=env)
    err = r.stderr.decode()
    if version < zb.MIN_PYTHON:
        assert r.returncode == 2 and r.stdout == b""
        (line,) = err.splitlines()
        assert line.startswith("xpu-ops verify: error: python %d.%d on this host is too old" % version)
        return
    assert r.returncode == 0, err
    assert [c["id"] for c in json.loads(r.stdout)["checks"]] == ["platform"]
    assert list(home.iterdir()) == [] and list(tmp.iterdir()) == []


def test_stdin_text_for_ansible_and_a_host_tree(pyz, tmp_path):
    """As playbooks/verify.yml runs it: the same input as base64 text; the report is the checkout's."""
    text = zb.stdin_text(pyz)
    assert text.read_bytes() == zb.stdin_text(pyz).read_bytes()       # cached, same bytes
    boot, code, archive = text.read_text().split("\n")[:3]
    assert base64.b64decode(boot) == (REPO / "checks" / "stdin_boot.py").read_bytes()
    assert code.encode() == zb.code_line(pyz)
    assert base64.b64decode(archive) == pyz.read_bytes()
    root = tmp_path / "tree"
    ht.PRESETS["arc_b_xe"](root)
    args = ["--root", str(root), "--user", "alice", "--only", HW, "--json"]
    r = _loader(PYTHONS[SUPPORTED[0]], text.read_bytes(), *args, cwd=tmp_path)
    local = subprocess.run([sys.executable, "-m", "checks", *args], capture_output=True, text=True, timeout=120,
                           cwd=REPO)
    assert r.returncode == local.returncode == 0, r.stderr
    assert json.loads(r.stdout)["checks"] == json.loads(local.stdout)["checks"]


def test_data_files_and_tracebacks_come_from_memory(pyz, tmp_path):
    """package_data (gpu_families.json, torch_probe.py) reads from the archive; tracebacks show source lines."""
    probe = ("import sys\n"
             "boot = {'__name__': 'boot'}\n"
             "exec(open(sys.argv[1]).read(), boot)\n"
             "sys.meta_path.insert(0, boot['MemoryImporter'](boot['members'](open(sys.argv[2], 'rb').read())))\n"
             "from checks import families\n"
             "print(len(families.table()[0]) > 0, families.__file__)\n"
             "print(families.package_data('torch_probe.py')[:3])\n"
             "try:\n"
             "    families.package_data('nosuch.json')\n"
             "except FileNotFoundError:\n"
             "    import traceback\n"
             "    tb = traceback.format_exc().splitlines()\n"
             "    at = [i for i, x in enumerate(tb) if 'File \"/<stdin>/checks/families.py\"' in x][-1]\n"
             "    print(tb[at + 1].strip())\n")
    r = subprocess.run([PYTHONS[SUPPORTED[0]], "-I", "-S", "-c", probe, str(REPO / "checks" / "stdin_boot.py"),
                        str(pyz)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first, second, third = r.stdout.splitlines()
    assert first == "True /<stdin>/checks/families.py"
    assert second == repr((REPO / "checks" / "torch_probe.py").read_bytes()[:3])
    assert "get_data(" in third and third in (REPO / "checks" / "families.py").read_text()  # the source line


def test_precompiled_code_runs_only_on_the_same_bytecode(pyz, tmp_path):
    """The code line is what runs when the host's python has this one's magic; otherwise the sources are compiled."""
    magic, blob = zb.code_line(pyz).split(b" ")
    code = marshal.loads(zlib.decompress(base64.b64decode(blob)))
    modules = [n for n in zipfile.ZipFile(pyz).namelist() if n.endswith(".py") and n != "__main__.py"]
    assert sorted(code) == sorted(modules)
    code["checks/cli.py"] = marshal.dumps(compile("def main():\n    print('shipped code ran')\n    return 0\n",
                                                  "/<stdin>/checks/cli.py", "exec"))
    marked = base64.b64encode(zlib.compress(marshal.dumps(code)))
    boot = base64.b64encode(zb.boot_source())
    for line, want in ((magic + b" " + marked, "shipped code ran"), (b"00000000 " + marked, "PASS  platform"),
                       (b"-", "PASS  platform")):
        r = _loader(sys.executable, b"\n".join([boot, line, pyz.read_bytes()]), "--only", "platform", cwd=tmp_path)
        assert r.returncode == 0 and want in r.stdout.decode(), r.stderr


@pytest.mark.parametrize("stdin,why", [(b"-\n", "not a zip archive"), (b"garbage\n", "the checks did not arrive"),
                                       (b"PK\x05\x06" + b"\0" * 18, "holds no checks package"),
                                       (b"%s !!\nPK" % importlib.util.MAGIC_NUMBER.hex().encode(), "did not arrive")])
def test_bad_stdin_is_one_line_exit_2(tmp_path, stdin, why):
    boot = base64.b64encode(zb.boot_source()) + b"\n"
    r = _loader(sys.executable, boot + stdin, "--json", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == b""
    (line,) = r.stderr.decode().splitlines()
    assert line.startswith("xpu-ops verify: error: ") and why in line
