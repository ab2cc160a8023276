"""roles/xpumanager's preflight decides the line from the GPU families as upstream lists them (run on this machine,
connection local, check mode, the families given as intel_gpu_driver would hand them over).

intel/xpumanager README.md, "Supported Devices": tag v1.3.1 (5872a7181c5a73d760f5998266195942a1b58c13) is the
first to list "Intel(R) Arc(TM) B Series GPU" (V1.3.0, 6cb90fb1, does not); no release lists Arc A
(v1.3.x @b10db2fa9e8092d7b01545f6bc2c0b60f4fc3c28: Flex, Max, Arc B).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CASES = {
    "arc_a": {"intel_gpu_driver_gpu_families": ["arc-a"]},
    "arc_a_forced": {"intel_gpu_driver_gpu_families": ["arc-a"], "xpumanager_line": "1.3"},
    "arc_b": {"intel_gpu_driver_gpu_families": ["arc-b"]},
    "arc_b_on_1_2": {"intel_gpu_driver_gpu_families": ["arc-b"], "xpumanager_line": "1.2"},
    "arc_b_1_3_0": {"intel_gpu_driver_gpu_families": ["arc-b"], "xpumanager_version": "1.3.0"},
    "arc_b_1_3_1": {"intel_gpu_driver_gpu_families": ["arc-b"], "xpumanager_version": "1.3.1"},
    "flex_1_2": {"intel_gpu_driver_gpu_families": ["flex"], "xpumanager_version": "1.2.43"},
}
BLOCK = """
    - name: Case {name}
      vars: {vars}
      block:
        - name: Preflight of xpumanager
          ansible.builtin.include_role:
            name: xpumanager
            tasks_from: preflight.yml
        - name: Keep the decision
          ansible.builtin.set_fact:
            seen: >-
              {{{{ seen | combine({{'{name}': {{'line': __xpumanager_line, 'summary': __xpumanager_summary}}}}) }}}}
      rescue:
        - name: Keep the failure
          ansible.builtin.set_fact:
            seen: "{{{{ seen | combine({{'{name}': {{'failed': ansible_failed_result.msg}}}}) }}}}"
"""


def test_arc_a_gets_no_line_by_default_and_arc_b_needs_1_3_1(tmp_path):
    base = {"intel_gpu_driver_result_wsl2": False, "intel_gpu_driver_result_gpus": [], "xpumanager_source": "url",
            "xpumanager_deb_url": "https://example.invalid/xpumanager.deb", "xpumanager_deb_sha256": "0" * 64}
    blocks = "".join(BLOCK.format(name=n, vars=json.dumps({**base, **v})) for n, v in CASES.items())
    play = ("- name: Lines\n  hosts: all\n  gather_facts: false\n  vars:\n    seen: {}\n  tasks:\n" + blocks +
            "    - name: Write\n      ansible.builtin.copy:\n        content: \"{{ seen | to_json }}\"\n"
            "        dest: \"{{ out }}\"\n        mode: \"0644\"\n      check_mode: false\n")
    (tmp_path / "play.yml").write_text(play)
    out = tmp_path / "seen.json"
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        "--check", "-e", f"ansible_python_interpreter={sys.executable}", "-e",
                        json.dumps({"out": str(out)}), str(tmp_path / "play.yml")],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    seen = json.loads(out.read_text())
    assert seen["arc_a"] == {"line": "none", "summary": "skipped: Intel lists no XPU Manager release for "
                             "Intel Arc A-series (Alchemist) (set xpumanager_line to install anyway)"}
    assert seen["arc_a_forced"]["line"] == "1.3"                 # the user may still ask for it
    assert seen["arc_b"] == {"line": "1.3", "summary": "line 1.3"}
    for case in ("arc_b_on_1_2", "arc_b_1_3_0"):
        assert seen[case]["failed"].startswith("Arc B needs XPU Manager 1.3.1 or newer"), seen[case]
    assert seen["arc_b_1_3_1"]["line"] == "1.3" and seen["flex_1_2"]["line"] == "1.2"


INSTALLED_PLAY = """
- name: Which read of the installed packages the role goes by
  hosts: all
  gather_facts: false
  tasks:
    - name: The role's variables
      ansible.builtin.include_vars: "{{ repo }}/roles/xpumanager/vars/main.yml"
    - name: Keep what each situation gives
      ansible.builtin.set_fact:
        seen: "{{ seen | default({}) | combine({item.name: __xpumanager_installed}) }}"
      vars:
        __intel_gpu_driver_host: "{{ item.driver }}"
        __xpumanager_host: "{{ item.own }}"
        __xpumanager_host_now: "{{ item.now }}"
      loop:
        - {name: driver_read, driver: {state: {dpkg: {installed: [xpumanager]}}}, own: {skipped: true},
           now: {skipped: true}}
        - {name: own_read, driver: {}, own: {state: {dpkg: {installed: [xpu-smi]}}}, now: {skipped: true}}
        - {name: read_again, driver: {state: {dpkg: {installed: [xpumanager]}}}, own: {skipped: true},
           now: {state: {dpkg: {installed: [openssl]}}}}
        - {name: nothing_read, driver: {}, own: {skipped: true}, now: {skipped: true}}
    - name: Write
      ansible.builtin.copy:
        content: "{{ seen | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


def test_installed_packages_come_from_the_latest_read(tmp_path):
    # the driver's rename step (apt remove of an old package name) may remove XPU Manager with it: after a
    # package change in the run, install.yml reads again and that read wins; nothing read means "none installed",
    # so apt decides
    (tmp_path / "play.yml").write_text(INSTALLED_PLAY)
    out = tmp_path / "seen.json"
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        "-e", f"ansible_python_interpreter={sys.executable}", "-e",
                        json.dumps({"out": str(out), "repo": str(REPO)}), str(tmp_path / "play.yml")],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert json.loads(out.read_text()) == {"driver_read": ["xpumanager"], "own_read": ["xpu-smi"],
                                           "read_again": ["openssl"], "nothing_read": []}
