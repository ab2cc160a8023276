"""Frameworks on the stack: PyTorch XPU. Shown under "User space" in the text report; checked last, as its
probe (a child interpreter importing torch) is the slowest fact."""
from checks.result import FAIL, PASS, WARN
from checks.rules import check
from checks.rules._common import _gpus

LAYER = "User space"


TORCH_XPU_FIX = "pip install --upgrade torch --index-url https://download.pytorch.org/whl/xpu"


def _install_fix(t):
    """How to get PyTorch XPU into the interpreter probed, in a way its OS allows: pip refuses an externally
    managed interpreter (PEP 668: Debian 12's /usr/bin/python3), so that one gets a venv first."""
    if t.get("externally_managed"):
        return ("%s refuses pip installs (externally managed, PEP 668): make a virtual environment for the "
                "application, install PyTorch XPU there, and point verify at it:\n"
                "%s -m venv ~/venv-xpu && ~/venv-xpu/bin/python -m %s\n"
                "invoke verify --python ~/venv-xpu/bin/python" % (t["python"], t["python"], TORCH_XPU_FIX))
    return "%s -m %s" % (t["python"], TORCH_XPU_FIX)


def _not_found(t):
    """No PyTorch where verify looked by itself (no --python): a warning that says where it looked."""
    where = "; ".join(t.get("looked") or [])
    detail = ("no PyTorch found: %s; looked at %s. If your application has its own interpreter, point verify at it"
              % ("no interpreter" if not t.get("python") else "not installed in %s%s" % (
                  t["python"], " (xpu-ops' own environment)" if t.get("self") else ""), where))
    return WARN, detail, ("invoke verify --python /path/to/your/venv/bin/python   # the interpreter your "
                          "application runs\n(or activate its virtual environment first: VIRTUAL_ENV is "
                          "honoured)\nto install PyTorch XPU: " + (_install_fix(t) if t.get("python") else
                                                                  TORCH_XPU_FIX)), t


NO_SETVARS = ("start the application from a shell where /opt/intel/oneapi/setvars.sh was NOT sourced (this PyTorch "
              "bundles its own SYCL runtime); for one command: env -u LD_LIBRARY_PATH %s your_app.py")


def _sycl_libs(paths):
    import os
    return [p for p in paths if os.path.basename(p).startswith("libsycl.so")]


def _runtime_notes(t, f):
    """The doctor's findings about the process PyTorch runs in: (status, notes, fixes)."""
    import os
    notes, fixes, statuses = [], [], []
    mapped, bundled = t.get("mapped") or [], t.get("bundled") or []
    real = {os.path.realpath(p) for p in bundled}
    sycl = _sycl_libs(mapped)
    if len({os.path.basename(p).split(".so")[0] + ".so" + os.path.basename(p).split(".so")[1][:2]
            for p in sycl}) > 1 or len({os.path.dirname(p) for p in sycl}) > 1:
        statuses.append(WARN)
        notes.append("two SYCL runtimes in one process: %s (a known cause of segfaults, pytorch issue 180948)"
                     % ", ".join(sycl))
        fixes.append(NO_SETVARS % t["python"])
    else:
        shadowed = [p for p in mapped if bundled and os.path.basename(p).startswith(("libsycl.so", "libur_loader.so"))
                    and os.path.realpath(p) not in real and "/oneapi/" in p]
        if shadowed:
            statuses.append(WARN)
            notes.append("oneAPI's runtime shadows the one this PyTorch ships: %s loaded instead of %s (from "
                         "LD_LIBRARY_PATH=%s)" % (", ".join(shadowed), ", ".join(_sycl_libs(bundled)) or bundled[0],
                                                  (t.get("env") or {}).get("LD_LIBRARY_PATH", "")))
            fixes.append(NO_SETVARS % t["python"])
    env = t.get("env") or {}
    if (t.get("torch_xpu_build") and not t.get("available") and not bundled and not _sycl_libs(mapped)
            and not env.get("SETVARS_COMPLETED")):
        notes.append("this PyTorch build ships no SYCL runtime and oneAPI's is not loaded")
        fixes.append("this build needs oneAPI's runtime: source /opt/intel/oneapi/setvars.sh before starting it")
    z = f.get("levelzero") or {}
    devs = [d for d in z.get("devices") or [] if d.get("type") == "gpu" and not d.get("subdevice")]
    names = t.get("names") or []
    if devs and names:
        first = next((d for d in devs if d["name"] == names[0]), None)
        discrete = [i for i, d in enumerate(devs) if not d["integrated"]]
        if first and first["integrated"] and discrete and not (env.get("ONEAPI_DEVICE_SELECTOR")
                                                                or env.get("ZE_AFFINITY_MASK")):
            statuses.append(WARN)
            d = devs[discrete[0]]
            notes.append("xpu:0 is the integrated %s while the discrete %s (%s) is present" % (
                first["name"], d["name"], d.get("bdf")))
            fixes.append("make the discrete GPU xpu:0: export ONEAPI_DEVICE_SELECTOR=level_zero:%d   "
                         "(or: export ZE_AFFINITY_MASK=%d)" % (discrete[0], discrete[0]))
    if any(g.get("family") == "max" for g in _gpus(f)):
        notes.append("ZE_FLAT_DEVICE_HIERARCHY=%s (%s)" % (
            env.get("ZE_FLAT_DEVICE_HIERARCHY", "unset"), "each stack of a Max GPU is its own xpu device"
            if env.get("ZE_FLAT_DEVICE_HIERARCHY", "FLAT") == "FLAT" else "one xpu device per card"))
    if t.get("mem_get_info"):
        free, total = t["mem_get_info"]
        notes.append("xpu:0 memory: %.1f of %.1f GiB free" % (free / 2**30, total / 2**30))
    elif t.get("mem_get_info_error"):
        statuses.append(WARN)
        notes.append("torch.xpu.mem_get_info() failed: %s" % t["mem_get_info_error"])
    return statuses, notes, fixes


@check("torch.xpu", "PyTorch XPU", needs=("platform", "pci", "torch", "levelzero"))
def torch_xpu(f):
    status, detail, remedy, ev = _verdict(f)
    t = f["torch"]
    if t.get("outcome") != "ok" or not t.get("torch"):
        return status, detail, remedy, ev
    statuses, notes, fixes = _runtime_notes(t, f)
    if notes:
        detail += "; " + "; ".join(notes)
    if fixes:
        remedy = "\n".join([remedy] + fixes if remedy else fixes)
    if status == PASS and WARN in statuses:
        status = WARN
    return status, detail, remedy, ev


def _verdict(f):
    t = f["torch"]
    has_gpu = bool(_gpus(f)) or f["platform"]["wsl2"]
    ev = {k: v for k, v in t.items() if k not in ("stderr",)}
    if t.get("stderr"):
        ev["stderr"] = t["stderr"]
    if t["outcome"] == "none" or (t["outcome"] == "ok" and not t.get("torch") and t.get("found_by")
                                  and t["found_by"] != "--python"):
        return _not_found(dict(ev))
    if t["outcome"] != "ok":
        return FAIL, "%s; the application must use device cpu" % t.get("reason"), (
            "run it by hand to see the error: %s -c 'import torch; print(torch.xpu.is_available())'; a hang or crash "
            "in zeInit means the Level Zero driver and kernel driver do not match (see userspace, kernel.driver)"
            % t["python"]), ev
    if not t.get("torch"):
        fix = _install_fix(t)
        if t.get("self"):
            fix = ("this is xpu-ops' own interpreter: name your application's instead, e.g. "
                   "invoke verify --python /path/to/your/venv/bin/python\nor install PyTorch XPU there: " + fix)
        return (FAIL, "PyTorch is not installed in %s (%s); device: cpu" % (t["python"], t.get("import_error")),
                fix, ev)
    ipex_note, ipex_bad, ipex_fix = "", False, ""
    if t.get("ipex_version"):
        tmm = ".".join(t["torch"].split("+")[0].split(".")[:2])
        if not t.get("ipex_matches"):
            ipex_bad = True
            ipex_note = "; IPEX %s needs torch %s.*, found torch %s" % (
                t["ipex_version"], ".".join(t["ipex_version"].split(".")[:2]), t["torch"])
            ipex_fix = ("%s -m pip uninstall -y intel-extension-for-pytorch   # IPEX is end-of-life; torch.xpu "
                        "needs no IPEX. To keep it instead: pip install 'torch==%s.*' (IPEX %s's torch)"
                        % (t["python"], ".".join(t["ipex_version"].split(".")[:2]), t["ipex_version"]))
        elif t.get("ipex_import") is False:
            ipex_bad = True
            ipex_note = "; IPEX %s fails to import: %s" % (t["ipex_version"], t.get("ipex_error"))
            ipex_fix = "%s -m pip install --force-reinstall 'intel-extension-for-pytorch==%s.*'" % (t["python"], tmm)
        else:
            ipex_note = "; IPEX %s matches torch %s" % (t["ipex_version"], tmm)
    base = "torch %s (xpu build: %s)" % (t["torch"], t.get("torch_xpu_build") or "no")
    if t.get("available"):
        if not t.get("tensor_op"):
            return (FAIL, base + ": %d XPU device(s) but a tensor op on xpu:0 failed: %s; device: cpu" % (
                t.get("count", 0), t.get("tensor_error")),
                "check userspace and kernel.driver; then: %s -c \"import torch; print(torch.ones(1, "
                "device='xpu'))\"" % t["python"], ev)
        detail = base + ": %d device(s): %s; use device xpu:0" % (t["count"], ", ".join(t["names"])) + ipex_note
        return (WARN if ipex_bad else PASS), detail, ipex_fix, ev
    if not t.get("torch_xpu_build"):
        detail = base + ": this torch build has no XPU support; device: cpu" + ipex_note
        fix = _install_fix(t)
    else:
        detail = base + ": torch.xpu.is_available() is False%s; device: cpu" % (
            " (%s)" % t["is_available_error"] if t.get("is_available_error") else "") + ipex_note
        fix = "check userspace, kernel.driver and dri.access above; then %s -c 'import torch; " \
              "print(torch.xpu.is_available())'" % t["python"]
    if ipex_fix:
        fix += "\n" + ipex_fix
    if has_gpu or ipex_bad:
        return FAIL, detail, fix, ev
    return WARN, detail + " (no Intel GPU here, so cpu is expected)", fix, ev
