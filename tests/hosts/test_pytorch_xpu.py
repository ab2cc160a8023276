"""Role pytorch_xpu on a real Debian 12 host, against a local PEP 503 index on 127.0.0.1.

The real XPU build of torch (download.pytorch.org/whl/xpu, ~1 GB with its oneAPI wheels) is not
reachable here. The index holds a small *fake* ``torch`` instead, a real wheel built with
``pip wheel`` in this test: ``torch.__version__ == "2.13.0+xpu"`` (the version shape the XPU index
serves), ``torch.version.xpu = None`` and ``torch.xpu.is_available() -> False``, i.e. what a torch
without XPU support says on a host without a GPU. So this exercises the role's own work (venv,
pinned install from that index only, the IPEX/torch matrix check before any change, the torch.xpu
check at the end and verify probing the venv), not PyTorch's XPU runtime.
"""
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
VENV = "/opt/pytorch-xpu"
TORCH = "2.13.0"
FAKE_INIT = '''"""Fake torch for xpu-ops tests: no XPU support, no device."""
from . import version, xpu  # noqa: F401
__version__ = "%s"
'''
FAKE_XPU = '''def is_available():
    return False


def device_count():
    return 0
'''


def build_fake_torch(src: Path, out: Path, version: str) -> Path:
    pkg = src / "torch"
    (pkg / "xpu").mkdir(parents=True)
    (pkg / "__init__.py").write_text(FAKE_INIT % version)
    (pkg / "version.py").write_text(f'__version__ = "{version}"\nxpu = None\n')
    (pkg / "xpu" / "__init__.py").write_text(FAKE_XPU)
    (src / "setup.py").write_text("from setuptools import setup\n"
                                  f"setup(name='torch', version='{version}', packages=['torch', 'torch.xpu'])\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob(f"torch-{version}-*.whl")
    return whl


IPEX = "2.13.10+xpu"


def build_fake_ipex(src: Path, out: Path, origin: str) -> Path:
    """A fake intel-extension-for-pytorch wheel whose module says which index it came from."""
    pkg = src / "intel_extension_for_pytorch"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f'ORIGIN = "{origin}"\n__version__ = "{IPEX}"\n')
    (src / "setup.py").write_text("from setuptools import setup\n"
                                  f"setup(name='intel-extension-for-pytorch', version='{IPEX}', "
                                  "packages=['intel_extension_for_pytorch'])\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob("intel_extension_for_pytorch-*.whl")
    return whl


def _project_page(root: Path, name: str, wheels, files_rel: str) -> list:
    """A PEP 503 project page listing `wheels` (with their sha256); returns the digests."""
    digests, links = [], []
    for whl in wheels:
        digest = hashlib.sha256(whl.read_bytes()).hexdigest()
        digests.append(digest)
        links.append(f'<a href="{files_rel}{whl.name.replace("+", "%2B")}#sha256={digest}">{whl.name}</a><br>')
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "index.html").write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    return digests


class _Handler(SimpleHTTPRequestHandler):
    timeout = 30

    def log_message(self, fmt, *args):
        self.server.requests.append(self.path)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """A PEP 503 simple index with two fake torch wheels (the pinned one and a newer one), on 127.0.0.1."""
    root = tmp_path_factory.mktemp("pyindex")
    files = root / "files"
    links = []
    for v in (f"{TORCH}+xpu", "2.14.0+xpu"):
        whl = build_fake_torch(tmp_path_factory.mktemp("torchsrc"), files, v)
        digest = hashlib.sha256(whl.read_bytes()).hexdigest()
        links.append(f'<a href="../../files/{whl.name.replace("+", "%2B")}#sha256={digest}">{whl.name}</a><br>')
    (root / "simple" / "torch").mkdir(parents=True)
    (root / "simple" / "torch" / "index.html").write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links)
                                                          + "\n</body></html>\n")
    (root / "simple" / "index.html").write_text('<!DOCTYPE html><html><body><a href="torch/">torch</a></body></html>\n')
    # IPEX: the genuine one on its own index (/ipex/simple), a same-version impostor on the PyTorch index
    # (dependency confusion: security review F20)
    real = build_fake_ipex(tmp_path_factory.mktemp("ipexsrc"), tmp_path_factory.mktemp("ipexwhl"), "ipex-index")
    fake = build_fake_ipex(tmp_path_factory.mktemp("ipexsrc"), tmp_path_factory.mktemp("ipexwhl"), "impostor")
    (root / "ipexfiles").mkdir()
    (root / "files" / fake.name).write_bytes(fake.read_bytes())
    (root / "ipexfiles" / real.name).write_bytes(real.read_bytes())
    _project_page(root / "simple", "intel-extension-for-pytorch", [fake], "../../files/")
    (ipex_hash,) = _project_page(root / "ipex" / "simple", "intel-extension-for-pytorch", [real], "../../../ipexfiles/")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    httpd.daemon_threads = True
    httpd.requests = []
    httpd.ipex_hash = ipex_hash
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(10)


def provision(h, *args, tmp):
    summary = tmp / f"summary-{time.monotonic_ns()}.json"
    env = {**os.environ, "XPU_OPS_SUMMARY_JSON": str(summary), "ANSIBLE_NOCOLOR": "1"}
    cmd = [sys.executable, "-m", "invoke", "provision", "--host", h.spec, "--key", str(h.key), "--no-host-key-check",
           "-e", '{"xpu_ops_roles": ["pytorch_xpu"]}', *args]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return r.returncode, r.stdout + r.stderr, data, time.monotonic() - t0


@pytest.fixture(scope="module")
def host(systemd_host):
    return systemd_host(wait="system")


def test_ipex_mismatch_rejected_before_any_change(host, index, tmp_path):
    url = f"http://127.0.0.1:{index.server_address[1]}/simple"
    before = len(index.requests)
    rc, out, _, _ = provision(host, "-e", f"pytorch_xpu_index_url={url}", "-e", f"pytorch_xpu_torch_version={TORCH}",
                              "-e", "pytorch_xpu_ipex_version=2.7.10+xpu", tmp=tmp_path)
    assert rc == 2, out[-4000:]
    assert "IPEX 2.7.10+xpu works only with torch 2.7.*, not torch 2.13.0" in out, out[-4000:]
    assert "Known releases: IPEX 2.8.10+xpu -> torch 2.8.*" in out                 # the matrix
    assert host.exec(f"test -e {VENV}").returncode != 0
    assert "install ok installed" not in host.exec("dpkg-query -W -f='${Status}' python3-venv").stdout
    assert len(index.requests) == before                                          # the index was not even asked


def test_venv_torch_from_local_index_then_rerun_changes_nothing(host, index, tmp_path, record_property):
    url = f"http://127.0.0.1:{index.server_address[1]}/simple"
    args = ["-e", f"pytorch_xpu_index_url={url}", "-e", f"pytorch_xpu_torch_version={TORCH}",
            "-e", f"xpu_ops_report_dir={tmp_path / 'reports'}"]
    rc, out1, data1, first = provision(host, *args, tmp=tmp_path)
    (entry,) = data1["hosts"].values()
    assert entry["stats"]["changed"] > 0, out1[-6000:]
    # installed: the pinned version (not the newer one the index also has), from that index
    got = host.exec(f"{VENV}/bin/python -c 'import torch; print(torch.__version__)'", check=True).stdout.strip()
    assert got == f"{TORCH}+xpu"
    assert any(p.startswith("/simple/torch/") for p in index.requests)
    assert any(p.startswith(f"/files/torch-{TORCH}%2Bxpu-") for p in index.requests), index.requests
    # the torch.xpu check at the end of the role: no XPU build, no device -> cpu
    summary = entry["roles"]["pytorch_xpu"]["summary"]
    assert f"torch {TORCH}+xpu" in summary and "device cpu" in summary, summary
    assert f"pytorch_xpu: {summary}" in out1
    # verify (run by invoke provision) probed the venv's torch on the host: no GPU, so pci.gpu fails (exit 1)
    assert rc == 1, out1[-6000:]
    report = json.loads((tmp_path / "reports" / f"{host.spec}.json").read_text())
    (tx,) = [c for c in report["checks"] if c["id"] == "torch.xpu"]
    assert VENV in json.dumps(tx) and "device: cpu" in tx["detail"], tx

    rc2, out2, data2, second = provision(host, *args, "--no-verify", tmp=tmp_path)
    (entry2,) = data2["hosts"].values()
    assert rc2 == 0 and entry2["stats"]["changed"] == 0, out2[-6000:]
    t = {"first_run_s": round(first, 1), "rerun_s": round(second, 1)}
    record_property("pytorch_xpu_timings", t)
    print(f"\npytorch_xpu (local index, fake torch): first {t['first_run_s']} s with verify, re-run {t['rerun_s']} s")


def test_ipex_from_its_own_index_only_and_hash_pinned(host, index, tmp_path):
    """Security review F20: IPEX comes from pytorch_xpu_ipex_index_url only (the PyTorch index serves a same-version
    impostor), and with pytorch_xpu_ipex_hashes only a wheel with that hash installs."""
    base = f"http://127.0.0.1:{index.server_address[1]}"
    args = ["-e", f"pytorch_xpu_index_url={base}/simple", "-e", f"pytorch_xpu_torch_version={TORCH}",
            "-e", f"pytorch_xpu_ipex_version={IPEX}", "-e", f"pytorch_xpu_ipex_index_url={base}/ipex/simple",
            "-e", "pytorch_xpu_check=false", "--no-verify"]
    rc, out, _, _ = provision(host, *args, "-e", json.dumps({"pytorch_xpu_ipex_hashes": ["0" * 64]}), tmp=tmp_path)
    assert rc == 2 and "DO NOT MATCH THE HASHES" in out, out[-4000:]
    assert host.exec(f"{VENV}/bin/python -c 'import intel_extension_for_pytorch'").returncode != 0
    rc, out, _, _ = provision(host, *args, "-e", json.dumps({"pytorch_xpu_ipex_hashes": [index.ipex_hash]}),
                              tmp=tmp_path)
    assert rc == 0, out[-4000:]
    got = host.exec(f"{VENV}/bin/python -c 'import intel_extension_for_pytorch as i; print(i.ORIGIN)'", check=True)
    assert got.stdout.strip() == "ipex-index"
    assert not [p for p in index.requests if p.startswith("/files/intel_extension")], index.requests
