"""roles/xpumanager_container on a real engine: podman's Docker-compatible socket + a real compose client.

The engine is rootful podman with runc (the CI machine's recipe for a Docker-compatible engine), served by
``podman system service`` on a socket in a temp folder (DOCKER_HOST=unix://...). The compose client
is Debian's docker-compose (1.29, talks to that socket). The image is a stand-in for XPU Manager
built here from the cached Debian rootfs (tests/support/testhosts.py) plus tests/support/xpum_standins.py and
tests/support/container_standin/entrypoint.py: it speaks the 1.x REST (TLS, Basic auth, /healtz) and the
2.x exporter, so healthcheck, TLS, auth and binding are exercised for real.

Network: host networking only (the service binds 127.0.0.1 through XPUM_REST_HOST); no bridge
network is created. /dev/dri does not exist here: /dev/null is mapped as /dev/dri/renderD128.

Podman runs healthchecks from systemd timers; this machine has no systemd, so a bounded thread
runs ``podman healthcheck run`` (the container's own healthcheck command) every second while a
test needs it, standing in for that timer.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support import testhosts as th

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STANDIN = "localhost/xpumanager-standin"
NAME = "p2p_xpu_manager"
PASSWORD = "Container-Passw0rd-1"
PORT = 29999


def test_committed_standalone_compose_file_is_the_rendered_one(tmp_path):
    """docker-compose.xpu-monitor.yml comes from the role's template (invoke render-compose)."""
    out = tmp_path / "rendered.yml"
    r = subprocess.run([str(BIN / "invoke"), "render-compose", "--output", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (REPO / "docker-compose.xpu-monitor.yml").read_text() == out.read_text(), \
        "docker-compose.xpu-monitor.yml is stale: run invoke render-compose"


def test_standalone_compose_file_is_least_privilege():
    import yaml
    d = yaml.safe_load((REPO / "docker-compose.xpu-monitor.yml").read_text())
    svc = d["services"]["xpu-manager"]
    assert svc["container_name"] == "p2p_xpu_manager" and "p2p_network" in d["networks"]
    assert svc["cap_drop"] == ["ALL"] and svc["cap_add"] == ["SYS_ADMIN"] and "privileged" not in svc
    assert svc["devices"] == ["/dev/dri:/dev/dri"]          # the real default, not the tests' stand-in node
    assert svc["ports"] == ["127.0.0.1:29999:29999"]
    assert all(v.endswith(":ro") for v in svc["volumes"])
    assert not any(v.startswith("/dev") for v in svc["volumes"])
    assert svc["init"] is True and svc["restart"] == "unless-stopped"
    assert "/healtz" in svc["healthcheck"]["test"][1]
    assert svc["image"].startswith("docker.io/intel/xpumanager:v")


# ------------------------------------------------------------------------------------ real engine


def _need_tools():
    missing = [t for t in ("podman", "runc", "docker-compose") if not shutil.which(t)]
    if os.geteuid() != 0:
        pytest.skip("needs root (rootful podman)")
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run bin/setup --test")


@pytest.fixture(scope="module")
def engine(tmp_path_factory, rootfs):
    """podman system service on a socket in a temp folder; yields (env with DOCKER_HOST, workdir)."""
    _need_tools()
    work = tmp_path_factory.mktemp("engine")
    env = th.podman_env(work)
    sock = work / "podman.sock"
    env["DOCKER_HOST"] = f"unix://{sock}"
    subprocess.run(["podman", "rm", "-f", "-t", "1", NAME], env=env, capture_output=True, timeout=60)
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(work / "service.log", "w"))
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert time.monotonic() < deadline and proc.poll() is None, (work / "service.log").read_text()
            time.sleep(0.1)
        _build_standin(rootfs, env, work)
        yield env, work
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "1", NAME], env=env, capture_output=True, timeout=60)
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _build_standin(rootfs, env, work):
    """localhost/xpumanager-standin:{1.x,1.x-b,2.x}: the rootfs imported once (cached by its name), plus the
    stand-in servers (rebuilt each run: ~0.5 s). Two 1.x tags let a test change the tag (update)."""
    base = f"localhost/xpumanager-standin-base:{rootfs.name.rsplit('-', 1)[1]}"
    if subprocess.run(["podman", "image", "exists", base], env=env).returncode != 0:
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--one-file-system", "--numeric-owner",
                                "--exclude=./usr/share/doc", "--exclude=./usr/share/man",
                                "--exclude=./usr/share/locale", "--exclude=./var/cache/apt",
                                "--exclude=./var/lib/apt/lists", "-c", "."], stdout=subprocess.PIPE)
        r = subprocess.run(["podman", "import", "-", base], stdin=tar.stdout, env=env, capture_output=True,
                           text=True, timeout=300)
        tar.wait(60)
        assert r.returncode == 0, r.stderr
    ctx = work / "standin-context"
    ctx.mkdir()
    shutil.copy(REPO / "tests/support/xpum_standins.py", ctx)
    shutil.copy(REPO / "tests/support/container_standin/entrypoint.py", ctx)
    tags = [f"{STANDIN}:{t}" for t in ("1.x", "1.x-b", "2.x")]
    args = ["podman", "build", "-q", "--from", base, "-f", str(REPO / "tests/support/container_standin/Containerfile")]
    for t in tags:
        args += ["-t", t]
    r = subprocess.run([*args, str(ctx)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


class _HealthTicker:
    """Runs the container's healthcheck every second (podman's systemd timer, absent here); bounded."""

    def __init__(self, env, max_seconds=240):
        self.env, self.max_seconds = env, max_seconds
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            subprocess.run(["podman", "healthcheck", "run", NAME], env=self.env, capture_output=True, timeout=30)
            self._stop.wait(1)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(35)


def _deploy(env, work, **extra):
    """invoke provision --host localhost --container with the test's variables; returns (rc, summary, out, secs)."""
    conf = work / "deploy"
    v = {"ansible_python_interpreter": sys.executable,
         "xpumanager_container_docker_host": env["DOCKER_HOST"],
         "xpumanager_container_config_dir": str(conf),
         "xpumanager_container_image": f"{STANDIN}:1.x",
         "xpumanager_container_pull": "never",
         "xpumanager_container_network_mode": "host",
         "xpumanager_container_bind_address": "127.0.0.1",
         "xpumanager_container_devices": ["/dev/null:/dev/dri/renderD128"],
         "xpumanager_container_rest_password": PASSWORD,
         "xpumanager_container_healthcheck_interval": "2s",
         "xpumanager_container_healthcheck_start_period": "1s",
         "xpumanager_container_wait_healthy": 40,
         **extra}
    vars_file = work / "vars.json"
    vars_file.write_text(json.dumps(v))
    summary = work / "summary.json"
    run_env = {**env, "XPU_OPS_SUMMARY_JSON": str(summary), "ANSIBLE_NOCOLOR": "1"}
    t0 = time.monotonic()
    r = subprocess.run([str(BIN / "invoke"), "provision", "--host", "localhost", "--container",
                        "-e", f"@{vars_file}"], cwd=REPO, env=run_env, capture_output=True, text=True, timeout=300)
    secs = time.monotonic() - t0
    s = json.loads(summary.read_text()) if summary.exists() else {}
    if summary.exists():
        summary.unlink()
    return r.returncode, s, r.stdout + r.stderr, secs


def _changed(summary):
    return next(iter(summary["hosts"].values()))["stats"]["changed"]


def _inspect(env):
    r = subprocess.run(["podman", "container", "inspect", NAME], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def _verify(env, work, checks="xpum.service,xpum.api,xpum.exposure", args=None):
    conf = work / "deploy"
    if args is None:
        args = ["--xpum-url", f"https://127.0.0.1:{PORT}", "--ca-file", str(conf / "rest-conf/cert.pem"),
                "--credentials-file", str(conf / "secrets/credentials")]
    r = subprocess.run([sys.executable, "-m", "checks", "--json", "--only", checks, *args],
                       cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    assert r.stdout.startswith("{"), r.stdout + r.stderr
    rep = json.loads(r.stdout)
    return {c["id"]: c for c in rep["checks"]}


@pytest.mark.hosts
def test_deploy_least_privilege_verify_redeploy_update_privileged_teardown(engine):
    env, work = engine
    timings = {}
    with _HealthTicker(env):
        rc, s, out, timings["deploy"] = _deploy(env, work)
        assert rc == 0, out[-6000:]
        assert _changed(s) > 0
        assert "docker-compose" in out          # preflight says which engine

        c = _inspect(env)
        hc, st = c["HostConfig"], c["State"]
        assert hc["Privileged"] is False
        assert sorted(c["EffectiveCaps"]) == ["CAP_SYS_ADMIN"]
        assert hc["NetworkMode"] == "host" and not hc.get("PortBindings")
        assert hc["Init"] is True and hc["RestartPolicy"]["Name"] == "unless-stopped"
        assert [(d["PathOnHost"], d["PathInContainer"]) for d in hc["Devices"]] == \
            [("/dev/null", "/dev/dri/renderD128")]
        mounts = {m["Destination"]: m for m in c["Mounts"]}
        assert set(mounts) == {"/usr/lib/xpum/rest/conf", "/run/xpu-ops"}
        assert all(m["RW"] is False for m in mounts.values()), mounts
        assert not any(m["Source"] == "/dev" for m in c["Mounts"])
        assert st["Health"]["Status"] == "healthy", st["Health"]
        env_vars = dict(e.split("=", 1) for e in c["Config"]["Env"])
        assert env_vars["XPUM_REST_HOST"] == "127.0.0.1"
        assert PASSWORD not in json.dumps(c)          # the password is only in the 0600 credentials file
        assert PASSWORD not in out                    # no_log
        # bound to 127.0.0.1 only: the listening socket, from the host's side (same network namespace)
        ss = subprocess.run(["ss", "-Hltn", f"sport = :{PORT}"], capture_output=True, text=True).stdout.split()
        assert f"127.0.0.1:{PORT}" in ss and f"0.0.0.0:{PORT}" not in ss and f"*:{PORT}" not in ss

        res = _verify(env, work)
        assert res["xpum.service"]["status"] == "pass" and "healthy" in res["xpum.service"]["detail"]
        assert res["xpum.api"]["status"] == "pass", res["xpum.api"]
        assert res["xpum.api"]["evidence"]["url"].startswith("https://127.0.0.1")
        assert res["xpum.exposure"]["status"] == "pass", res["xpum.exposure"]

        rc, s, out, timings["redeploy"] = _deploy(env, work)
        assert rc == 0, out[-4000:]
        assert _changed(s) == 0, out[-6000:]
        created = _inspect(env)["Id"]

        rc, s, out, timings["update"] = _deploy(env, work, xpumanager_container_image=f"{STANDIN}:1.x-b")
        assert rc == 0, out[-4000:]
        c = _inspect(env)
        assert c["Id"] != created and c["ImageName"].endswith("xpumanager-standin:1.x-b")

        rc, s, out, timings["privileged"] = _deploy(env, work, xpumanager_container_image=f"{STANDIN}:1.x-b",
                                                    xpumanager_container_privileged=True)
        assert rc == 0, out[-4000:]
        assert "WARNING: xpumanager_container_privileged is true" in out
        assert next(iter(s["hosts"].values()))["roles"]["xpumanager_container"]["privileged"] in (True, "True")
        assert _inspect(env)["HostConfig"]["Privileged"] is True
        res = _verify(env, work)
        assert res["xpum.exposure"]["status"] == "warn" and "privileged" in res["xpum.exposure"]["detail"]

    rc, s, out, timings["absent"] = _deploy(env, work, xpumanager_container_state="absent")
    assert rc == 0, out[-4000:]
    r = subprocess.run(["podman", "container", "exists", NAME], env=env)
    assert r.returncode == 1
    assert not (work / "deploy").exists()
    nets = subprocess.run(["podman", "network", "ls", "--format", "{{.Name}}"], env=env, capture_output=True,
                          text=True).stdout.split()
    assert "p2p_network" not in nets
    rc, s, out, _ = _deploy(env, work, xpumanager_container_state="absent")
    assert rc == 0 and _changed(s) == 0, out[-4000:]
    print("xpumanager_container timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


@pytest.mark.hosts
def test_v2_exporter_healthy_on_loopback_and_preflight_failures(engine):
    env, work = engine
    with _HealthTicker(env):
        rc, s, out, _ = _deploy(env, work, xpumanager_container_line="2",
                                xpumanager_container_image=f"{STANDIN}:2.x", xpumanager_container_port=18080)
        assert rc == 0, out[-6000:]
        c = _inspect(env)
        # xpumd's image is FROM scratch: no shell, so no CMD-SHELL healthcheck; the role waited for the engine's
        # "running" and GET /metrics from the host instead
        test = (c["Config"].get("Healthcheck") or {}).get("Test") or [None]
        assert c["State"]["Running"] and test[0] not in ("CMD-SHELL", "CMD"), c["Config"].get("Healthcheck")
        assert c["Config"]["User"] == "0" and sorted(c["EffectiveCaps"]) == ["CAP_SYS_ADMIN"]
        import yaml
        compose = (work / "deploy/compose.yml").read_text()
        assert "CMD-SHELL" not in compose and "bash" not in compose
        assert yaml.safe_load(compose)["services"]["xpu-manager"]["healthcheck"] == {"disable": True}
        # a complete collector configuration (upstream xpumd/config-example.yaml): xpumd refuses one without a
        # pipeline ("service must have at least one pipeline")
        xpumd = yaml.safe_load((work / "deploy/xpumd/config.yaml").read_text())
        metrics = xpumd["service"]["pipelines"]["metrics"]
        assert metrics["receivers"] == ["intelxpu"] and metrics["exporters"] == ["prometheus"]
        assert set(metrics["receivers"]) <= set(xpumd["receivers"])
        assert set(metrics["exporters"]) <= set(xpumd["exporters"])
        assert xpumd["exporters"]["prometheus"]["endpoint"] == "127.0.0.1:18080"
        import httpx
        body = httpx.get("http://127.0.0.1:18080/metrics", timeout=10).text
        assert "hw_gpu_info" in body
        res = _verify(env, work, args=["--xpum-url", "http://127.0.0.1:18080"])
        assert res["xpum.service"]["status"] == "pass" and res["xpum.exposure"]["status"] == "pass", res
        assert res["xpum.api"]["status"] == "pass" and res["xpum.api"]["evidence"]["line"] == "2.x", res["xpum.api"]
    rc, s, out, _ = _deploy(env, work, xpumanager_container_state="absent")
    assert rc == 0, out[-4000:]

    # pull never with an image that is not there: clear failure before any change
    rc, s, out, _ = _deploy(env, work, xpumanager_container_image=f"{STANDIN}:no-such-tag")
    assert rc != 0 and "is not on the host" in out
    assert not (work / "deploy").exists()
    # no such compose client: says so, before any change
    if not shutil.which("podman-compose"):
        rc, s, out, _ = _deploy(env, work, xpumanager_container_engine="podman-compose")
        assert rc != 0 and "No compose client found" in out
        assert not (work / "deploy").exists()


def test_role_defaults_render_dev_dri_and_no_privileges():
    """The role's own defaults (not the tests' overrides) ask for /dev/dri, no privileges, loopback."""
    import yaml
    d = yaml.safe_load((REPO / "roles/xpumanager_container/defaults/main.yml").read_text())
    assert d["xpumanager_container_devices"] == ["/dev/dri:/dev/dri"]
    assert d["xpumanager_container_privileged"] is False and d["xpumanager_container_cap_add"] == ["SYS_ADMIN"]
    assert d["xpumanager_container_bind_address"] == "127.0.0.1"
    assert (d["xpumanager_container_service"], d["xpumanager_container_name"], d["xpumanager_container_network"]) \
        == ("xpu-manager", "p2p_xpu_manager", "p2p_network")
