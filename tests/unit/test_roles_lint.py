"""The Ansible side is lint-clean: every playbook passes --syntax-check, and ansible-lint's production profile.

Not marked `hosts`: no test host is built; ansible-lint only reads files.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PLAYBOOKS = sorted((REPO / "playbooks").glob("*.yml"))
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())
ENV = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1",
       "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _tool(name):
    return shutil.which(name, path=str(BIN)) or shutil.which(name)


def test_every_playbook_and_role_is_there():
    assert {p.name for p in PLAYBOOKS} >= {"site.yml", "provision.yml", "verify.yml", "uninstall.yml"}
    assert set(ROLES) >= {"intel_gpu_driver", "xpumanager", "pytorch_xpu"}
    for role in ROLES:
        for f in ("meta/argument_specs.yml", "meta/main.yml", "defaults/main.yml", "tasks/main.yml"):
            assert (REPO / "roles" / role / f).is_file(), f"{role}/{f}"
    for role in ("intel_gpu_driver", "xpumanager", "pytorch_xpu"):   # provision.yml runs their preflight first
        assert (REPO / "roles" / role / "tasks/preflight.yml").is_file(), role


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_syntax_check(playbook):
    r = subprocess.run([_tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)],
                       cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ansible_lint_production_profile():
    lint = _tool("ansible-lint")
    if not lint:
        pytest.skip("ansible-lint is not installed (pip install ansible-lint; bin/setup --test installs it)")
    r = subprocess.run([lint, "--profile", "production", "--nocolor", "-f", "pep8", "roles", "playbooks"],
                       cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]


def test_no_role_copies_the_family_table():
    """The family table lives in checks/gpu_families.json alone: no role repeats its device ids."""
    import json
    ids = {d.lower() for f in json.loads((REPO / "checks/gpu_families.json").read_text())["families"]
           for d in f["device_ids"]}
    for path in (REPO / "roles").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace").lower()
            hits = [d for d in ids if d in text]
            assert not hits, f"{path} repeats device ids from the family table: {hits[:5]}"
