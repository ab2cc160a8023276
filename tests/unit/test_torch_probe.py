"""torch.xpu: the probe runs in real child interpreters: the CPU build of torch, one without torch,
one that hangs, one that crashes, and an IPEX whose version does not match torch."""
import os
import stat
import sys
import textwrap

import pytest

from tests.support.verify_run import ROOT as REPO
from tests.support.verify_run import assert_clean_error, check_of, run_json, run_verify


def _script(path, body):
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(scope="module")
def no_torch_python():
    for cand in ("/usr/bin/python3",):
        if os.path.exists(cand):
            import subprocess
            if subprocess.run([cand, "-c", "import torch"], capture_output=True).returncode != 0:
                return cand
    pytest.skip("no interpreter without torch on this machine")


def test_cpu_build_without_gpu_says_use_cpu(tmp_path):
    r, rep = run_json("--root", tmp_path, "--only", "torch.xpu,pci.gpu", "--python", sys.executable)
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "warn"
    assert c["evidence"]["torch"].startswith("2.13")
    assert c["evidence"]["available"] is False
    assert "device: cpu" in c["detail"]
    assert "no XPU support" in c["detail"]
    assert "download.pytorch.org/whl/xpu" in c["remedy"]


def test_cpu_build_with_an_intel_gpu_fails(tmp_path):
    """With an Intel GPU on the bus, a CPU-only torch wastes it: fail, not warn."""
    from tests.support.hosttree import arc_a_i915
    arc_a_i915(tmp_path)
    r, rep = run_json("--root", tmp_path, "--only", "torch.xpu", "--python", sys.executable)
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "fail" and r.returncode == 1
    assert "device: cpu" in c["detail"]


def test_interpreter_without_torch(tmp_path, no_torch_python):
    r, rep = run_json("--root", tmp_path, "--only", "torch.xpu", "--python", no_torch_python)
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "fail" and r.returncode == 1
    assert "not installed" in c["detail"]
    import subprocess
    pep668 = subprocess.run([no_torch_python, "-c", "import os, sys, sysconfig; sys.exit(os.path.isfile(os.path.join("
                             "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"]).returncode == 1
    if pep668:  # Debian 12's python3: pip refuses it (PEP 668), so the remedy makes a venv first
        assert no_torch_python + " -m pip install" not in c["remedy"]
        assert no_torch_python + " -m venv " in c["remedy"] and "--python ~/venv-xpu/bin/python" in c["remedy"]
    else:
        assert c["remedy"].startswith(no_torch_python + " -m pip install")


def test_hanging_child_is_a_failed_check_not_a_hang(tmp_path):
    py = _script(tmp_path / "hangs", "exec sleep 60\n")
    r, rep = run_json("--root", tmp_path, "--only", "torch.xpu", "--python", py, "--torch-timeout", "1")
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "fail"
    assert "did not finish within 1 s" in c["detail"]
    assert c["evidence"]["outcome"] == "timeout"


def test_crashing_child_reports_the_signal(tmp_path):
    py = _script(tmp_path / "crashes", "kill -SEGV $$\n")
    r, rep = run_json("--root", tmp_path, "--only", "torch.xpu", "--python", py)
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "fail"
    assert "killed by SIGSEGV" in c["detail"]


def test_child_that_prints_nothing(tmp_path):
    py = _script(tmp_path / "silent", "echo 'zeInit failed 0x78000001' >&2; exit 3\n")
    r, rep = run_json("--root", tmp_path, "--only", "torch.xpu", "--python", py)
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "fail"
    assert "exited 3 without a result" in c["detail"]
    assert any("0x78000001" in x for x in c["evidence"]["stderr"])


def test_ipex_for_another_torch_is_named_with_the_fix(tmp_path):
    """IPEX 2.8 beside torch 2.13: found through its real package metadata, never imported."""
    site = tmp_path / "site"
    dist = site / "intel_extension_for_pytorch-2.8.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: intel-extension-for-pytorch\nVersion: 2.8.0\n")
    (site / "intel_extension_for_pytorch").mkdir()
    (site / "intel_extension_for_pytorch" / "__init__.py").write_text("raise SystemExit('imported: must not be')\n")
    r, rep = run_json("--root", tmp_path, "--only", "torch.xpu", "--python", sys.executable, env={
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])})
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "fail"
    assert "IPEX 2.8.0 needs torch 2.8.*, found torch 2.13" in c["detail"]
    assert "pip uninstall -y intel-extension-for-pytorch" in c["remedy"]
    assert "torch==2.8.*" in c["remedy"]


def test_python_that_does_not_exist_is_a_usage_error(tmp_path):
    line = assert_clean_error(run_verify("--root", tmp_path, "--python", tmp_path / "nope"))
    assert "--python" in line and "no such executable" in line


def test_python_not_needed_when_torch_check_skipped(tmp_path):
    r = run_verify("--root", tmp_path, "--python", tmp_path / "nope", "--only", "platform")
    assert r.returncode == 0, r.stderr


def test_probe_runs_concurrently_with_sysfs(tmp_path):
    """The child starts before the facts are read: its start time precedes the end of gathering."""
    from checks import engine
    from checks.torch_run import TorchProbe
    seen = {}
    orig = TorchProbe.__init__

    def spy(self, *a, **k):
        orig(self, *a, **k)
        seen["started"] = self.started

    import time
    TorchProbe.__init__ = spy
    try:
        opts = engine.Options(root=str(tmp_path), only=["torch.xpu", "platform"], python=sys.executable)
        ids = engine.validate(opts)
        t0 = time.monotonic()
        facts = engine.gather(opts, ids)
    finally:
        TorchProbe.__init__ = orig
    assert seen["started"] - t0 < 0.5
    assert facts["torch"]["outcome"] == "ok"


def test_same_interpreter_without_torch_needs_no_child(tmp_path, no_torch_python):
    """verify run BY an interpreter without torch, probing itself: decided in-process, same verdict."""
    import subprocess
    from tests.support.verify_run import ROOT
    r = subprocess.run([no_torch_python, "-m", "checks", "--root", str(tmp_path), "--only", "torch.xpu", "--json",
                        "--python", no_torch_python], capture_output=True, text=True, cwd=ROOT,
                       env={"PATH": os.environ["PATH"], "PYTHONPATH": ROOT})
    import json
    c = check_of(json.loads(r.stdout), "torch.xpu")
    assert c["status"] == "fail" and "not installed" in c["detail"]
    assert c["evidence"]["probe"].startswith("in-process")
    assert "name your application's" in c["remedy"] and "--python" in c["remedy"]
