"""The roles, plugins and playbooks as the Ansible collection xpu_ops.gpu (galaxy.yml): built with
`ansible-galaxy collection build`, installed into another project's collections path, and used by FQCN from
that project's own playbook against a real test host (module, role, and the collection's verify playbook)."""
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

PLAYBOOK = """\
- name: A project of its own, using xpu_ops.gpu by FQCN
  hosts: all
  gather_facts: false
  tasks:
    - name: Host facts through the collection's module
      xpu_ops.gpu.xpu_ops_host_facts:
      register: facts

    - name: The driver role's preflight, by FQCN
      ansible.builtin.include_role:
        name: xpu_ops.gpu.intel_gpu_driver
        tasks_from: preflight.yml

    - name: What the role decided, from the collection's filters
      ansible.builtin.copy:
        content: "{{ {'facts': facts.os | default(none), 'gpus': intel_gpu_driver_result_gpus} | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
      delegate_to: localhost
"""


def _version():
    for line in (REPO / "pyproject.toml").read_text().splitlines():
        if line.startswith("version ="):
            return line.split('"')[1]
    raise AssertionError("no version in pyproject.toml")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The built collection, installed into a fresh project's ./collections; returns (project dir, env)."""
    tmp = tmp_path_factory.mktemp("collection")
    r = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    (tarball,) = tmp.glob("xpu_ops-gpu-*.tar.gz")
    assert tarball.name == f"xpu_ops-gpu-{_version()}.tar.gz"        # the package's version
    with tarfile.open(tarball) as t:
        tops = {n.split("/")[0] for n in t.getnames()}
    assert tops == {"MANIFEST.json", "FILES.json", "README.md", "meta", "roles", "plugins", "playbooks", "checks",
                    "xpu_ops"}, tops
    proj = tmp / "project"
    proj.mkdir()
    (proj / "ansible.cfg").write_text("[defaults]\ncollections_path = ./collections\nretry_files_enabled = False\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(proj / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    r = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p",
                        str(proj / "collections")], cwd=proj, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (proj / "collections/ansible_collections/xpu_ops/gpu/roles/intel_gpu_driver").is_dir()
    return proj, env


def _play(proj, env, *args, label):
    t0 = time.monotonic()
    r = subprocess.run([str(BIN / "ansible-playbook"), *map(str, args)], cwd=proj, env=env, capture_output=True,
                       text=True, timeout=300)
    print(f"\n{label}: {time.monotonic() - t0:.2f} s (exit {r.returncode})")
    return r


def test_a_project_uses_the_installed_collection_by_fqcn(project, systemd_host):
    proj, env = project
    h = systemd_host()
    inv = h.write_inventory(proj / "hosts.ini")
    (proj / "site.yml").write_text(PLAYBOOK)
    result = proj / "result.json"
    r = _play(proj, env, "-i", inv, "site.yml", "-e", f"result_file={result}", label="project playbook")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    # the role ran from the installed collection, not from a checkout
    assert "xpu_ops.gpu.intel_gpu_driver : " in r.stdout
    assert str(REPO) not in r.stdout
    got = json.loads(result.read_text())
    assert got["gpus"] == []                                   # the test host has no GPU

    reports = proj / "reports"
    r = _play(proj, env, "-i", inv, "xpu_ops.gpu.verify", "-e", f"xpu_ops_report_dir={reports}",
              label="the collection's verify playbook")
    assert r.returncode == 2, r.stdout[-6000:]                   # pci.gpu fails on a host without a GPU
    (report,) = reports.glob("*.json")
    checks = {c["id"]: c["status"] for c in json.loads(report.read_text())["checks"]}
    assert checks["pci.gpu"] == "fail" and checks["platform"] == "pass"
