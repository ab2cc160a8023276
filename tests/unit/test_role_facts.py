"""The roles read host facts through the checks' own code: `python -m checks --facts` and the action
plugin xpu_ops_host_facts that runs it on the host from the zipapp on stdin (read-only, check mode too)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import hosttree as ht

REPO = Path(__file__).resolve().parents[2]
SECURE_BOOT = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def _filters():
    spec = importlib.util.spec_from_file_location("xpu_ops_filters", REPO / "plugins/filter/xpu_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def facts(root, *extra):
    r = subprocess.run([sys.executable, "-m", "checks", "--facts", "--root", str(root), *extra],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("preset", sorted(ht.PRESETS))
def test_roles_see_the_trees_gpus_wsl2_and_render_group(tmp_path, preset):
    tree = ht.PRESETS[preset](tmp_path / preset)
    f = facts(tree.root)
    gpus = _filters().intel_gpu_families(f["pci"].get("gpus", []))
    assert [g["slot"] for g in gpus] == tree.expect.get("gpus", [])
    if gpus:
        assert {g["family"] for g in gpus} == {tree.expect["family"]}
        assert all(g["name"] and g["device"].startswith("0x") for g in gpus)
    assert f["platform"]["wsl2"] is bool(tree.expect.get("wsl"))
    assert f["platform"]["container"] is None
    nodes = sorted(p.name for p in tree.path("/dev/dri").glob("renderD*"))
    assert [os.path.basename(n["path"]) for n in f["render_nodes"]] == nodes
    groups = {int(line.split(":")[2]): line.split(":")[0] for line in tree.path("/etc/group").read_text().splitlines()}
    for n in f["render_nodes"]:                                # named by the tree's /etc/group, not this machine's
        assert n["group"] == groups[os.stat(tree.path(n["path"])).st_gid] == "render"


@pytest.mark.parametrize("marker, content, kind", [
    ("/.dockerenv", "", "docker"),
    ("/run/.containerenv", 'engine="podman-4.9.3"\n', "podman"),
    ("/run/systemd/container", "systemd-nspawn\n", "systemd-nspawn"),
])
def test_container_markers(tmp_path, marker, content, kind):
    tree = ht.arc_a_i915(tmp_path / "t")
    tree.write(marker, content)
    assert facts(tree.root)["platform"]["container"] == kind


def test_dxg_alone_means_wsl2(tmp_path):
    """An older WSL2 kernel ("4.19.128-microsoft-standard") still has dxgkrnl: /dev/dxg decides."""
    tree = ht.HostTree(tmp_path / "t")
    tree.wsl2(release="4.19.128-microsoft-standard")
    p = facts(tree.root)["platform"]
    assert p["dxg"] is True and p["wsl2"] is True


@pytest.mark.parametrize("efi, var, state", [
    (True, b"\x06\x00\x00\x00\x01", "enabled"),
    (True, b"\x06\x00\x00\x00\x00", "disabled"),
    (True, None, "unknown"),
    (False, None, "disabled"),
])
def test_secure_boot(tmp_path, efi, var, state):
    tree = ht.arc_a_i915(tmp_path / "t")
    if efi:
        tree.mkdir("/sys/firmware/efi/efivars")
    if var is not None:
        tree.write(SECURE_BOOT, var)
    boot = facts(tree.root)["boot"]
    assert boot["efi"] is efi and boot["secure_boot"] == state


def test_kernel_headers(tmp_path):
    tree = ht.arc_a_i915(tmp_path / "t")
    kernel = facts(tree.root)["platform"]["kernel"]
    assert facts(tree.root)["boot"]["kernel_headers"] is False
    tree.mkdir(f"/lib/modules/{kernel}/build")
    assert facts(tree.root)["boot"]["kernel_headers"] is True


def test_facts_bad_root_is_one_line_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "checks", "--facts", "--root", str(tmp_path / "nope")],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


PLAY = """
- name: Read host facts as the roles do
  hosts: all
  gather_facts: false
  tasks:
    - name: Read the tree's facts
      xpu_ops_host_facts:
        root: "{{ item }}"
      register: host
      loop: "{{ roots }}"
    - name: Keep what the roles decide on
      ansible.builtin.copy:
        content: >-
          {{ {"families": host.results | map(attribute='pci') | map(attribute='gpus', default=[])
          | map('intel_gpu_families') | map('map', attribute='family') | map('list') | list,
          "wsl2": host.results | map(attribute='platform') | map(attribute='wsl2') | list,
          "changed": host.changed} | to_json }}
        dest: "{{ out }}"
        mode: "0644"
      check_mode: false
"""


@pytest.mark.parametrize("pipelining", ["True", "False"])   # on the connection's stdin, or the command module's
def test_action_plugin_in_check_mode_leaves_nothing_on_the_host(tmp_path, pipelining):
    roots = [ht.arc_b_xe(tmp_path / "arc").root, ht.wsl2(tmp_path / "wsl").root]
    play, out, remote_tmp = tmp_path / "play.yml", tmp_path / "out.txt", tmp_path / "remote-tmp"
    play.write_text(PLAY)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_REMOTE_TMP": str(remote_tmp),
           "ANSIBLE_PIPELINING": pipelining, "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        "--check", "-e", f"ansible_python_interpreter={sys.executable}",
                        "-e", json.dumps({"roots": [str(x) for x in roots], "out": str(out)}), str(play)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    seen = json.loads(out.read_text())
    assert seen == {"families": [["arc-b"], []], "wsl2": [False, True], "changed": False}
    assert not list(remote_tmp.glob("*")), "something was left in the host's temp folder"


# ------------------------------------------------------------------ the state the roles manage (one round trip)

DPKG_STATUS = """Package: clinfo
Status: install ok installed
Version: 3.0.23.01.25-1

Package: intel-opencl-icd
Status: install ok half-configured
Version: 22.43.24595.41-1

Package: vainfo
Status: deinstall ok config-files
Version: 2.12.0+ds1-1

Package: libze1
Status: install ok unpacked
Version: 1.8.12-1

Package: gone
Status: purge ok not-installed
"""


def state_of(root, query):
    return facts(root, "--facts-state", json.dumps(query))["state"]


def test_state_reads_users_groups_files_and_dpkg_of_the_tree(tmp_path):
    tree = ht.arc_a_i915(tmp_path / "t")
    tree.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\ngpuuser:x:1000:1000::/home/gpuuser:/bin/sh\n")
    tree.write("/etc/group", "root:x:0:\nvideo:x:44:gpuuser\nrender:x:105:\ngpuuser:x:1000:\n")
    tree.write("/etc/modprobe.d/intel-gpu.conf", "options i915 enable_guc=3\n", mode=0o600)
    tree.write("/var/lib/dpkg/status", DPKG_STATUS)
    s = state_of(tree.root, {"users": ["gpuuser", "nobody"], "groups": ["render", "video", "nosuch"],
                             "files": ["/etc/modprobe.d/intel-gpu.conf", "/etc/modprobe.d", "/etc/none", "relative"],
                             "dpkg": True})
    assert s["users"] == {"gpuuser": {"exists": True, "groups": ["gpuuser", "video"]},   # primary group included
                          "nobody": {"exists": False, "groups": []}}
    assert s["groups"] == {"render": True, "video": True, "nosuch": False}
    conf = s["files"]["/etc/modprobe.d/intel-gpu.conf"]
    assert conf["kind"] == "file" and conf["mode"] == "0600"
    assert conf["sha1"] == __import__("hashlib").sha1(b"options i915 enable_guc=3\n").hexdigest()
    assert s["files"]["/etc/modprobe.d"]["kind"] == "dir" and s["files"]["/etc/none"] == {"exists": False}
    assert "relative" not in s["files"]
    # dpkg-query -W counts every state but not-installed and config-files; --audit reports half-configured/unpacked
    assert s["dpkg"] == {"installed": ["clinfo", "intel-opencl-icd", "libze1"], "interrupted": True}


def test_state_dpkg_clean_and_journal(tmp_path):
    tree = ht.arc_a_i915(tmp_path / "t")
    tree.write("/var/lib/dpkg/status", "Package: clinfo\nStatus: install ok installed\n")
    assert state_of(tree.root, {"dpkg": True})["dpkg"] == {"installed": ["clinfo"], "interrupted": False}
    # dpkg's journal, read over the status file in name order, not yet merged (apt refuses to run meanwhile)
    tree.write("/var/lib/dpkg/updates/0003", "Package: clinfo\nStatus: purge ok not-installed\n\n"
               "Package: libze1\nStatus: install ok unpacked\n")
    tree.write("/var/lib/dpkg/updates/0004", "Package: libze1\nStatus: install ok installed\n")
    assert state_of(tree.root, {"dpkg": True})["dpkg"] == {"installed": ["libze1"], "interrupted": True}
    assert state_of(tree.root, {})["dpkg"] is None


@pytest.mark.parametrize("query", ["[1, 2]", "{not json"])
def test_state_query_must_be_an_object(tmp_path, query):
    r = subprocess.run([sys.executable, "-m", "checks", "--facts", "--root", str(tmp_path), "--facts-state", query],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def _state_filter():
    spec = importlib.util.spec_from_file_location("xpu_ops_state", REPO / "plugins/filter/xpu_ops_state.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.host_file_differs


def test_host_file_differs_only_saves_a_round_trip_where_the_file_is_exactly_so():
    import hashlib
    differs = _state_filter()
    text = "options i915 enable_guc=3\n"
    seen = {"exists": True, "kind": "file", "mode": "0644", "uid": 0, "gid": 0,
            "sha1": hashlib.sha1(text.encode()).hexdigest()}
    state = {"files": {"/f": seen,
                       "/d": {"exists": True, "kind": "dir", "mode": "0755", "uid": 0, "gid": 0, "sha1": None}}}

    def one(**f):
        return {"files": {"/f": dict(seen, **f)}}
    assert differs(state, "/f", text) is False
    assert differs(state, "/f", text + "x") is True                    # content
    assert differs(state, "/f", text, mode="0600") is True             # mode
    assert differs(one(uid=1000), "/f", text) is True                  # owner
    assert differs(one(kind="link"), "/f", text) is True
    assert differs(one(sha1=None), "/f", text) is True                 # too large or unreadable: the task decides
    assert differs({}, "/f", text) is True and differs(None, "/f", text) is True   # nothing read
    assert differs(state, "/d", kind="dir", mode="0755") is False
    assert differs(state, "/d", kind="dir", mode="0700") is True
    assert differs(state, "/f", kind="dir", mode="0644") is True


def test_action_plugin_runs_the_interpreter_ansible_cfg_names(tmp_path):
    """ansible.cfg names /usr/bin/python3 (no discovery round trip): the host read runs that interpreter too, not
    whatever python3 is first on the host's PATH."""
    marker, wrapper = tmp_path / "used", tmp_path / "py"
    wrapper.write_text("#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = --facts ] && touch %s; done\nexec %s \"$@\"\n"
                       % (marker, sys.executable))
    wrapper.chmod(0o755)
    play, out = tmp_path / "play.yml", tmp_path / "out.txt"
    play.write_text(PLAY)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_PYTHON_INTERPRETER": str(wrapper),
           "ANSIBLE_NOCOLOR": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        "--check", "-e", json.dumps({"roots": [str(ht.arc_b_xe(tmp_path / "arc").root)],
                                                     "out": str(out)}), str(play)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert json.loads(out.read_text())["families"] == [["arc-b"]]
    assert marker.exists(), "the host read ran another python3"
