"""The check registry (checks/rules/): a check's layer is the module it lives in, it reads only the facts
it declares, and the engine gathers exactly the facts the selected checks declare."""
import os
import sys

from tests.support import hosttree as ht
import pytest
from tests.support import xpum_standins as xs

from checks import engine
from checks.rules import CONTEXT, LAYERS, MODULES, REGISTRY

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("XPU_MANAGER_")}


class OnlyDeclared(dict):
    """The facts a check declared (and CONTEXT); reading any other key, with [], get() or `in`, fails."""

    def __init__(self, facts, allowed, cid):
        super().__init__((k, facts[k]) for k in allowed)
        self.cid = cid

    def _allowed(self, key):
        if not dict.__contains__(self, key):
            raise AssertionError("check %s reads fact %r but does not declare it in needs=" % (self.cid, key))

    def __getitem__(self, key):
        self._allowed(key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        self._allowed(key)
        return dict.get(self, key, default)

    def __contains__(self, key):
        self._allowed(key)
        return True


def opts_for(root, ids, **kw):
    kw.setdefault("env", CLEAN_ENV)
    return engine.Options(root=str(root), only=list(ids), timeout=2.0, **kw)


def test_every_check_lives_in_a_layer_module_with_a_known_layer():
    import importlib
    assert set(LAYERS) == {importlib.import_module("checks.rules." + m).LAYER for m in MODULES}
    modules = []
    for c in REGISTRY.values():
        module = c.fn.__module__
        assert module.startswith("checks.rules.") and module.rsplit(".", 1)[1] in MODULES, c
        assert c.layer in LAYERS and c.layer == importlib.import_module(module).LAYER, c
        assert c.needs and set(c.needs) <= set(engine.FACTS), c
        modules.append(MODULES.index(module.rsplit(".", 1)[1]))
    assert modules == sorted(modules)  # check order: the modules' order, then definition order
    assert engine.all_ids() == list(REGISTRY)


@pytest.fixture(scope="module")
def torch_facts(tmp_path_factory):
    """The torch fact probed for real: with this interpreter's torch, and with one that has none."""
    root = tmp_path_factory.mktemp("empty")
    out = []
    for py in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(py):
            out.append(engine.gather(opts_for(root, ["torch.xpu"], python=py), ["torch.xpu"])["torch"])
    return out


def scenario_facts(tmp_path, torch_facts):
    """(name, facts) for every host-tree preset, and for one tree behind XPU Manager 1.x and 2.x stand-ins."""
    ids = [i for i in REGISTRY if i != "torch.xpu"]
    for name, build in sorted(ht.PRESETS.items()):
        root = tmp_path / name
        build(root)
        facts = engine.gather(opts_for(root, ids), ids)
        for n, torch in enumerate(torch_facts):
            yield "%s/torch%d" % (name, n), dict(facts, torch=torch)
    root = tmp_path / "arc_a_i915"
    creds = dict(CLEAN_ENV, XPU_MANAGER_USER=xs.DEFAULT_USER, XPU_MANAGER_PASSWORD=xs.DEFAULT_PASSWORD)
    for standin in (xs.Xpum1Rest(gpus=[xs.arc_a770("0000:03:00.0")]), xs.Xpum2Exporter(gpus=[xs.arc_a770()])):
        with standin as s:
            facts = engine.gather(opts_for(root, ids, xpum_url=s.url, ca_file=s.ca_file, env=creds), ids)
        assert facts["xpum"]["url"] == s.url and not facts["xpum"]["error"], facts["xpum"]
        yield type(standin).__name__, dict(facts, torch=torch_facts[0])


def test_checks_read_only_the_facts_they_declare(tmp_path, torch_facts):
    seen = set()
    for name, facts in scenario_facts(tmp_path, torch_facts):
        for c in REGISTRY.values():
            got = c.fn(OnlyDeclared(facts, c.needs + CONTEXT, c.id))
            assert got == c.fn(facts), (name, c.id)
            seen.add((c.id, got[0]))
    assert {cid for cid, _ in seen} == set(REGISTRY)
    assert len({status for _, status in seen}) == 4  # pass, warn, fail and skip all reached


@pytest.fixture(scope="module")
def arc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("arc")
    ht.arc_a_i915(root)
    return root


@pytest.mark.parametrize("cid", list(REGISTRY))
def test_engine_gathers_exactly_what_the_selected_checks_need(arc_root, cid):
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable  # a quick torch probe
    facts = engine.gather(opts_for(arc_root, [cid], python=python), [cid])
    want = set(REGISTRY[cid].needs) | set(engine.REPORT_NEEDS)
    want |= {dep for name in want for dep in engine.FACTS[name][1]}
    assert set(facts) == want | set(CONTEXT)
    rep = engine.report(facts, engine.evaluate(facts, [cid]))
    assert [c["id"] for c in rep["checks"]] == [cid]
    assert "internal error" not in rep["checks"][0]["detail"]
