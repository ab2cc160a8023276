"""Inside the collection xpu_ops.gpu (galaxy.yml) Ansible finds a role's own filters only by FQCN: every use
of one of plugins/filter's filters in the roles and playbooks is `xpu_ops.gpu.<name>` (the checkout resolves the
same names through ansible.cfg's collections_path and .collections/). tests/hosts/test_collection.py runs it."""
import importlib.util
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def filter_names():
    spec = importlib.util.spec_from_file_location("xpu_ops_filters", REPO / "plugins" / "filter" / "xpu_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return sorted(mod.FilterModule().filters())


def test_roles_and_playbooks_name_their_filters_by_fqcn():
    names = "|".join(map(re.escape, filter_names()))
    bare = re.compile(r"(\|\s*|(?:map|select|reject)\(\s*')(%s)\b" % names)
    hits = []
    for path in sorted([*(REPO / "roles").rglob("*.yml"), *(REPO / "roles").rglob("*.j2"),
                        *(REPO / "playbooks").glob("*.yml")]):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if bare.search(line):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert hits == []


def test_the_collection_and_the_package_share_one_version():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("xpu_ops", "gpu")
    assert f'version = "{galaxy["version"]}"' in (REPO / "pyproject.toml").read_text()
    link = REPO / ".collections" / "ansible_collections" / "xpu_ops" / "gpu"
    assert link.is_symlink() and link.resolve() == REPO
