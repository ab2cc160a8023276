"""docs/roles.md is what the roles' meta/argument_specs.yml and meta/outputs.yml say; every default is
a documented variable and every documented variable has its default; outputs are named apart from inputs."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import roledocs

REPO = Path(__file__).resolve().parents[2]
ROLES = roledocs.roles(REPO)
ROLE_IDS = [d.name for d in ROLES]


def _options(role_dir):
    """Every option of every entry point: {name: spec}."""
    specs, _, _ = roledocs.role_meta(role_dir)
    return {k: v or {} for entry in specs.values() for k, v in ((entry or {}).get("options") or {}).items()}


def test_docs_roles_md_is_current():
    assert (REPO / roledocs.OUTPUT).read_text() == roledocs.render(REPO), \
        "docs/roles.md is stale: run python -m tools.roledocs"


def test_every_role_is_documented_with_every_variable():
    text = (REPO / roledocs.OUTPUT).read_text()
    assert {"intel_gpu_driver", "xpumanager", "xpumanager_container", "pytorch_xpu"} <= set(ROLE_IDS)
    for d in ROLES:
        assert "\n## %s\n" % d.name in text
        for name in _options(d):
            assert "| `%s` |" % name in text, name


def test_container_variables_are_in_the_docs():
    """They were missing from the README's hand-kept tables."""
    text = (REPO / roledocs.OUTPUT).read_text()
    for name in ("xpumanager_container_line", "xpumanager_container_rest_password", "xpumanager_container_privileged",
                 "xpumanager_container_render_to"):
        assert "| `%s` |" % name in text


@pytest.mark.parametrize("role_dir", ROLES, ids=ROLE_IDS)
def test_defaults_and_argument_specs_name_the_same_variables(role_dir):
    options = _options(role_dir)
    defaults = yaml.safe_load((role_dir / "defaults/main.yml").read_text()) or {}
    assert sorted(set(defaults) - set(options)) == [], "in defaults/main.yml, not in meta/argument_specs.yml"
    optional = {k for k, v in options.items() if not v.get("required")}
    assert sorted(optional - set(defaults)) == [], "in meta/argument_specs.yml, not in defaults/main.yml"
    for name in sorted(set(defaults) & set(options)):
        if "default" in options[name]:
            assert options[name]["default"] == defaults[name], name


def _tasks(node):
    """Every task dict in a task file, through block/rescue/always."""
    for t in node or []:
        if isinstance(t, dict):
            yield t
            for key in ("block", "rescue", "always"):
                yield from _tasks(t.get(key))


def _set_names(role_dir):
    """Names the role's tasks and handlers set: register and set_fact."""
    names = set()
    for f in list((role_dir / "tasks").glob("*.yml")) + list((role_dir / "handlers").glob("*.yml")):
        for t in _tasks(yaml.safe_load(f.read_text())):
            if t.get("register"):
                names.add(t["register"])
            for key in ("ansible.builtin.set_fact", "set_fact"):
                if isinstance(t.get(key), dict):
                    names |= {k for k in t[key] if k != "cacheable"}
    return names


@pytest.mark.parametrize("role_dir", ROLES, ids=ROLE_IDS)
def test_outputs_are_named_apart_from_inputs(role_dir):
    _, _, outputs = roledocs.role_meta(role_dir)
    documented = set((outputs.get("facts") or {}))
    inputs = set(_options(role_dir))
    for name in documented:
        assert name.startswith(role_dir.name + "_result_"), name
        assert name not in inputs, name
    for name in _set_names(role_dir):
        assert name.startswith("__%s_" % role_dir.name) or name in documented, \
            f"{role_dir.name} sets {name}: prefix it __{role_dir.name}_ (internal) or document it in meta/outputs.yml"
    assert documented <= _set_names(role_dir), "documented outputs the role never sets"


def test_generator_check_and_bad_metadata(tmp_path):
    stale = tmp_path / "roles.md"
    stale.write_text("old\n")
    run = [sys.executable, "-m", "tools.roledocs"]
    r = subprocess.run(run + ["--check", "--output", str(stale)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 1 and "stale" in r.stderr
    r = subprocess.run(run + ["--check"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "roles", repo / "roles")
    (repo / "roles/xpumanager/meta/argument_specs.yml").write_text("argument_specs: [unclosed\n")
    r = subprocess.run(run + ["--repo", str(repo)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (repo / "docs").exists()
