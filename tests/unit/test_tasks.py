"""The invoke face: bad input through `invoke` is one line and exit 2, never a traceback (invoke's own
option parsing included)."""
import subprocess
import sys

import pytest

from tests.support.verify_run import ROOT


def invoke(*args):
    return subprocess.run([sys.executable, "-m", "invoke", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


@pytest.mark.parametrize("args", [
    ("metrics", "--device-id", "x"),
    ("serve", "--port", "abc"),
    ("verify", "--only", "gpu.magic"),
    ("verify", "--root", "/nonexistent-xpu-ops"),
    ("provision",),
    ("provision", "--host", "root@127.0.0.1:99999"),
    ("provision", "--host", "root@127.0.0.1:2222", "--key", "/nonexistent-key"),
    ("provision", "--inventory", "/nonexistent-inventory"),
    ("provision", "--host", "localhost", "--playbook", "nope"),
])
def test_bad_input_through_invoke(args):
    r = invoke(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr
    assert len([x for x in r.stderr.splitlines() if x.strip()]) == 1


def test_verify_through_invoke_keeps_the_exit_code(tmp_path):
    r = invoke("verify", "--root", str(tmp_path), "--only", "pci.gpu")
    assert r.returncode == 1 and "no PCI bus" in r.stdout
