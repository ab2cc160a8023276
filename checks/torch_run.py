"""Start the PyTorch probe in a child interpreter (checks.child), concurrently with the other facts;
and find which interpreter's PyTorch to probe."""
import os
import sys
import time

from checks.child import ChildProbe, tail
from checks.torch_probe import externally_managed


def find_python(python=None, env=None):
    """(interpreter, how it was chosen, where it looked): --python, else the active VIRTUAL_ENV's python,
    else python3 on PATH. The interpreter is None when none of those exists."""
    env = os.environ if env is None else env
    looked = []
    if python:
        return python, "--python", ["--python %s" % python]
    venv = env.get("VIRTUAL_ENV")
    if venv:
        cand = os.path.join(venv, "bin", "python")
        looked.append("VIRTUAL_ENV=%s (%s)" % (venv, cand))
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand, "VIRTUAL_ENV", looked
    else:
        looked.append("VIRTUAL_ENV (not set)")
    import shutil
    cand = shutil.which("python3", path=env.get("PATH", os.defpath))
    looked.append("python3 on PATH (%s)" % (cand or "none"))
    if cand:
        return cand, "PATH", looked
    return None, None, looked


class TorchProbe:
    def __init__(self, python, timeout, env=None):
        self.python = python
        self.timeout = timeout
        self.started = time.monotonic()
        self.absent = _torch_absent_here(python, env)
        self.child = None
        if self.absent:
            return
        from checks.families import package_data
        src = package_data("torch_probe.py").decode()
        self.child = ChildProbe(python, src, timeout, env, what="PyTorch probe")

    def result(self):
        base = {"python": self.python}
        if self.absent:
            # Literally this interpreter (same path, same sys.prefix), and torch is not on it: no child needed.
            return dict(base, outcome="ok", torch=None, import_error="No module named 'torch'", ipex_version=None,
                        probe="in-process: torch is not importable by this interpreter", elapsed=0.0,
                        externally_managed=externally_managed())
        r = self.child.result()
        if r["outcome"] == "timeout":
            r["reason"] += " (a hung driver init, zeInit?)"
        out = dict(base, outcome=r["outcome"])
        if "elapsed" in r:
            out["elapsed"] = r["elapsed"]
        if r.get("reason"):
            out["reason"] = r["reason"]
        if "stderr_all" in r:
            out["stderr"] = tail(r["stderr_all"])
        if r["outcome"] == "ok":
            out.update({k: v for k, v in r["data"].items() if k != "python"})
        return out


def _venv_prefix(python):
    """The sys.prefix `python` starts with: the folder of a pyvenv.cfg beside it or one up (as CPython looks),
    else None (a base interpreter: its prefix is its installation's)."""
    here = os.path.dirname(os.path.abspath(python))
    for d in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(d, "pyvenv.cfg")):
            return d
    return None


def _is_this_interpreter(python):
    """Literally this process's interpreter: the same path (symlinks NOT followed: two venvs made from one base
    both link to it) and the same sys.prefix."""
    if os.path.normpath(os.path.abspath(python)) != os.path.normpath(os.path.abspath(sys.executable)):
        return False
    prefix = _venv_prefix(python)
    return os.path.normpath(prefix or sys.base_prefix) == os.path.normpath(sys.prefix)


def _torch_absent_here(python, env):
    """True when `python` is this very interpreter and torch is on none of the paths its child would search.

    The child runs without -I/-E/-s: what this interpreter was told to leave out (PYTHONPATH, the user
    site, as the remote runner's ``python3 -I`` does) is searched for torch too.
    """
    if not _is_this_interpreter(python):
        return False
    env = os.environ if env is None else env
    if sys.flags.no_site:
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
