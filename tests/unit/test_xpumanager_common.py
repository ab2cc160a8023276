"""roles/xpumanager_common, the files xpumanager and xpumanager_container both write, run on this machine
(connection local, into a temp folder): modes from the caller, rest.conf from checks/restconf.py, the
caller's handler notified on a change only, re-run changes nothing, the password never printed."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from checks.restconf import hash_password

REPO = Path(__file__).resolve().parents[2]
SECRET = "Common-R0le-Secret-4-grep"
PLAY = """
- name: Import the shared role as a calling role does
  hosts: all
  gather_facts: false
  tasks:
    - name: REST files
      ansible.builtin.import_role:
        name: xpumanager_common
        tasks_from: rest
      vars:
        xpumanager_common_rest_dir: "{{ dir }}/rest"
        xpumanager_common_dir_mode: "0700"
        xpumanager_common_rest_conf_mode: "0600"
        xpumanager_common_cert_mode: "0600"
        xpumanager_common_key_mode: "0600"
        xpumanager_common_rest_password: "{{ password }}"
        xpumanager_common_tls_cn: test
        xpumanager_common_tls_address: 127.0.0.9
        xpumanager_common_notify: [Caller restarts]
    - name: Exporter configuration
      ansible.builtin.import_role:
        name: xpumanager_common
        tasks_from: xpumd
      vars:
        xpumanager_common_xpumd_config: "{{ dir }}/config.yaml"
        xpumanager_common_xpumd_endpoint: 127.0.0.1:18080
    - name: Keep what the role says
      ansible.builtin.copy:
        content: "{{ {'rest': xpumanager_common_result_rest_changed, 'xpumd': xpumanager_common_result_xpumd_changed}
          | to_json }}"
        dest: "{{ dir }}/result.json"
        mode: "0644"
      changed_when: false
  handlers:
    - name: Caller restarts
      ansible.builtin.copy:
        content: restarted
        dest: "{{ dir }}/handler-ran"
        mode: "0644"
"""


def _play(tmp_path, play=PLAY, **extra):
    (tmp_path / "play.yml").write_text(play)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_REMOTE_TMP": str(tmp_path / "remote-tmp"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    evars = {"dir": str(tmp_path / "host"), "password": SECRET, **extra}
    r = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        "-e", f"ansible_python_interpreter={sys.executable}", "-e", json.dumps(evars),
                        str(tmp_path / "play.yml")], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return r, r.stdout + r.stderr


def _mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def test_rest_and_xpumd_files_rerun_changes_nothing_new_password_notifies(tmp_path):
    host = tmp_path / "host"
    r, out = _play(tmp_path)
    assert r.returncode == 0, out[-4000:]
    rest = host / "rest"
    assert _mode(rest) == 0o700
    assert {p.name: _mode(p) for p in rest.iterdir()} == {"rest.conf": 0o600, "cert.pem": 0o600, "key.pem": 0o600}
    conf = (rest / "rest.conf").read_text()
    salt = [ln.split("=", 1)[1].strip() for ln in conf.splitlines() if ln.startswith("salt")][0]
    assert "username = xpumadmin" in conf and f"password = {hash_password(SECRET, salt)}" in conf
    cert = subprocess.run(["openssl", "x509", "-in", str(rest / "cert.pem"), "-noout", "-subject", "-ext",
                           "subjectAltName"], capture_output=True, text=True, check=True).stdout
    assert "CN = test" in cert and "IP Address:127.0.0.9" in cert and "DNS:localhost" in cert
    import yaml
    xpumd = yaml.safe_load((host / "config.yaml").read_text())
    # complete, as upstream's xpumd/config-example.yaml (intel/xpumanager @130a29faf942f44be2de8d2d3d8acae7ab2fc054):
    # the collector refuses a configuration without a pipeline
    assert xpumd["exporters"] == {"prometheus": {"endpoint": "127.0.0.1:18080"}}
    assert xpumd["service"]["pipelines"] == {"metrics": {"receivers": ["intelxpu"], "processors": ["intelxpustatus"],
                                                         "exporters": ["prometheus"]}}
    assert set(xpumd["receivers"]) == {"intelxpu"} and set(xpumd["processors"]) == {"intelxpustatus"}
    rules = xpumd["processors"]["intelxpustatus"]["rules"]
    assert [r["component_filters"][0]["values"] for r in rules] == [["gpu"], ["memory"]]
    assert [c["value"] for c in rules[0]["states"][1]["conditions"]] == [95.0, 100.0, 105.0]
    assert json.loads((host / "result.json").read_text()) == {"rest": True, "xpumd": True}
    assert (host / "handler-ran").exists()

    (host / "handler-ran").unlink()
    r2, out2 = _play(tmp_path)
    assert r2.returncode == 0, out2[-4000:]
    assert "changed=0" in out2, out2[-3000:]
    assert (rest / "rest.conf").read_text() == conf                  # salt kept: same file
    assert json.loads((host / "result.json").read_text()) == {"rest": False, "xpumd": False}
    assert not (host / "handler-ran").exists()
    assert SECRET not in out + out2
    assert not list((tmp_path / "remote-tmp").glob("ansible-tmp-*"))

    r3, out3 = _play(tmp_path, password="An0ther-Secret-4-grep")      # a new password: new file, handler
    assert r3.returncode == 0, out3[-4000:]
    assert json.loads((host / "result.json").read_text()) == {"rest": True, "xpumd": False}
    assert (host / "handler-ran").exists()
    assert "An0ther-Secret-4-grep" not in out3


def test_applied_alone_it_refuses(tmp_path):
    play = "- name: Alone\n  hosts: all\n  gather_facts: false\n  roles: [xpumanager_common]\n"
    r, out = _play(tmp_path, play=play)
    assert r.returncode != 0 and "xpumanager_common is internal" in out
