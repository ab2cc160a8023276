"""pci.gpu's remedy ends with a command that lists the Intel GPUs on the PCI bus: it must show every
display class (Flex and Max are display controllers, class 0380, not VGA 0300). Run against the host
trees of those GPUs through an `lspci` stand-in that reads the tree (tests/support/lspci_standin.py)."""
import os
import subprocess
import sys

import pytest

from tests.support import hosttree
from tests.support.verify_run import ROOT, check_of, run_json


def remedy_command(tmp_path):
    tree = tmp_path / "nogpu"
    hosttree.intel_host_bridge_only(tree)
    _, rep = run_json("--root", tree, "--only", "pci.gpu")
    remedy = check_of(rep, "pci.gpu")["remedy"]
    return remedy.split("then: ", 1)[1].split("   (")[0]


@pytest.mark.parametrize("scenario, device", [("flex_i915", "8086:56c0"), ("max_i915", "8086:0bd5"),
                                              ("arc_a_i915", "8086:56a0"), ("integrated_adl", "8086:")])
def test_the_remedy_lists_every_intel_display_class(tmp_path, scenario, device):
    cmd = remedy_command(tmp_path)
    tree = tmp_path / scenario
    getattr(hosttree, scenario)(tree)
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "lspci").write_text('#!/bin/sh\nexec "%s" -m tests.support.lspci_standin "$@"\n' % sys.executable)
    (shim / "lspci").chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (shim, os.environ["PATH"]), LSPCI_STANDIN_ROOT=str(tree),
               PYTHONPATH=ROOT)
    out = subprocess.run(["sh", "-c", cmd], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    assert "[%s" % device in out, (cmd, out)
    assert "Host bridge" not in out and "PCI bridge" not in out
