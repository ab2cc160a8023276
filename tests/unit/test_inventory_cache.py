"""xpu_ops.inventory: a static inventory is asked of ansible-inventory once, and again as soon as anything its
answer depends on changes; scripts and inventory plugins are asked every time; the cache keeps no secret."""
import os
import stat

import pytest

from xpu_ops import inventory as I

SECRET = "Inv3ntory-Secr3t-Pw"


@pytest.fixture
def asked(tmp_path, monkeypatch):
    """Cache under tmp_path; counts the calls to ansible-inventory (the real one runs)."""
    monkeypatch.setenv("XPU_OPS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    calls = []
    real = I._ask_ansible

    def counting(*a, **kw):
        calls.append(a)
        return real(*a, **kw)
    monkeypatch.setattr(I, "_ask_ansible", counting)
    return calls


def conn(targets):
    return [(t.name, t.host, t.port, t.user, t.ssh_args, t.python) for t in targets]


def test_static_inventory_asked_once_then_again_on_each_change(tmp_path, asked, monkeypatch):
    inv = tmp_path / "inv" / "hosts.ini"
    inv.parent.mkdir()
    inv.write_text("[gpu]\na ansible_host=127.0.0.1 ansible_port=2201\nb ansible_host=127.0.0.2\n")
    first = conn(I.inventory_targets(str(inv), "gpu"))
    assert first == [("a", "127.0.0.1", 2201, None, [], "python3"), ("b", "127.0.0.2", None, None, [], "python3")]
    assert conn(I.inventory_targets(str(inv), "gpu")) == first and len(asked) == 1

    # another pattern is another question
    assert [t.name for t in I.inventory_targets(str(inv), "a")] == ["a"] and len(asked) == 2

    # the file changes
    inv.write_text(inv.read_text() + "c ansible_host=127.0.0.3\n")
    assert [t.name for t in I.inventory_targets(str(inv), "gpu")] == ["a", "b", "c"] and len(asked) == 3

    # group_vars beside it: a new file, then a changed one
    gv = inv.parent / "group_vars"
    gv.mkdir()
    (gv / "gpu.yml").write_text("ansible_user: ops\n")
    assert {t.user for t in I.inventory_targets(str(inv), "gpu")} == {"ops"} and len(asked) == 4
    (gv / "gpu.yml").write_text("ansible_user: admin\nansible_python_interpreter: /usr/bin/python3.11\n")
    got = I.inventory_targets(str(inv), "gpu")
    assert {(t.user, t.python) for t in got} == {("admin", "/usr/bin/python3.11")} and len(asked) == 5

    # host_vars in the current directory, and an ANSIBLE_* variable
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "a.yml").write_text("ansible_port: 2299\n")
    I.inventory_targets(str(inv), "gpu")
    assert len(asked) == 6
    monkeypatch.setenv("ANSIBLE_INVENTORY_ENABLED", "ini,yaml")
    I.inventory_targets(str(inv), "gpu")
    assert len(asked) == 7
    I.inventory_targets(str(inv), "gpu")
    assert len(asked) == 7


def test_scripts_and_plugins_are_asked_every_time(tmp_path, asked):
    script = tmp_path / "inv.py"
    script.write_text("#!/bin/sh\necho '{\"gpu\": {\"hosts\": [\"s\"]}, \"_meta\": {\"hostvars\": {}}}'\n")
    script.chmod(0o755)
    for _ in range(2):
        assert [t.name for t in I.inventory_targets(str(script))] == ["s"]
    assert len(asked) == 2
    plugin = tmp_path / "cloud.aws_ec2.yml"
    plugin.write_text("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    assert I.cache_key(str(plugin), None, "/bin/true", {}) is None
    assert I.cache_key(str(tmp_path), None, "/bin/true", {}) is None          # a directory of sources
    static = tmp_path / "hosts.yml"
    static.write_text("all:\n  hosts:\n    y: {ansible_host: 127.0.0.9}\n")
    assert I.cache_key(str(static), None, "/bin/true", {}) is not None


def test_errors_come_back_every_time(tmp_path, asked):
    inv = tmp_path / "hosts.ini"
    inv.write_text("h ansible_host='{{ lookup(\"env\", \"H\") }}'\n")
    for _ in range(2):
        with pytest.raises(I.UsageError, match="is a template"):
            I.inventory_targets(str(inv))
    inv.write_text("h ansible_host=127.0.0.1\n")
    for _ in range(2):
        with pytest.raises(I.UsageError, match="no host matches 'nosuch'"):
            I.inventory_targets(str(inv), "nosuch")


def test_cache_keeps_connection_variables_only(tmp_path, asked):
    inv = tmp_path / "hosts.ini"
    inv.write_text("h ansible_host=127.0.0.1 ansible_user=ops ansible_password=%s ansible_become_password=%s "
                   "site_note=%s\n" % (SECRET, SECRET, SECRET))
    (t,) = I.inventory_targets(str(inv))
    assert (t.host, t.user) == ("127.0.0.1", "ops")
    files = list((tmp_path / "cache" / "inventory").iterdir())
    assert len(files) == 1
    assert SECRET not in files[0].read_text() and "ops" in files[0].read_text()
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
