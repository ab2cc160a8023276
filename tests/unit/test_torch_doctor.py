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
