"""Run a probe in a child interpreter, isolated: the one way verify starts code it does not control.

A probe is a stdlib-only source file of this package, run as ``python -c SOURCE``; it prints one line
``XPUOPS-PROBE {json}``. The child:

- gets the caller's environment without any ``XPU_MANAGER_*`` variable (credentials, URL: they are verify's
  business, not the application interpreter's, whose torch/sitecustomize would see them) -- review finding F9;
- runs from ``/`` and, where the interpreter has it (3.11+), with ``-P``, so a ``json.py`` or ``torch.py`` in the
  folder verify was started from is never imported (``-c`` puts the working directory first on sys.path) -- F10;
- runs in its own session and is killed with its process group after ``timeout`` seconds.
"""
import os
import time

MARK = "XPUOPS-PROBE "
SECRET_PREFIX = "XPU_MANAGER_"


def child_env(env=None, extra=None):
    """The environment a probe child gets: the caller's, without XPU_MANAGER_* (F9), plus `extra`."""
    out = {k: v for k, v in (os.environ if env is None else env).items() if not k.startswith(SECRET_PREFIX)}
    out.update(extra or {})
    return out


def _safe_path_flag(python):
    """['-P'] when `python` is 3.11+ (sys.path without the working directory / script folder), else []."""
    import sys
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        return ["-P"] if sys.version_info >= (3, 11) else []
    return []  # another interpreter: its version is unknown here; cwd="/" keeps the folder out anyway


class ChildProbe:
    """Start `source` in `python` now; `.result()` waits (at most `timeout` from the start) and returns
    {"outcome": "ok"|"timeout"|"crash"|"error", "elapsed", "reason", "stderr", "data": the JSON or None}."""

    def __init__(self, python, source, timeout, env=None, extra_env=None, what="probe"):
        import subprocess  # here, not at import: a verify that starts no child imports neither it nor threading
        # the child runs from /: a relative --python is the caller's, so resolved here
        if os.sep in python:
            python = os.path.abspath(python)
        else:
            import shutil
            python = shutil.which(python) or python
        self.python, self.timeout, self.what = python, timeout, what
        self.started = time.monotonic()
        e = child_env(env, extra_env)
        e.setdefault("PYTHONWARNINGS", "ignore")
        try:
            self.proc = subprocess.Popen(
                [python] + _safe_path_flag(python) + ["-c", source],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=e, cwd="/", start_new_session=True,
            )
            self.error = None
        except OSError as e:
            self.proc = None
            self.error = "cannot run %s: %s" % (python, e.strerror or e)

    def result(self):
        import json
        import signal
        import subprocess
        if self.proc is None:
            return {"outcome": "error", "reason": self.error}
        remaining = max(0.1, self.timeout - (time.monotonic() - self.started))
        try:
            out, err = self.proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.communicate()
            return {"outcome": "timeout", "reason": "the %s did not finish within %.0f s" % (self.what, self.timeout)}
        elapsed = round(time.monotonic() - self.started, 2)
        rc = self.proc.returncode
        err_lines = err.decode("utf-8", "replace").strip().splitlines()
        line = next((x for x in out.decode("utf-8", "replace").splitlines() if x.startswith(MARK)), None)
        base = {"elapsed": elapsed, "stderr_all": err_lines}
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = "signal %d" % -rc
            return dict(base, outcome="crash", reason="the %s was killed by %s" % (self.what, name))
        if line is None:
            return dict(base, outcome="error", reason="the %s exited %d without a result" % (self.what, rc))
        try:
            data = json.loads(line[len(MARK):])
        except ValueError:
            return dict(base, outcome="error", reason="the %s printed garbage" % self.what)
        return dict(base, outcome="ok", data=data)


def tail(lines, n=5):
    return list(lines or [])[-n:]
