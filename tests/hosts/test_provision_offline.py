"""Offline install for real: a local apt repository on 127.0.0.1, built from real .deb files, is a host's only source.

The .deb files are Debian's own (bookworm main): a seed host downloads what the intel_gpu_driver role
installs on a container host (compute, tools, media; no firmware in a container) and its dependencies
with ``apt-get install --download-only``; they are kept in ``.cache/offline-debs/`` (keyed by the rootfs
and the package list). The repository (``pool/``, ``Packages``, ``Release``; dpkg-scanpackages from
dpkg-dev) is served by a bounded ``http.server`` in this process on 127.0.0.1; the hosts share the
machine's network, so ``http://127.0.0.1:PORT`` reaches it. The hosts are provisioned with
``intel_gpu_driver_mirror=http://127.0.0.1:PORT`` and ``intel_gpu_driver_debian_replace_sources=true``
(the mirror becomes the only apt source) and ``intel_gpu_driver_apt_trusted=true`` (the test repository
is unsigned).
"""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from email.utils import formatdate
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.hosts

REPO = Path(__file__).resolve().parents[2]
DEB_CACHE = REPO / ".cache" / "offline-debs"
# What intel_gpu_driver installs on a Debian 12 container host with the defaults (vars/Debian-12.yml).
PACKAGES = ("intel-opencl-icd", "libze1", "libigdgmm12", "clinfo", "intel-gpu-tools", "vainfo",
            "intel-media-va-driver")
OFFLINE = ["--no-verify", "-e", "intel_gpu_driver_debian_replace_sources=true",
           "-e", "intel_gpu_driver_apt_trusted=true"]


# ------------------------------------------------------------------------------------------ the .debs

def seed_debs(systemd_host, rootfs) -> Path:
    """Debian's .deb files for PACKAGES and what they pull in on top of the test rootfs (cached)."""
    key = hashlib.sha256("\n".join([rootfs.name, *PACKAGES]).encode()).hexdigest()[:12]
    final = DEB_CACHE / f"bookworm-{key}"
    if (final / ".complete").exists():
        return final
    DEB_CACHE.mkdir(parents=True, exist_ok=True)
    seed = systemd_host(wait="ssh")
    try:
        seed.exec("apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only "
                  f"--no-install-recommends {' '.join(PACKAGES)}", check=True, timeout=600)
        base = {p.name for p in (rootfs / "var/cache/apt/archives").glob("*.deb")}
        names = seed.exec("cd /var/cache/apt/archives && ls *.deb", check=True).stdout.split()
        new = sorted(n for n in names if n not in base)
        assert new, "apt downloaded nothing"
        tmp = Path(tempfile.mkdtemp(prefix=".seed-", dir=DEB_CACHE))
        try:
            tar = subprocess.run(["podman", "exec", seed.name, "tar", "-C", "/var/cache/apt/archives", "-cf", "-",
                                  *new], env=seed.env, capture_output=True, timeout=300, check=True)
            with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as tf:
                tf.extractall(tmp, filter="data") if sys.version_info >= (3, 12) else tf.extractall(tmp)
            (tmp / ".complete").write_text("\n".join(new) + "\n")
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    finally:
        seed.stop()
    return final


def build_repo(debs: Path, root: Path, suite="bookworm", component="main", arch="amd64") -> Path:
    """A flat Debian repository under root/debian: pool/, dists/SUITE/COMPONENT/binary-ARCH/Packages(.gz), Release."""
    archive = root / "debian"
    pool = archive / "pool" / component
    pool.mkdir(parents=True)
    for deb in debs.glob("*.deb"):
        os.link(deb, pool / deb.name) if os.stat(debs).st_dev == os.stat(pool).st_dev else shutil.copy(deb, pool)
    scan = subprocess.run(["dpkg-scanpackages", "--multiversion", f"pool/{component}"], cwd=archive,
                          capture_output=True, text=True, timeout=120, check=True)
    bindir = archive / "dists" / suite / component / f"binary-{arch}"
    bindir.mkdir(parents=True)
    (bindir / "Packages").write_text(scan.stdout)
    (bindir / "Packages.gz").write_bytes(gzip.compress(scan.stdout.encode(), mtime=0))
    dist = archive / "dists" / suite
    files = sorted(p for p in dist.rglob("*") if p.is_file())
    lines = ["Origin: xpu-ops-test", "Label: xpu-ops offline test mirror", f"Suite: {suite}", f"Codename: {suite}",
             f"Date: {formatdate(usegmt=True)}", f"Architectures: {arch}", f"Components: {component}", "SHA256:"]
    for p in files:
        data = p.read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data):>10} {p.relative_to(dist)}")
    (dist / "Release").write_text("\n".join(lines) + "\n")
    return archive


# ------------------------------------------------------------------------------------------ the server

class _Handler(SimpleHTTPRequestHandler):
    timeout = 30                              # a stuck client never holds a thread for long

    def __init__(self, *a, mirror, **kw):
        self.mirror = mirror
        super().__init__(*a, **kw)

    def log_message(self, fmt, *args):        # quiet; keep the request lines for the assertions
        pass

    def do_GET(self):
        m = self.mirror
        with m.lock:
            m.requests.append(self.path)
            deb = self.path.endswith(".deb")
            if deb:
                m.debs_served += 1
            cut = deb and m.stop_after_debs is not None and m.debs_served > m.stop_after_debs
        if cut:                               # the mirror goes away mid-download: drop this request, stop serving
            m.stop_async()
            self.close_connection = True
            return
        super().do_GET()


class Mirror:
    """http.server on 127.0.0.1 serving a directory; stop_after_debs=N stops it after N .deb downloads."""

    def __init__(self, root: Path):
        self.root, self.port, self.lock = root, 0, threading.Lock()
        self.requests, self.debs_served, self.stop_after_debs = [], 0, None
        self.httpd = self.thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, stop_after_debs=None):
        self.stop_after_debs, self.debs_served = stop_after_debs, 0
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port),
                                    partial(_Handler, directory=str(self.root), mirror=self))
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self.httpd = httpd
        self.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        httpd, self.httpd = self.httpd, None
        if httpd:
            httpd.shutdown()
            httpd.server_close()
            self.thread.join(10)

    def stop_async(self):
        threading.Thread(target=self.stop, daemon=True).start()

    @property
    def running(self):
        return self.httpd is not None


@pytest.fixture(scope="module")
def mirror(systemd_host, rootfs, tmp_path_factory):
    t0 = time.monotonic()
    debs = seed_debs(systemd_host, rootfs)
    root = tmp_path_factory.mktemp("mirror")
    build_repo(debs, root)
    m = Mirror(root).start()
    print(f"\noffline mirror: {len(list(debs.glob('*.deb')))} .debs on {m.url} ({time.monotonic() - t0:.1f} s)")
    try:
        yield m
    finally:
        m.stop()


def provision(h, *args, tmp, check_rc=0, **popen):
    summary = tmp / f"summary-{time.monotonic_ns()}.json"
    env = {**os.environ, "XPU_OPS_SUMMARY_JSON": str(summary), "ANSIBLE_NOCOLOR": "1", **popen.pop("env", {})}
    cmd = [sys.executable, "-m", "invoke", "provision", "--host", h.spec, "--key", str(h.key),
           "--no-host-key-check", *args]
    t0 = time.monotonic()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    if check_rc is not None:
        assert r.returncode == check_rc, out[-8000:]
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return r.returncode, out, data, time.monotonic() - t0


def stats(data):
    (entry,) = data["hosts"].values()
    return entry["stats"]


def assert_installed_from_mirror(h, mirror):
    """Every package is installed, and apt on the host knows no source but the mirror."""
    q = h.exec("dpkg-query -W -f='${Package} ${Status}\\n' " + " ".join(PACKAGES), check=True)
    assert q.stdout.count("install ok installed") == len(PACKAGES), q.stdout
    lists = h.exec("ls /var/lib/apt/lists/ | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$'").stdout.split()
    assert lists and all(n.startswith(f"127.0.0.1:{mirror.port}_debian_") for n in lists), lists
    uris = h.exec("apt-get indextargets --format '$(URI)'", check=True).stdout.split()
    assert uris and all(u.startswith(f"{mirror.url}/debian/") for u in uris), uris
    src = h.exec("cat /etc/apt/sources.list.d/xpu-ops-debian.sources /etc/apt/sources.list", check=True).stdout
    assert f"URIs: {mirror.url}/debian" in src and "Trusted: yes" in src and "deb.debian.org" not in src


# ------------------------------------------------------------------------------------------ tests

def test_offline_install_from_local_mirror_only(systemd_host, mirror, tmp_path, record_property):
    h = systemd_host(wait="system")
    before = len(mirror.requests)
    _, out1, data1, first = provision(h, *OFFLINE, "-e", f"intel_gpu_driver_mirror={mirror.url}", tmp=tmp_path)
    assert stats(data1)["changed"] > 0
    assert_installed_from_mirror(h, mirror)
    fetched = {Path(p).name for p in mirror.requests[before:] if p.endswith(".deb")}
    assert {"clinfo", "intel-opencl-icd", "libze1"} <= {n.split("_")[0] for n in fetched}, sorted(fetched)
    _, out2, data2, second = provision(h, *OFFLINE, "-e", f"intel_gpu_driver_mirror={mirror.url}", tmp=tmp_path)
    assert stats(data2)["changed"] == 0, out2[-6000:]
    t = {"first_run_s": round(first, 1), "rerun_s": round(second, 1), "debs_fetched": len(fetched)}
    record_property("offline_timings", t)
    print(f"\noffline provision: first {t['first_run_s']} s ({len(fetched)} .debs from the mirror), "
          f"re-run {t['rerun_s']} s (changed=0)")


# ------------------------------------------------------------------------------------ runs cut half-way

def test_mirror_gone_mid_download_then_rerun_converges(systemd_host, mirror, tmp_path, record_property):
    """The apt mirror stops answering after 10 .debs: the run fails; with the mirror back a re-run
    converges, and the next one reports changed=0."""
    h = systemd_host(wait="system")
    args = [*OFFLINE, "-e", f"intel_gpu_driver_mirror={mirror.url}"]
    mirror.stop()
    mirror.start(stop_after_debs=10)
    rc, out, data, cut = provision(h, *args, tmp=tmp_path, check_rc=None)
    deadline = time.monotonic() + 10
    while mirror.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not mirror.running and mirror.debs_served == 11, (mirror.running, mirror.debs_served)
    assert rc == 2 and stats(data)["failures"] == 1, out[-6000:]
    assert "Install the user space" in out.split("fatal:")[0].rsplit("TASK [", 1)[-1], out[-4000:]
    assert h.exec("dpkg-query -W -f='${Status}' clinfo").stdout != "install ok installed"
    assert h.exec("ls /var/cache/apt/archives/*.deb | wc -l").stdout.strip() != "0"   # what got through is there
    mirror.start()                                                   # the mirror is back, on the same port
    _, out2, data2, converge = provision(h, *args, tmp=tmp_path)
    assert stats(data2)["changed"] > 0
    _, out3, data3, rerun = provision(h, *args, tmp=tmp_path)
    assert stats(data3)["changed"] == 0, out3[-6000:]
    assert_installed_from_mirror(h, mirror)
    t = {"cut_run_s": round(cut, 1), "converge_s": round(converge, 1), "rerun_s": round(rerun, 1)}
    record_property("mirror_cut_timings", t)
    print(f"\nmirror cut after 10 .debs: failed run {t['cut_run_s']} s, converging run {t['converge_s']} s, "
          f"re-run {t['rerun_s']} s (changed=0)")


def test_ssh_cut_mid_dpkg_then_rerun_converges(systemd_host, mirror, tmp_path, record_property):
    """The run is cut while dpkg unpacks: ansible-playbook and its ssh clients are killed (no ssh
    ControlPersist master, so the connection really drops) and so is what apt ran on the host (as when
    the session is torn down with it). dpkg is left interrupted; a re-run finishes it and converges,
    the next one reports changed=0."""
    h = systemd_host(wait="system")
    args = [*OFFLINE, "-e", f"intel_gpu_driver_mirror={mirror.url}"]
    if not mirror.running:
        mirror.start()
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o ControlPersist=no"}
    cmd = [sys.executable, "-m", "invoke", "provision", "--host", h.spec, "--key", str(h.key), "--no-host-key-check",
           *args]
    t0 = time.monotonic()
    log = (tmp_path / "cut.log").open("w")
    p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and p.poll() is None:
            if h.exec(["pgrep", "-f", "--", "dpkg .*--[u]npack"], timeout=20).returncode == 0:
                break
            time.sleep(0.1)
        assert p.poll() is None, "the run ended before dpkg unpacked anything: " + (tmp_path / "cut.log").read_text()
        os.killpg(p.pid, signal.SIGKILL)                             # the control side and its connections
        p.wait(30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(30)
        log.close()
    cut = time.monotonic() - t0
    # what apt ran on the host goes too (a session torn down with its connection): by pid
    h.exec("for p in $(pgrep -x apt-get) $(pgrep -x dpkg); do kill -9 $p; done; sleep 0.5")
    audit = h.exec("dpkg --audit").stdout
    assert audit.strip(), "dpkg was not left interrupted"
    _, out2, data2, converge = provision(h, *args, tmp=tmp_path)
    assert stats(data2)["changed"] > 0
    assert re.search(r"Finish the interrupted dpkg run[^\n]*\*+\nchanged: ", out2), out2[-6000:]
    _, out3, data3, rerun = provision(h, *args, tmp=tmp_path)
    assert stats(data3)["changed"] == 0, out3[-6000:]
    assert not h.exec("dpkg --audit").stdout.strip()
    assert_installed_from_mirror(h, mirror)
    t = {"cut_after_s": round(cut, 1), "converge_s": round(converge, 1), "rerun_s": round(rerun, 1)}
    record_property("ssh_cut_timings", t)
    print(f"\nssh cut mid-dpkg after {t['cut_after_s']} s ({len(audit.splitlines())} lines of dpkg --audit): "
          f"converging run {t['converge_s']} s, re-run {t['rerun_s']} s (changed=0)")
