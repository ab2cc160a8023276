"""Run XPU Manager's `xpu-smi ... -j` on this host and read its JSON (standard library only).

Upstream (intel/xpumanager, cli/src/comlet_base.h, cli/src/exit_code.h): the exit code is the JSON's
"errno" (0 on success), an error is {"error": ..., "errno": N}; a diagnostic that ran but did not pass
answers its full result with "errno": 45.
"""
import json
import os
import shutil
import subprocess

DIAG_FAILED = 45


def path(env=None):
    """xpu-smi on PATH (or $XPU_SMI, for a copy elsewhere), else None."""
    env = os.environ if env is None else env
    if env.get("XPU_SMI"):
        return env["XPU_SMI"] if os.access(env["XPU_SMI"], os.X_OK) else None
    return shutil.which("xpu-smi", path=env.get("PATH"))


def run(args, timeout=600.0, smi=None):
    """(exit code, parsed JSON or None, one-line error or None) of `xpu-smi ARGS -j`."""
    smi = smi or path()
    if not smi:
        return 127, None, "xpu-smi is not installed"
    try:
        r = subprocess.run([smi, *args, "-j"], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, None, "xpu-smi %s: no answer within %g s" % (" ".join(args), timeout)
    except OSError as e:
        return 126, None, "cannot run %s: %s" % (smi, e.strerror or e)
    text = r.stdout.decode("utf-8", "replace")
    try:
        obj = json.loads(text)
    except ValueError:
        lines = [x for x in (text + r.stderr.decode("utf-8", "replace")).splitlines() if x.strip()]
        return r.returncode, None, "xpu-smi %s: %s (exit %d)" % (args[0], lines[-1] if lines else "no JSON",
                                                                 r.returncode)
    if isinstance(obj, dict) and "error" in obj:
        return r.returncode, obj, "xpu-smi %s: %s (errno %s)" % (args[0], obj["error"], obj.get("errno"))
    return r.returncode, obj, None


def devices(timeout=60.0, smi=None):
    """([{device_id, pci_bdf_address, device_name, ...}], error or None) from `xpu-smi discovery -j`."""
    rc, obj, err = run(["discovery"], timeout, smi)
    if err:
        return [], err
    return list((obj or {}).get("device_list", [])), None
