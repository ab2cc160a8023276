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
              % ("no interpreter" if not t.get("python") else "not installed in %s" % t["python"], where))
    return WARN, detail, ("invoke verify --python /path/to/your/venv/bin/python   # the interpreter your "
                          "application runs\n(or activate its virtual environment first: VIRTUAL_ENV is "
                          "honoured)\nto install PyTorch XPU: " + (_install_fix(t) if t.get("python") else
                                                                  TORCH_XPU_FIX)), t


@check("torch.xpu", "PyTorch XPU", needs=("platform", "pci", "torch"))
def torch_xpu(f):
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
