"""The test tree keeps its layout: tests import support code, never each other, and read nothing outside
the repository (a clone of it alone passes them)."""
import ast
import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
TEST_MODULES = sorted(p for p in TESTS.rglob("test_*.py"))
# Outside = beside the checkout: what sits next to it in the folder that holds it (a developer's other folders,
# reference notes included). Named by what is really there, so a checkout in /tmp does not make every test that
# names a system path such as /var/tmp (the F1 racer, a host's temp folder) look outside. The clean clone CI runs
# is the proof that nothing else is read.
INSIDE = str(REPO) + os.sep


def _beside(names=None):
    if names is None:
        try:
            names = sorted(os.listdir(REPO.parent))
        except OSError:
            names = []
    return [re.compile(re.escape(str(REPO.parent / n)) + r"(?![\w.-])") for n in names if n != REPO.name]


BESIDE = _beside()


def _names_outside(text: str, beside=None) -> bool:
    text = text.replace(INSIDE, "")
    return any(p.search(text) for p in (BESIDE if beside is None else beside))


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def test_layout_has_test_modules():
    assert len(TEST_MODULES) > 10, TEST_MODULES


@pytest.mark.parametrize("path", TEST_MODULES + sorted((TESTS / "support").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(TESTS)))
def test_no_test_imports_a_test_module(path):
    names = [n for n in _imports(ast.parse(path.read_text())) if n.startswith("tests.")]
    wrong = [n for n in names if n.split(".")[1] != "support"]
    assert not wrong, f"{path.name} imports {wrong}: shared code belongs in tests/support/"


def _code_strings(tree):
    """String constants that are not docstrings (prose may cite where a fact was read)."""
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


@pytest.mark.parametrize("path", sorted(p for p in TESTS.rglob("*.py") if p != Path(__file__).resolve()),
                         ids=lambda p: str(p.relative_to(TESTS)))
def test_nothing_read_from_outside_the_repository(path):
    bad = [s for s in _code_strings(ast.parse(path.read_text())) if _names_outside(s)]
    assert not bad, f"{path.name} names paths outside the repository: {bad[:3]}"


def test_the_outside_path_check_can_fail():
    beside = str(REPO.parent / "reference" / "samples" / "a.json")
    tree = ast.parse(f'"""cites {beside}"""\nSAMPLE = {beside!r}\nMINE = {str(REPO / "tests")!r}\n')
    strings = _code_strings(tree)
    assert strings == [beside, str(REPO / "tests")]
    siblings = _beside(["reference", REPO.name])  # as if the notes sat beside the checkout
    assert [s for s in strings if _names_outside(s, siblings)] == [beside]
    racer = str(REPO.parent / "xpu-ops-checks.pyz")  # a whole path part: "xpu" beside us is not that file
    assert not _names_outside(racer, _beside(["xpu"])) and _names_outside(racer, _beside(["xpu-ops-checks.pyz"]))
