"""bin/setup on a fresh Debian machine (apt, venv and pip replaced by stand-ins that record their calls):
only what is needed (no python3-pip: python3-venv brings pip into the venv; openssh-client for remote verify
and provision), progress as it goes, and at the end how to put invoke on PATH and what to run next."""
import shutil
import subprocess

import pytest

from tests.support import setup_standins
from tests.support.verify_run import ROOT


def run_setup(tmp_path, *args):
    checkout = tmp_path / "checkout"
    (checkout / "bin").mkdir(parents=True)
    shutil.copy2(f"{ROOT}/bin/setup", checkout / "bin" / "setup")
    log = tmp_path / "calls.log"
    env = setup_standins.install(tmp_path / "standins", log)
    r = subprocess.run([str(checkout / "bin" / "setup"), *args], env=env, capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return r, log.read_text().splitlines()


def installed(calls):
    line = next(c for c in calls if c.startswith("apt-get") and " install " in c)
    return set(line.split()) - {"apt-get", "install", "-y", "-qq", "--no-install-recommends"}


def test_fresh_machine_installs_only_what_is_needed(tmp_path):
    r, calls = run_setup(tmp_path)
    pkgs = installed(calls)
    assert "python3-pip" not in pkgs
    assert {"python3", "python3-venv", "openssh-client"} <= pkgs
    assert not pkgs & {"debootstrap", "podman", "docker-compose"}          # test tools only with --test
    assert any(c.startswith("python -m venv .venv") for c in calls)
    assert any(c.startswith("python -m pip install -q -e .[provision,service]") for c in calls)


def test_says_what_it_is_doing_and_what_comes_next(tmp_path):
    r, _ = run_setup(tmp_path)
    lines = r.stdout.splitlines()
    steps = [ln for ln in lines if ln.startswith("xpu-ops setup: ")]
    assert [s.split(":")[1].strip() for s in steps] == ["apt", "apt", "venv", "pip", "pip"]
    assert "openssh-client" in steps[1]
    tail = "\n".join(lines[-2:])
    assert ". .venv/bin/activate" in tail and "invoke verify" in tail


@pytest.mark.parametrize("args, nxt", [((), "invoke verify"), (("--test",), "invoke test")])
def test_the_next_command_matches_the_readme(tmp_path, args, nxt):
    r, calls = run_setup(tmp_path, *args)
    assert r.stdout.splitlines()[-1].split()[1:3] == nxt.split()
    readme = (ROOT + "/README.md") if isinstance(ROOT, str) else ROOT / "README.md"
    assert f"bin/setup{' --test' if args else ''} && .venv/bin/{nxt}" in open(readme).read()
    if args:
        assert {"debootstrap", "podman", "openssh-client"} <= installed(calls)
