"""Crafted `--root` trees (security review F7, F11, F12, F13, F14): each test performs the attack or the fault
against `python -m checks --root TREE` run as a user runs it, and asserts what must hold."""
import json
import os
import stat
import xml.etree.ElementTree as ET

import pytest

from checks.root import HostRoot
from tests.support import hosttree as ht
from tests.support.verify_run import run_verify

SECRET = "outside-the-root-7f3a"
HW = "platform,pci.gpu,kernel.driver,dri.nodes,dri.access,firmware,userspace"


def _tree(tmp_path):
    root = tmp_path / "image"
    ht.arc_a_i915(root)
    return root


def _secret_file(tmp_path):
    """A file outside the root, as /etc/shadow is for an image verified as root."""
    d = tmp_path / "outside"
    d.mkdir(exist_ok=True)
    (d / "shadow").write_text("root:%s:20228:0:99999:7:::\n" % SECRET)
    (d / "vendors").mkdir(exist_ok=True)
    (d / "vendors" / "evil.icd").write_text(SECRET + "\n")
    return d


def _strings(obj):
    """Every string (keys included) of a JSON value, joined: what the report says, JSON escaping undone."""
    if isinstance(obj, dict):
        return "\n".join(_strings(k) + "\n" + _strings(v) for k, v in obj.items())
    if isinstance(obj, list):
        return "\n".join(map(_strings, obj))
    return obj if isinstance(obj, str) else ""


def _verify(root, tmp_path, *extra, timeout=60):
    junit = tmp_path / "junit.xml"
    r = run_verify("--root", root, "--user", "alice", "--only", HW, "--json", "--junit", junit, *extra,
                   timeout=timeout)
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr
    ET.parse(junit)                                    # well-formed
    return r, json.loads(r.stdout), junit.read_text()


# ------------------------------------------------------------------------------------------------ F7

def test_f7_absolute_and_relative_links_do_not_leave_the_root(tmp_path):
    root, out = _tree(tmp_path), _secret_file(tmp_path)
    vendors = root / "etc/OpenCL/vendors"
    (vendors / "shadow.icd").symlink_to(out / "shadow")                         # absolute: the attack of F7
    (vendors / "up.icd").symlink_to(os.path.relpath(out / "shadow", vendors))   # relative, climbing out
    (vendors / "deep.icd").symlink_to("../../../../../../../../.." + str(out / "shadow"))
    (root / "etc/OpenCL/other").symlink_to(out / "vendors")                     # a directory link on the way
    (vendors / "viadir.icd").symlink_to("/etc/OpenCL/other/evil.icd")
    os.replace(root / "etc/os-release", root / "etc/os-release.bak")
    (root / "etc/os-release").symlink_to(out / "shadow")
    r, rep, junit = _verify(root, tmp_path)
    assert SECRET not in r.stdout + r.stderr + junit
    icds = next(c for c in rep["checks"] if c["id"] == "userspace")["evidence"]
    assert "intel.icd" in json.dumps(icds)                 # the tree's own files are still read


def test_f7_links_resolve_inside_the_root(tmp_path):
    """An absolute link is re-rooted (it names the tree's own file), `..` stops at the root."""
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "etc/real").write_text("inside\n")
    (root / "etc/abs").symlink_to("/etc/real")
    (root / "etc/up").symlink_to("../../../../etc/real")
    (root / "lnk").symlink_to("/etc")
    (root / "loop").symlink_to("/loop")
    h = HostRoot(str(root))
    for p in ("/etc/abs", "/etc/up", "/lnk/abs", "/lnk/../etc/real", "/../../etc/real"):
        assert h.read(p) == "inside\n", p
        assert h.resolve(p) == "/etc/real", p
    assert h.listdir("/lnk") == ["abs", "real", "up"]
    assert h.read("/loop") is None and h.resolve("/loop") is None and h.listdir("/loop") == []
    assert h.is_link("/etc/abs") and h.readlink("/etc/abs") == "/etc/real" and not h.is_dir("/etc/abs")


def test_f7_a_directory_swapped_for_a_link_is_not_followed(tmp_path):
    """The walker opens each directory with O_NOFOLLOW: a directory replaced by a link to the outside
    between the resolution and the open (the race an untrusted tree can play) reads as absent."""
    root, out = tmp_path / "r", _secret_file(tmp_path)
    (root / "etc/OpenCL/vendors").mkdir(parents=True)
    h = HostRoot(str(root))
    real_readlink = os.readlink

    def swap_then_readlink(path, *, dir_fd=None):
        """os.readlink that swaps etc/OpenCL/vendors for a link to the outside right after looking at it."""
        try:
            return real_readlink(path, dir_fd=dir_fd)
        finally:
            if path == "vendors" and not os.path.islink(root / "etc/OpenCL/vendors"):
                os.rmdir(root / "etc/OpenCL/vendors")
                os.symlink(out / "vendors", root / "etc/OpenCL/vendors")

    os.readlink, saved = swap_then_readlink, os.readlink
    try:
        got = h.read("/etc/OpenCL/vendors/evil.icd")
    finally:
        os.readlink = saved
    assert os.path.islink(root / "etc/OpenCL/vendors")      # the swap happened mid-walk
    assert got is None


# ------------------------------------------------------------------------------------------------ F11

@pytest.mark.parametrize("where", ["/etc/os-release", "/etc/group", "/etc/OpenCL/vendors/intel.icd",
                                   "/var/lib/dpkg/status"])
def test_f11_a_fifo_where_a_file_is_expected_does_not_hang(tmp_path, where):
    root = _tree(tmp_path)
    p = root / where.lstrip("/")
    if p.is_symlink() or p.exists():
        p.unlink()
    os.mkfifo(p)
    r, rep, _ = _verify(root, tmp_path, timeout=30)       # today's code blocks in open() for ever
    assert stat.S_ISFIFO(os.lstat(p).st_mode)


# ------------------------------------------------------------------------------------------------ F12

@pytest.mark.parametrize("line", ["render:x:abc:alice", "video:x::alice", "render:x:-:alice,bob", "x:x:1e3:alice"])
def test_f12_a_non_numeric_gid_is_no_traceback(tmp_path, line):
    root = _tree(tmp_path)
    with open(root / "etc/group", "a") as f:
        f.write(line + "\n")
    r, rep, _ = _verify(root, tmp_path)
    access = next(c for c in rep["checks"] if c["id"] == "dri.access")
    assert access["status"] == "pass", access             # the real render group still counts


def test_f12_a_user_whose_gid_is_not_a_number_is_in_no_group_by_it(tmp_path):
    root = _tree(tmp_path)
    text = (root / "etc/passwd").read_text().replace("alice:x:1000:1000:", "alice:x:1000:abc:")
    (root / "etc/passwd").write_text(text)
    with open(root / "etc/group", "a") as f:
        f.write("wheel:x:zz:\n")
    r, rep, _ = _verify(root, tmp_path)
    assert "wheel" not in json.dumps(next(c for c in rep["checks"] if c["id"] == "dri.access"))


# ------------------------------------------------------------------------------------------------ F13

def test_f13_non_utf8_names_give_a_report_and_valid_junit(tmp_path):
    root = _tree(tmp_path)
    devices = root / "sys/bus/pci/devices"
    gpu = next(n for n in os.listdir(devices) if n.endswith("03:00.0"))
    os.symlink(os.readlink(devices / gpu), os.path.join(os.fsencode(devices), b"0000:03:00.\xff"))
    (root / "etc/OpenCL/vendors").joinpath(os.fsdecode(b"\xfe\xff.icd")).write_text("/x.so\n")
    junit = tmp_path / "junit.xml"
    junit.write_text("<testsuites/>\n")                   # an earlier run's file
    r, rep, text = _verify(root, tmp_path)
    assert "0000:03:00.\\xff" in _strings(rep) and "\\xfe\\xff.icd" in _strings(rep)   # shown, escaped
    t = run_verify("--root", root, "--user", "alice", "--only", HW)   # the text report too
    assert t.returncode in (0, 1) and "Traceback" not in t.stderr and "0000:03:00.\\xff" in t.stdout


def test_f13_junit_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    from checks import cli, report
    junit = tmp_path / "junit.xml"
    junit.write_text("<testsuites>earlier</testsuites>\n")

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    code = cli.main(["--root", str(_tree(tmp_path)), "--user", "alice", "--only", "platform", "--junit", str(junit),
                     "--json"])
    assert code == 2
    assert junit.read_text() == "<testsuites>earlier</testsuites>\n"
    assert sorted(os.listdir(tmp_path)) == ["image", "junit.xml"]      # no temp file left
    assert report.write_atomic is not None


# ------------------------------------------------------------------------------------------------ F14

ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31mFAKE OK\x1b[0m\x9b31m\r\x00"


def test_f14_terminal_escapes_from_the_tree_reach_neither_terminal_nor_junit(tmp_path):
    root = _tree(tmp_path)
    (root / "usr/lib/os-release").write_text('PRETTY_NAME="Ubuntu %s"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
                                             'ID=ubuntu\nID_LIKE=debian\n' % ESCAPES)
    (root / "etc/OpenCL/vendors").joinpath("a\x1b[2Jb.icd").write_text("/x.so\x1b]0;t\x07\n")
    r, rep, junit = _verify(root, tmp_path)
    t = run_verify("--root", root, "--user", "alice", "--only", HW)
    for out in (t.stdout, t.stderr, junit, r.stdout):
        assert not any(ch in out for ch in "\x1b\x07\x9b\r\x00"), repr(out[:300])
    assert "\\x1b]0;owned\\x07" in t.stdout                 # shown, not obeyed



def test_a_group_name_from_the_tree_is_quoted_in_the_remedy(tmp_path):
    """The render node's group name comes from the root's /etc/group: the remedy pasted as printed adds the user
    to that one group, it never runs a second command."""
    from tests.support import hosttree as ht
    from tests.support.verify_run import check_of, run_json

    root = tmp_path / "t"
    ht.PRESETS["render_not_accessible"](root)
    group = root / "etc" / "group"
    group.write_text(group.read_text().replace("render:", "render;touch${IFS}/tmp/owned:"))
    _, rep = run_json("--root", root, "--user", "alice", "--only", "dri.access")
    remedy = check_of(rep, "dri.access")["remedy"]
    assert "sudo usermod -aG 'render;touch${IFS}/tmp/owned' alice" in remedy, remedy
