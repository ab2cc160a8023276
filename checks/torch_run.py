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


def _tail(b, n=5):
    lines = b.decode("utf-8", "replace").strip().splitlines()
    return lines[-n:]
