"""Run `python -m checks` and `invoke TASK` as a user would: a real process, its exit code, stdout and stderr."""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_verify(*args, env=None, timeout=120):
    e = dict(os.environ)
    for k in [k for k in e if k.startswith("XPU_MANAGER_")]:  # verify honours every XPU_MANAGER_* variable
        e.pop(k)
    e["PYTHONPATH"] = ROOT
    e["NO_COLOR"] = "1"
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "checks", *map(str, args)], capture_output=True, text=True,
                          env=e, timeout=timeout, cwd=ROOT)


def run_invoke(*args, timeout=180, label=None):
    """`invoke ARGS` from the checkout, no colour, no XPU_MANAGER_* of ours, stdin closed; prints (does not
    assert) how long it took."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPU_MANAGER_")}
    env.update(NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "invoke", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    print("\n%s: %.2f s (exit %d)" % (label or " ".join(map(str, args[:4])), time.monotonic() - t0, r.returncode))
    return r


def run_json(*args, **kw):
    r = run_verify("--json", *args, **kw)
    assert r.returncode in (0, 1), (r.returncode, r.stderr)
    return r, json.loads(r.stdout)


def check_of(report, cid):
    return next(c for c in report["checks"] if c["id"] == cid)


def assert_clean_error(r, code=2):
    """One clear line on stderr, the documented exit code, no traceback."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("xpu-ops verify: error: ")
    return lines[0]
