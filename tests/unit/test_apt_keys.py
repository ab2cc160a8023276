"""APT signing keys are trusted only by pinned fingerprint (security review F2): the role's key tasks
(roles/intel_gpu_driver/tasks/apt_key.yml) run for real against this machine (-c local) with keys made
by gpg, and the fingerprint filter is checked against gpg's own answer."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


def _load_filter():
    """The filter plugin by its path (plugins/filter is not a package, and its xpu_ops.py must not shadow ours)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("xpu_ops_pgp_filter", REPO / "plugins" / "filter" / "xpu_ops_pgp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


xpu_ops_pgp = _load_filter()

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg makes the test keys")


def make_key(home, name):
    """An ed25519 key made by gpg in its own home: (armored public key, gpg's fingerprint)."""
    home.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                    f"{name} <{name}@example.invalid>", "ed25519", "sign", "never"],
                   env=env, check=True, capture_output=True, timeout=60)
    armored = subprocess.run(["gpg", "--batch", "--armor", "--export", name], env=env, check=True,
                             capture_output=True, text=True).stdout
    colons = subprocess.run(["gpg", "--batch", "--with-colons", "--fingerprint", name], env=env, check=True,
                            capture_output=True, text=True).stdout
    fpr = next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:"))
    return armored, fpr


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {n: make_key(d / n, n) for n in ("repo", "attacker")}


def test_fingerprint_filter_agrees_with_gpg(keys):
    for armored, fpr in keys.values():
        assert xpu_ops_pgp.pgp_fingerprints(armored) == [fpr]
    both = keys["repo"][0] + keys["attacker"][0]  # two armored blocks: the first is read
    assert xpu_ops_pgp.pgp_fingerprints(both) == [keys["repo"][1]]


JUNK_ARMOR = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n"


@pytest.mark.parametrize("bad", ["", "hello", JUNK_ARMOR])
def test_fingerprint_filter_refuses_junk(bad):
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError):
        xpu_ops_pgp.pgp_fingerprints(bad)


PLAY = """
- name: Install one signing key as the role does
  hosts: all
  gather_facts: false
  tasks:
    - name: The role's key tasks
      ansible.builtin.include_role:
        name: intel_gpu_driver
        tasks_from: apt_key.yml
      vars:
        __intel_gpu_driver_key_name: test key
"""


def run_key_tasks(tmp_path, url, fingerprint, dest):
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_ROLES_PATH": str(REPO / "roles"), "TMPDIR": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    extra = {"__intel_gpu_driver_key_url": url, "__intel_gpu_driver_key_fingerprint": fingerprint,
             "__intel_gpu_driver_key_dest": str(dest), "ansible_python_interpreter": sys.executable}
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", json.dumps(extra), str(play)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_pinned_key_is_installed_and_another_is_refused(tmp_path, keys):
    served = tmp_path / "served.asc"
    served.write_text(keys["attacker"][0])
    dest = tmp_path / "keyrings" / "repo.asc"
    dest.parent.mkdir()
    r = run_key_tasks(tmp_path, served.as_uri(), keys["repo"][1].lower(), dest)
    assert r.returncode != 0
    assert "refusing to trust it" in r.stdout and keys["attacker"][1] in r.stdout, r.stdout[-3000:]
    assert not dest.exists()
    served.write_text(keys["repo"][0])
    r = run_key_tasks(tmp_path, served.as_uri(), keys["repo"][1], dest)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert dest.read_text() == keys["repo"][0] and oct(dest.stat().st_mode & 0o777) == "0o644"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("ansible.") and p.suffix == ".asc"], \
        "the temporary copy was left behind"


CHECK_PLAY = """
- name: Check key URLs as preflight does
  hosts: all
  gather_facts: false
  tasks:
    - name: The role's key check
      ansible.builtin.include_role:
        name: intel_gpu_driver
        tasks_from: key_check.yml
"""


@pytest.mark.parametrize("source, url, fingerprint, ok", [
    ("intel", "http://mirror.example.internal/xpu-ops/keys/intel-graphics.key", None, False),  # F2's repro
    ("intel", "https://repositories.intel.com/gpu/intel-graphics.key", None, True),
    ("intel", "file:///srv/mirror/keys/intel-graphics.key", None, True),
    ("intel", "https://repositories.intel.com/gpu/intel-graphics.key", "1C1B89D0", False),
    ("debian", "http://mirror.example.internal/xpu-ops/keys/intel-graphics.key", None, True),  # key not used
])
def test_key_urls_over_http_are_refused(tmp_path, source, url, fingerprint, ok):
    play = tmp_path / "play.yml"
    play.write_text(CHECK_PLAY)
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    extra = {"ansible_python_interpreter": sys.executable, "__intel_gpu_driver_os": {"source": source},
             "intel_gpu_driver_intel_repo_key_url": url}
    if fingerprint:
        extra["intel_gpu_driver_intel_repo_key_fingerprint"] = fingerprint
    r = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                        "-e", json.dumps(extra), str(play)], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)
    assert (r.returncode == 0) == ok, r.stdout[-3000:]
    if not ok:
        assert "intel_gpu_driver_intel_repo_key_url must be an https:// or file:// URL" in r.stdout
