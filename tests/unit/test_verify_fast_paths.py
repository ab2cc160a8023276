"""The fast paths of a local verify decide exactly as the plain ways they stand in for: the option fast path as
argparse, the dpkg status scan as a stanza-by-stanza parse, HostRoot.read as a plain bounded read."""
import os
import subprocess
import sys

import pytest

from checks import cli
from checks import facts as F
from checks.root import HostRoot


@pytest.mark.parametrize("argv", [
    [],
    ["--skip", "torch.xpu"],
    ["--skip=torch.xpu,platform", "--json", "--no-color"],
    ["--root", "/tmp", "--user", "alice", "--only", " platform , pci.gpu ,", "--timeout", "0.5"],
    ["--xpum-url=https://127.0.0.1:30000", "--ca-file", "ca.pem", "--insecure", "--credentials-file", "c"],
    ["--python", "python3", "--torch-timeout", "1e1", "--host-name", "gpu07", "--junit", "out.xml", "--list"],
    ["--root", "", "--skip", "", "--timeout", " 2 ", "--torch-timeout", "inf", "--torch-timeout", " 9 ", "--json"],
])
def test_fast_parse_reads_plain_options_as_argparse_does(argv):
    fast = cli.fast_parse(argv)
    assert fast is not None, argv
    assert vars(fast) == vars(cli.parser().parse_args(argv))


@pytest.mark.parametrize("argv", [
    ["--help"], ["-h"], ["--sk", "torch.xpu"], ["--skip"], ["--skip", "--json"], ["--timeout", "-1"],
    ["--torch-timeout", "soon"], ["--json=yes"], ["platform"], ["--", "--json"], ["--root", "-x"], ["--nope"],
])
def test_anything_else_is_left_to_argparse(argv):
    assert cli.fast_parse(argv) is None


def test_usage_errors_still_come_from_argparse(capsys):
    assert cli.main(["--torch-timeout", "soon"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("xpu-ops verify: error: argument --torch-timeout: invalid float value: 'soon'")
    assert len(err.splitlines()) == 1


def reference_dpkg(text, names):
    """dpkg status, stanza by stanza: the installed version of each wanted package, in file order."""
    out = {}
    for stanza in text.split("\n\n"):
        stanza = stanza.lstrip("\n")
        fields = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, v = line.split(":", 1)
                fields[k] = v.strip()
        if stanza.startswith("Package: ") and fields["Package"] in names \
                and fields.get("Status", "").endswith(" installed"):
            out[fields["Package"]] = fields.get("Version")
    return out


STANZA = "Package: %s\nStatus: %s\nPriority: optional\nArchitecture: %s\nVersion: %s\nDescription: x\n y\n"
OK, GONE = "install ok installed", "deinstall ok config-files"


@pytest.mark.parametrize("stanzas,lead,sep", [
    ([("libze1", OK, "amd64", "1.2"), ("libze1-dev", OK, "amd64", "9"), ("clinfo", GONE, "amd64", "3")], "", "\n"),
    ([("clinfo", OK, "amd64", "3"), ("libze1", OK, "i386", "1.1"), ("libze1", OK, "amd64", "1.2")], "\n", "\n\n"),
    ([("xlibze1", OK, "all", "1"), ("vainfo", OK, "amd64", "2.1 "), ("libze1", GONE, "amd64", "1")], "\n\n", "\n"),
])
def test_dpkg_scan_matches_a_stanza_by_stanza_parse(tmp_path, stanzas, lead, sep):
    text = lead + sep.join(STANZA % s for s in stanzas).replace("Description: x", "Maintainer: Jérôme <j@x>\n"
                                                                  "Description: x")
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(text, encoding="utf-8")
    want = reference_dpkg(text, F.PACKAGES_OF_INTEREST)
    got = F.dpkg_packages(HostRoot(str(tmp_path)))
    assert list(got.items()) == list(want.items())
    assert got  # each case holds at least one wanted, installed package


def test_dpkg_scan_of_this_machine():
    root = HostRoot("/")
    text = root.read("/var/lib/dpkg/status", 64 << 20)
    if text is None:
        pytest.skip("no dpkg on this machine")
    names = set(F.PACKAGES_OF_INTEREST) | {"dpkg", "bash", "python3", "libc6"}
    assert list(F.dpkg_packages(root, names).items()) == list(reference_dpkg(text, names).items())


def test_read_is_a_bounded_read_of_files_and_of_proc(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"a" * 10000 + b"\xff" + b"b" * 10000)
    root = HostRoot(str(tmp_path))
    assert root.read("/big", 10001) == "a" * 10000 + "\ufffd"
    assert root.read("/big", 1 << 20) == big.read_bytes().decode("utf-8", "replace")
    assert root.read_bytes("/big", 5) == b"aaaaa"
    assert root.read("/missing") is None and root.read_bytes("/missing") is None
    with open("/proc/self/status", "rb") as f:  # st_size 0: read to the limit, not to the size
        assert HostRoot("/").read_bytes("/proc/self/status").split(b"\n")[0] == f.read().split(b"\n")[0]
    assert os.stat("/proc/self/status").st_size == 0


HEAVY = ("argparse", "gettext", "json", "threading", "encodings.idna", "ssl", "http.client", "shutil")


@pytest.mark.parametrize("extra,loaded", [
    ([], []), (["--json"], ["json"]), (["--help"], ["argparse", "gettext", "shutil"]),
])
def test_a_plain_local_verify_imports_only_what_it_uses(tmp_path, extra, loaded):
    """Text report, nothing listening at the XPU Manager URL: no argparse, json, threading, idna, ssl..."""
    from tests.support.verify_run import ROOT
    from tests.support.xpum_standins import closed_url
    code = ("import sys\nfrom checks.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('MODULES', sorted(m for m in %r if m in sys.modules), file=sys.stderr)" % (HEAVY,))
    r = subprocess.run([sys.executable, "-c", code, "--root", str(tmp_path), "--skip", "torch.xpu",
                        "--xpum-url", closed_url(), *extra], capture_output=True, text=True, cwd=ROOT,
                       env={"PATH": os.environ["PATH"], "PYTHONPATH": ROOT}, timeout=60)
    line = [x for x in r.stderr.splitlines() if x.startswith("MODULES ")]
    assert line == ["MODULES %s" % sorted(loaded)], r.stderr
