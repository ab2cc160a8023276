"""torch.xpu finds the PyTorch the user runs, and its child is isolated (real child interpreters, real venvs)."""
import json
import os
import subprocess
import sys

import pytest

from tests.support.verify_run import ROOT, check_of, run_json

BASE = getattr(sys, "_base_executable", sys.executable)


@pytest.fixture(scope="module")
def own_venv(tmp_path_factory):
    """A venv without torch made from the same base interpreter as the test venv (which has torch): the two
    venvs' python symlinks point at the same file, as xpu-ops' and an application's do."""
    d = tmp_path_factory.mktemp("own") / "venv"
    subprocess.run([BASE, "-m", "venv", "--without-pip", str(d)], check=True)
    return d


def _verify_with(python_running, *args, env=None, cwd=ROOT):
    e = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    e.update({"PYTHONPATH": ROOT, "NO_COLOR": "1"})
    e.update(env or {})
    r = subprocess.run([str(python_running), "-m", "checks", "--json", *map(str, args)], capture_output=True,
                       text=True, env=e, cwd=cwd, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return r, json.loads(r.stdout)


def test_venv_from_the_same_base_is_probed_not_taken_for_ours(tmp_path, own_venv):
    """verify run by a venv without torch, --python another venv (same base) with torch: torch is found."""
    assert os.path.samefile(own_venv / "bin" / "python", sys.executable)  # the trap: same file behind both
    r, rep = _verify_with(own_venv / "bin" / "python", "--root", tmp_path, "--only", "torch.xpu",
                          "--python", sys.executable)
    c = check_of(rep, "torch.xpu")
    assert c["evidence"]["torch"].startswith("2."), c
    assert "not installed" not in c["detail"]
    assert c["evidence"]["self"] is False


def test_no_python_option_uses_the_active_virtual_env(tmp_path, own_venv):
    venv = os.path.dirname(os.path.dirname(sys.executable))
    r, rep = _verify_with(own_venv / "bin" / "python", "--root", tmp_path, "--only", "torch.xpu",
                          env={"VIRTUAL_ENV": venv})
    c = check_of(rep, "torch.xpu")
    assert c["evidence"]["found_by"] == "VIRTUAL_ENV"
    assert c["evidence"]["torch"].startswith("2.")


def test_no_torch_where_verify_looked_is_a_warning_naming_where_and_how(tmp_path, own_venv):
    """No --python, no VIRTUAL_ENV, python3 on PATH without torch: warn (exit 0), never fail."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(own_venv / "bin" / "python")
    r, rep = _verify_with(own_venv / "bin" / "python", "--root", tmp_path, "--only", "torch.xpu",
                          env={"PATH": str(bindir)})
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "warn" and r.returncode == 0
    assert "VIRTUAL_ENV (not set)" in c["detail"] and "python3 on PATH (%s)" % (bindir / "python3") in c["detail"]
    assert "--python /path/to/your/venv/bin/python" in c["remedy"]


def test_no_python3_at_all_is_a_warning(tmp_path, own_venv):
    r, rep = _verify_with(own_venv / "bin" / "python", "--root", tmp_path, "--only", "torch.xpu",
                          env={"PATH": str(tmp_path)})
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "warn" and r.returncode == 0
    assert "no interpreter" in c["detail"] and "python3 on PATH (none)" in c["detail"]


def _env_dumping_python(tmp_path):
    """An 'interpreter' that records the environment and working directory it was started with."""
    py = tmp_path / "python"
    py.write_text("#!/bin/sh\nenv > %s/child.env\npwd > %s/child.cwd\nexit 3\n" % (tmp_path, tmp_path))
    py.chmod(0o755)
    return py


def test_probe_child_gets_no_xpu_manager_secret(tmp_path):
    """Security review F9: XPU_MANAGER_PASSWORD and every XPU_MANAGER_* stay out of the application's interpreter."""
    py = _env_dumping_python(tmp_path)
    secret = "S3cret-pw-%d" % os.getpid()
    run_json("--root", tmp_path, "--only", "torch.xpu", "--python", py, env={
        "XPU_MANAGER_PASSWORD": secret, "XPU_MANAGER_USER": "xpumadmin", "XPU_MANAGER_URL": "http://127.0.0.1:1"})
    seen = (tmp_path / "child.env").read_text()
    assert secret not in seen
    assert "XPU_MANAGER_" not in seen
    assert "PATH=" in seen  # the rest of the environment is kept


def test_probe_child_runs_from_root_not_the_callers_folder(tmp_path):
    """Security review F10: a json.py/torch.py where verify was started is never imported by the child."""
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "imported"
    for mod in ("json", "torch"):
        (work / (mod + ".py")).write_text("open(%r, 'a').write(%r)\nraise SystemExit(9)\n" % (str(marker), mod))
    # the outer process with -P (as the review ran it): `python -m` puts its own cwd first, standard Python
    r = subprocess.run([sys.executable, "-P", "-m", "checks", "--json", "--root", str(tmp_path), "--only", "torch.xpu",
                        "--python", sys.executable], capture_output=True, text=True, cwd=str(work),
                       env=dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1"), timeout=120)
    assert not marker.exists(), marker.read_text()
    c = check_of(json.loads(r.stdout), "torch.xpu")
    assert c["evidence"]["outcome"] == "ok"
    py = _env_dumping_python(tmp_path)
    subprocess.run([sys.executable, "-P", "-m", "checks", "--json", "--root", str(tmp_path), "--only", "torch.xpu",
                    "--python", str(py)], capture_output=True, cwd=str(work), env=dict(os.environ, PYTHONPATH=ROOT))
    assert (tmp_path / "child.cwd").read_text().strip() == "/"


def test_relative_python_is_resolved_before_the_child_moves_to_root(tmp_path):
    (tmp_path / "py").symlink_to(sys.executable)
    r = subprocess.run([sys.executable, "-m", "checks", "--json", "--root", str(tmp_path), "--only", "torch.xpu",
                        "--python", "./py"], capture_output=True, text=True, cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    c = check_of(json.loads(r.stdout), "torch.xpu")
    assert c["evidence"]["outcome"] == "ok", c["detail"]


# ---------------------------------------------------------------- the doctor: what the PyTorch process loaded

STANDIN = os.path.join(ROOT, "tests", "support", "torch_xpu_standin")


def _so(path):
    """An empty shared library at `path` (a real file the dynamic linker maps)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    src = path + ".c"
    with open(src, "w") as f:
        f.write("int xpuops_standin_%d;\n" % abs(hash(path)))
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", path, src], check=True)
    return path


def _doctor(tmp_path, cfg, tree=None, levelzero=None, standin=STANDIN):
    """torch.xpu decided on the real probe of the torch stand-in (and, when given, a real Level Zero probe)."""
    from checks import engine
    from checks.rules import REGISTRY
    from checks.torch_run import TorchProbe
    from tests.support import hosttree
    (tree or hosttree.arc_a_i915)(tmp_path / "root")
    opts = engine.Options(root=str(tmp_path / "root"), only=["kernel.driver"], python=sys.executable)
    facts = engine.gather(opts, engine.validate(opts))
    env = dict(os.environ, PYTHONPATH=standin, XPUOPS_TORCH_STANDIN=json.dumps(cfg))
    facts["torch"] = TorchProbe(sys.executable, 60, env).result()
    facts["levelzero"] = levelzero or {"skipped": "test"}
    return REGISTRY["torch.xpu"].fn(facts)


pytestmark_gcc = pytest.mark.skipif(not __import__("shutil").which("gcc"), reason="no C compiler (bin/setup --test)")


@pytestmark_gcc
def test_two_sycl_runtimes_in_one_process_warn(tmp_path):
    oneapi = _so(str(tmp_path / "opt/intel/oneapi/compiler/2025.0/lib/libsycl.so.8"))
    wheel = _so(str(tmp_path / "venv/lib/libsycl.so.9"))
    st, detail, remedy, ev = _doctor(tmp_path, {"names": ["Intel(R) Arc(TM) A770 Graphics"], "load": [oneapi, wheel]})
    assert st == "warn", detail
    assert "two SYCL runtimes in one process" in detail and oneapi in detail and wheel in detail
    assert "setvars.sh was NOT sourced" in remedy
    assert oneapi in ev["mapped"] and wheel in ev["mapped"]


@pytestmark_gcc
def test_oneapi_runtime_shadowing_the_wheels_warns(tmp_path):
    import shutil
    standin = tmp_path / "standin"
    shutil.copytree(STANDIN, standin)
    bundled = _so(str(standin / "torch" / "lib" / "libsycl.so.8"))
    oneapi = _so(str(tmp_path / "opt/intel/oneapi/compiler/2025.0/lib/libsycl.so.8"))
    st, detail, remedy, ev = _doctor(tmp_path, {"names": ["Intel(R) Arc(TM) A770 Graphics"], "load": [oneapi]},
                                     standin=str(standin))
    assert st == "warn"
    assert "oneAPI's runtime shadows the one this PyTorch ships: %s loaded instead of %s" % (oneapi, bundled) in detail
    assert "NOT sourced" in remedy


def test_healthy_xpu_reports_memory(tmp_path):
    st, detail, remedy, ev = _doctor(tmp_path, {"names": ["Intel(R) Arc(TM) A770 Graphics"],
                                                "mem": [12 << 30, 16 << 30]})
    assert st == "pass", detail
    assert "use device xpu:0" in detail and "xpu:0 memory: 12.0 of 16.0 GiB free" in detail


def test_max_reports_the_device_hierarchy(tmp_path):
    from tests.support import hosttree
    st, detail, _, _ = _doctor(tmp_path, {"names": ["Intel(R) Data Center GPU Max 1550"] * 4}, tree=hosttree.max_i915)
    assert "ZE_FLAT_DEVICE_HIERARCHY=unset (each stack of a Max GPU is its own xpu device)" in detail


@pytestmark_gcc
def test_integrated_gpu_as_xpu0_beside_a_discrete_one_names_the_selector(tmp_path):
    """Level Zero (Debian's real loader, the stand-in driver) lists the iGPU first; torch's xpu:0 is that iGPU."""
    from checks.levelzero_run import LevelZeroProbe
    from tests.support import ze_driver_standin
    if not ze_driver_standin.available():
        pytest.skip("no Level Zero loader and headers")
    uhd = dict(name="Intel(R) UHD Graphics 770", bdf="0000:00:02.0", device_id=0x4680, integrated=True)
    a770 = dict(name="Intel(R) Arc(TM) A770 Graphics", bdf="0000:03:00.0", device_id=0x56A0)
    drv = ze_driver_standin.build(str(tmp_path / "drv"), [uhd, a770])
    z = LevelZeroProbe(20, dict(os.environ, LD_LIBRARY_PATH=drv)).result()
    st, detail, remedy, _ = _doctor(tmp_path, {"names": [uhd["name"], a770["name"]]}, levelzero=z)
    assert st == "warn"
    assert "xpu:0 is the integrated Intel(R) UHD Graphics 770 while the discrete Intel(R) Arc(TM) A770 Graphics " \
           "(0000:03:00.0) is present" in detail
    assert "export ONEAPI_DEVICE_SELECTOR=level_zero:1" in remedy and "ZE_AFFINITY_MASK=1" in remedy


def test_verify_with_no_options_on_a_healthy_host_exits_0(tmp_path, own_venv):
    """Issue #15: default options, a healthy host whose python3 has no torch: warnings, exit 0. The XPU Manager
    checks are left out: their default URLs are 127.0.0.1 ports that other suites' stand-ins on this shared
    machine may hold (a named URL that does not answer fails, as it should)."""
    from tests.support import hosttree
    hosttree.arc_a_i915(tmp_path / "root")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(own_venv / "bin" / "python")
    r, rep = _verify_with(own_venv / "bin" / "python", "--root", tmp_path / "root", "--user", "alice",
                          "--skip", "xpum.service,xpum.api,xpum.health,xpum.exposure", env={"PATH": str(bindir)})
    bad = [(c["id"], c["detail"]) for c in rep["checks"] if c["status"] == "fail"]
    assert r.returncode == 0 and not bad, bad
    assert check_of(rep, "torch.xpu")["status"] == "warn"


def test_build_without_its_own_runtime_is_told_to_source_setvars(tmp_path):
    """An XPU build that ships no SYCL runtime, none mapped, setvars not sourced: the advice is to source it."""
    st, detail, remedy, ev = _doctor(tmp_path, {"names": [], "xpu": "20250101"})
    assert st == "fail"  # torch.xpu unavailable beside an Intel GPU
    assert "this PyTorch build ships no SYCL runtime and oneAPI's is not loaded" in detail
    assert "source /opt/intel/oneapi/setvars.sh" in remedy
    assert ev["bundled"] == [] and ev["mapped"] == []


def test_active_virtual_env_that_is_verifys_own_is_said(tmp_path, own_venv):
    """`. .venv/bin/activate` then verify: the active venv is xpu-ops' own, which has no torch: a warning saying so."""
    r, rep = _verify_with(own_venv / "bin" / "python", "--root", tmp_path, "--only", "torch.xpu",
                          env={"VIRTUAL_ENV": str(own_venv)})
    c = check_of(rep, "torch.xpu")
    assert c["status"] == "warn" and r.returncode == 0
    assert "not installed in %s (xpu-ops' own environment)" % (own_venv / "bin" / "python") in c["detail"]


def test_diag_pytorch_test_child_is_isolated_too(tmp_path, monkeypatch):
    """checks.diag's PyTorch test child (python -c torch_diag.py): no XPU_MANAGER_* secret, run from /."""
    from checks import diag
    py = _env_dumping_python(tmp_path)
    secret = "S3cret-diag-%d" % os.getpid()
    monkeypatch.setenv("XPU_MANAGER_PASSWORD", secret)
    rep = {"checks": [{"id": "torch.xpu", "status": "pass", "evidence": {"available": True}}], "gpus": []}
    diag.torch_tests(str(py), 30, rep)
    assert secret not in (tmp_path / "child.env").read_text()
    assert "XPU_MANAGER_" not in (tmp_path / "child.env").read_text()
    assert (tmp_path / "child.cwd").read_text().strip() == "/"
