"""Run `python -m checks` as a user would: a real process, its exit code, stdout and stderr."""
import json
import os
import subprocess
import sys

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
