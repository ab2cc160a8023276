"""Start the PyTorch probe in a child interpreter, concurrently with the other facts."""
import json
import os
import signal
import subprocess
import time

MARK = "XPUOPS-PROBE "


class TorchProbe:
    def __init__(self, python, timeout, env=None):
        self.python = python
        self.timeout = timeout
        self.started = time.monotonic()
        self.proc = None
        self.absent = _torch_absent_here(python, env)
        if self.absent:
            return
        from checks.families import package_data
        src = package_data("torch_probe.py").decode()
        env = dict(os.environ if env is None else env)
        env.setdefault("PYTHONWARNINGS", "ignore")
        try:
            self.proc = subprocess.Popen(
                [python, "-c", src],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=env, start_new_session=True,
            )
            self.error = None
        except OSError as e:
            self.proc = None
            self.error = "cannot run %s: %s" % (python, e.strerror or e)

    def result(self):
        base = {"python": self.python}
        if self.absent:
            # Same interpreter and path as ours, and torch is not on it: no child needed.
            return dict(base, outcome="ok", torch=None, import_error="No module named 'torch'", ipex_version=None,
                        probe="in-process: torch is not importable by this interpreter", elapsed=0.0)
        if self.proc is None:
            return dict(base, outcome="error", reason=self.error)
        remaining = max(0.1, self.timeout - (time.monotonic() - self.started))
        try:
            out, err = self.proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.communicate()
            return dict(base, outcome="timeout",
                        reason="the PyTorch probe did not finish within %.0f s (a hung driver init, zeInit?)"
                        % self.timeout)
        elapsed = round(time.monotonic() - self.started, 2)
        rc = self.proc.returncode
        line = next((x for x in out.decode("utf-8", "replace").splitlines() if x.startswith(MARK)), None)
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = "signal %d" % -rc
            return dict(base, outcome="crash", elapsed=elapsed,
                        reason="the PyTorch probe was killed by %s" % name, stderr=_tail(err))
        if line is None:
            return dict(base, outcome="error", elapsed=elapsed,
                        reason="the PyTorch probe exited %d without a result" % rc, stderr=_tail(err))
        try:
            data = json.loads(line[len(MARK):])
        except ValueError:
            return dict(base, outcome="error", elapsed=elapsed, reason="the PyTorch probe printed garbage")
        return dict(base, outcome="ok", elapsed=elapsed, **{k: v for k, v in data.items() if k != "python"},
                    stderr=_tail(err))


def _torch_absent_here(python, env):
    """True when `python` is this very interpreter and torch is on none of the paths its child would search.

    The child runs without -I/-E/-s: what this interpreter was told to leave out (PYTHONPATH, the user
    site, as the remote runner's ``python3 -I`` does) is searched for torch too.
    """
    import sys
    try:
        same = os.path.samefile(python, sys.executable)
    except OSError:
        return False
    env = os.environ if env is None else env
    if not same or sys.flags.no_site:
        return False
    if not sys.flags.ignore_environment and env.get("PYTHONPATH", "") != os.environ.get("PYTHONPATH", ""):
        return False
    import importlib.util
    if importlib.util.find_spec("torch") is not None:
        return False
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p] if sys.flags.ignore_environment else []
    if sys.flags.no_user_site:
        import site
        extra.append(site.getusersitepackages())
    from importlib.machinery import PathFinder
    return not extra or PathFinder.find_spec("torch", extra) is None


def _tail(b, n=5):
    lines = b.decode("utf-8", "replace").strip().splitlines()
    return lines[-n:]
