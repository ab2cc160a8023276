"""User-space layer: the Level Zero loader and GPU driver, the OpenCL ICD."""
from checks.result import FAIL, PASS, WARN
from checks.rules import check
from checks.rules._common import _os_key, _provision

LAYER = "User space"


def _compute_fix(p):
    k = _os_key(p)
    if k == "debian-12":
        return "sudo apt install intel-opencl-icd libze1 clinfo"
    if k.startswith("debian-") and k != "debian-11":
        return ("sudo apt install libze1   # trixie has no Intel compute runtime: take intel-opencl-icd and "
                "libze-intel-gpu1 from forky (apt pinning) or Intel's compute-runtime releases")
    if k == "ubuntu-24":
        return ("sudo add-apt-repository -y ppa:kobuk-team/intel-graphics && "
                "sudo apt install libze-intel-gpu1 libze1 intel-opencl-icd clinfo")
    if k == "ubuntu-22":
        return ("wget -qO- https://repositories.intel.com/gpu/intel-graphics.key | "
                "sudo gpg --yes --dearmor -o /usr/share/keyrings/intel-graphics.gpg && "
                "echo 'deb [arch=amd64 signed-by=/usr/share/keyrings/intel-graphics.gpg] "
                "https://repositories.intel.com/gpu/ubuntu jammy/lts/2350 unified' | "
                "sudo tee /etc/apt/sources.list.d/intel-gpu-jammy.list && sudo apt update && "
                "sudo apt install intel-opencl-icd intel-level-zero-gpu level-zero clinfo")
    return "install the Level Zero loader and Intel GPU compute runtime for your distribution"


@check("userspace", "User space: Level Zero and OpenCL", needs=("platform", "userspace"))
def userspace(f):
    u = f["userspace"]
    p = f["platform"]
    pk = u["packages"] or {}
    libs = u["libraries"]
    loader = pk.get("libze1") or pk.get("level-zero")
    loader_src = ("libze1 %s" % pk["libze1"]) if pk.get("libze1") else (
        "level-zero %s" % pk["level-zero"] if pk.get("level-zero") else libs.get("libze_loader.so.1"))
    gpu_drv_src = None
    for name in ("libze-intel-gpu1", "intel-level-zero-gpu"):
        if pk.get(name):
            gpu_drv_src = "%s %s" % (name, pk[name])
            break
    if gpu_drv_src is None and libs.get("libze_intel_gpu.so.1"):
        owner = " (from intel-opencl-icd %s)" % pk["intel-opencl-icd"] if pk.get("intel-opencl-icd") else ""
        gpu_drv_src = libs["libze_intel_gpu.so.1"] + owner
    intel_icds = {k: v for k, v in u["icds"].items() if "igdrcl" in v or "intel" in k.lower()}
    ev = {"packages": pk, "libraries": libs, "icds": u["icds"], "dpkg": u["packages"] is not None}
    problems = []
    if not (loader or libs.get("libze_loader.so.1")):
        problems.append("no Level Zero loader (libze1 / libze_loader.so.1)")
    if not gpu_drv_src:
        problems.append("no Intel Level Zero GPU driver (libze-intel-gpu1 / libze_intel_gpu.so.1)")
    if not intel_icds:
        problems.append("no Intel OpenCL ICD registered in /etc/OpenCL/vendors")
    found = "; ".join(x for x in (
        "loader: %s" % loader_src if loader_src else None,
        "GPU driver: %s" % gpu_drv_src if gpu_drv_src else None,
        "OpenCL ICD: %s" % ", ".join("%s -> %s" % kv for kv in intel_icds.items()) if intel_icds else None) if x)
    if p["wsl2"]:
        found = (found + "; " if found else "") + "WSL libraries: %s" % (
            "/usr/lib/wsl/lib" if p["wsl_lib"] else "missing")
    if problems:
        return (FAIL, "; ".join(problems) + ("; found " + found if found else ""),
                _compute_fix(p) + "\nor let xpu-ops do it: " + _provision(f), ev)
    old = [n for n in ("level-zero", "intel-level-zero-gpu") if pk.get(n)]
    if old:
        return (WARN, found + "; old package names %s (renamed libze1 / libze-intel-gpu1): upgrades from a newer "
                "repository conflict" % ", ".join(old),
                "sudo apt install libze1 libze-intel-gpu1   # replaces %s" % " ".join(old), ev)
    return PASS, found, "", ev
