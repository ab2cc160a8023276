"""XPU Manager's words on the terminal and in JUnit (security review F14): a 1.x REST stand-in whose version
and GPU name carry terminal escapes; verify's text and JUnit and `xpu-ops status` show them escaped."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.support import hosttree as ht
from tests.support import xpum_standins as xs
from tests.support.verify_run import run_verify

REPO = Path(__file__).resolve().parents[2]
ESC = "\x1b]0;owned\x07\x1b[2J\x1b[31mFAKE OK\x1b[0m\x9b1m"
UNSAFE = "\x1b\x07\x9b"
CREDS = {"XPU_MANAGER_USER": xs.DEFAULT_USER, "XPU_MANAGER_PASSWORD": xs.DEFAULT_PASSWORD}


def _standin():
    gpu = xs.arc_a770("0000:03:00.0")
    gpu.name = "Intel(R) Arc(TM) " + ESC
    return xs.Xpum1Rest(gpus=[gpu], version=dict(xs.VERSION_1X, xpum_version="1.2" + ESC))


def test_f14_xpum_text_is_escaped_in_verify_text_and_junit(tmp_path):
    root = tmp_path / "arc"
    ht.arc_a_i915(root)
    junit = tmp_path / "j.xml"
    with _standin() as s:
        r = run_verify("--root", root, "--only", "xpum.api,xpum.health", "--xpum-url", s.url, "--ca-file",
                       s.ca_file, "--junit", junit, env=CREDS)
    assert r.returncode in (0, 1), r.stderr
    assert "1.2\\x1b]0;owned\\x07" in r.stdout, r.stdout
    for out in (r.stdout, r.stderr, junit.read_text()):
        assert not any(ch in out for ch in UNSAFE), repr(out[:400])
    ET.parse(junit)


def test_f14_xpum_text_is_escaped_in_status():
    with _standin() as s:
        env = {**os.environ, **CREDS, "NO_COLOR": "1"}
        r = subprocess.run([sys.executable, "-m", "xpu_ops", "status", "--xpum-url", s.url, "--ca-file", s.ca_file],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "1.2\\x1b]0;owned\\x07" in r.stdout, r.stdout
    assert not any(ch in r.stdout + r.stderr for ch in UNSAFE), repr(r.stdout[:600])
