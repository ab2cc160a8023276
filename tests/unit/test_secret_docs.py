"""Security review F4: no document or playbook header tells anyone to put a password on the command line
(`-e ...password=...`: every local user reads argv in /proc/*/cmdline, and it lands in shell history);
the documented way is a file (an ansible-vault file with --ask-vault-pass), which invoke provision passes on."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET_ON_ARGV = re.compile(r"(?:^|[\s\[])(?:-e|--extra-vars)[ =]['\"]?\{?['\"]?\w*(?:password|passwd|secret|token)\w*"
                            r"['\"]?\s*[=:]", re.I)


def documents():
    yield from [ROOT / "README.md", ROOT / "inventory.example", ROOT / "tasks.py"]
    yield from sorted((ROOT / "docs").glob("*.md"))
    yield from sorted((ROOT / "playbooks").glob("*.yml"))
    yield from sorted((ROOT / "roles").glob("*/README.md"))
    yield from sorted((ROOT / "roles").glob("*/meta/argument_specs.yml"))


@pytest.mark.parametrize("path", [p for p in documents() if p.exists()], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_password_on_the_command_line(path):
    hits = [ln.strip() for ln in path.read_text().splitlines() if SECRET_ON_ARGV.search(ln)]
    assert hits == []


def test_the_pattern_catches_the_old_advice():
    for line in ("invoke provision --host H --container [-e xpumanager_container_rest_password=...]",
                 ".venv/bin/invoke provision --host gpu1 -e xpumanager_rest_password=S3cret",
                 "ansible-playbook x.yml --extra-vars '{\"xpumanager_rest_password\": \"x\"}'"):
        assert SECRET_ON_ARGV.search(line), line
    assert not SECRET_ON_ARGV.search("invoke provision --host gpu1 --container -e @secrets.yml --ask-vault-pass")


def test_provision_documents_the_vault_way_and_passes_ask_vault_pass():
    text = (ROOT / "docs" / "provisioning.md").read_text()
    assert "-e @secrets.yml --ask-vault-pass" in text
    tasks = (ROOT / "tasks.py").read_text()
    assert '("--ask-vault-pass", ask_vault_pass)' in tasks
