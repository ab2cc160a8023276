"""Frameworks on the stack: PyTorch XPU. Shown under "User space" in the text report; checked last, as its
probe (a child interpreter importing torch) is the slowest fact."""
from checks.result import FAIL, PASS, WARN
from checks.rules import check
from checks.rules._common import _gpus

LAYER = "User space"


TORCH_XPU_FIX = "pip install --upgrade torch --index-url https://download.pytorch.org/whl/xpu"


@check("torch.xpu", "PyTorch XPU", needs=("platform", "pci", "torch"))
def torch_xpu(f):
    t = f["torch"]
    has_gpu = bool(_gpus(f)) or f["platform"]["wsl2"]
    ev = {k: v for k, v in t.items() if k not in ("stderr",)}
    if t.get("stderr"):
        ev["stderr"] = t["stderr"]
    if t["outcome"] != "ok":
        return FAIL, "%s; the application must use device cpu" % t.get("reason"), (
            "run it by hand to see the error: %s -c 'import torch; print(torch.xpu.is_available())'; a hang or crash "
            "in zeInit means the Level Zero driver and kernel driver do not match (see userspace, kernel.driver)"
            % t["python"]), ev
    if not t.get("torch"):
        fix = "%s -m %s" % (t["python"], TORCH_XPU_FIX)
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
        fix = "%s -m %s" % (t["python"], TORCH_XPU_FIX)
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
