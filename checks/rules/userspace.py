"""User-space layer: the Level Zero loader and GPU driver, the OpenCL ICD."""
from checks import families
from checks.result import FAIL, PASS, WARN, worst
from checks.rules import check
from checks.rules._common import _os_key, _provision

# compute-runtime LEGACY_PLATFORMS.md: from 24.35.30872.22 the regular packages support Gen12 and later only;
# Gen8, Gen9 and Gen11 get the *-legacy1 packages (Debian: intel-opencl-icd-legacy, libze-intel-gpu-legacy1-1).
LEGACY_FROM = (24, 35)
LEGACY_PACKAGES = ("intel-opencl-icd-legacy1", "intel-opencl-icd-legacy", "intel-level-zero-gpu-legacy1",
                   "libze-intel-gpu-legacy1-1")
RUNTIME_PACKAGES = ("intel-opencl-icd", "libze-intel-gpu1")  # versioned YY.WW.BUILD (intel-level-zero-gpu is 1.x)

LAYER = "User space"


def _compute_fix(p, new=False):
    k = _os_key(p)
    if k == "debian-12" and new:
        return ("bookworm's intel-opencl-icd 22.43 predates this GPU: use Debian 13 with the runtime from forky, "
                "or Ubuntu 24.04 with ppa:kobuk-team/intel-graphics")
    if k == "debian-12":
        return "sudo apt install intel-opencl-icd libze1 clinfo"
    if k.startswith("debian-") and k != "debian-11":
        return ("sudo apt install libze1   # trixie has no Intel compute runtime: take intel-opencl-icd and "
                "libze-intel-gpu1 from forky (apt pinning) or Intel's compute-runtime releases")
    if k == "ubuntu-22" and new:
        return ("the runtime on this Ubuntu 22.04 predates this GPU: move to Ubuntu 24.04 with "
                "ppa:kobuk-team/intel-graphics, or install a newer release from github.com/intel/compute-runtime")
    if k == "ubuntu-24" or (new and k.startswith("ubuntu-")):
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


def _runtime(pk):
    for name in RUNTIME_PACKAGES:
        v = families.version_tuple(pk.get(name))
        if v and v[0] >= 20:
            return name, pk[name], v
    return None, None, None


def _legacy_fix(p):
    if _os_key(p).startswith("debian-"):
        return ("sudo apt install -t sid intel-opencl-icd-legacy libze-intel-gpu-legacy1-1   # Gen8-Gen11 runtime "
                "(Debian sid only), or keep the distribution's older intel-opencl-icd")
    return ("install Intel's Gen8-Gen11 packages intel-opencl-icd-legacy1 and intel-level-zero-gpu-legacy1 "
            "(compute-runtime release 24.35.30872.22), or a runtime older than 24.35")


def _runtime_needs(gpus):
    """(what, first release or None, exact) per family on the bus: the family's min_runtime, or for a
    device id the table lists apart (min_runtime_by_id: known earlier, or by no release) that id's own."""
    out = {}
    for g, fam in gpus:
        if not fam or not fam.get("min_runtime"):
            continue
        by_id = {int(k, 16): v for k, v in (fam.get("min_runtime_by_id") or {}).items()}
        dev = g.get("device_id")
        if dev in by_id:
            key, what, need = (fam["id"], dev), "%s (8086:%04x)" % (fam["name"], dev), by_id[dev]
        else:
            key, what, need = (fam["id"], None), fam["name"], fam["min_runtime"]
        out[key] = (what, need, fam.get("min_runtime_exact", True))
    return list(out.values())


def _hardware_fit(f, pk):
    """(status, problem, remedy) of the runtime against the GPUs on the bus: the legacy split and each
    family's first supporting release (min_runtime in checks/gpu_families.json)."""
    gpus = [(g, families.family_by_key(g["family"])) for g in (f.get("pci") or {}).get("gpus", []) if g.get("family")]
    fams = list({x["id"]: x for _, x in gpus if x}.values())
    name, ver_text, ver = _runtime(pk)
    if not fams or ver is None:
        return PASS, None, None
    out = []
    legacy = sorted({x["name"] for x in fams if x["legacy"]})
    if legacy and ver[:2] >= LEGACY_FROM and not any(pk.get(n) for n in LEGACY_PACKAGES):
        out.append((FAIL, "%s %s supports Gen12 and later only: %s get no OpenCL / Level Zero device without the "
                    "legacy packages" % (name, ver_text, ", ".join(legacy)), _legacy_fix(f["platform"])))
    for what, need_text, exact in _runtime_needs(gpus):
        if need_text is None:
            out.append((WARN, "no compute runtime release knows %s (up to the one our table was read from): Level "
                        "Zero and OpenCL may show no device; a newer release may" % what,
                        _compute_fix(f["platform"], new=True)))
            continue
        need = families.version_tuple(need_text)
        if need and ver[:len(need)] < need:
            out.append((FAIL if exact else WARN, "%s %s is older than %s, %s %s: Level Zero and OpenCL %s" % (
                name, ver_text, need_text,
                "the first compute runtime that supports" if exact else "the oldest compute runtime known to work on",
                what, "will show no device" if exact else "may show no device"),
                        _compute_fix(f["platform"], new=True)))
    if not out:
        return PASS, None, None
    remedy = "\n".join(dict.fromkeys(r for _, _, r in out if r))
    return worst([s for s, _, _ in out]), "; ".join(m for _, m, _ in out), remedy


@check("userspace", "User space: Level Zero and OpenCL", needs=("platform", "pci", "userspace"))
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
    on_bus = [families.family_by_key(g["family"]) for g in (f.get("pci") or {}).get("gpus", []) if g.get("family")]
    l0_wanted = not on_bus or any(x["level_zero"] for x in on_bus)  # Broadwell: OpenCL only (LEGACY_PLATFORMS.md)
    if not gpu_drv_src and l0_wanted:
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
    fit, why, fix = _hardware_fit(f, pk)
    if fit != PASS:
        return fit, found + "; " + why, fix + "\nor let xpu-ops do it: " + _provision(f), ev
    old = [n for n in ("level-zero", "intel-level-zero-gpu") if pk.get(n)]
    if old:
        return (WARN, found + "; old package names %s (renamed libze1 / libze-intel-gpu1): upgrades from a newer "
                "repository conflict" % ", ".join(old),
                "sudo apt install libze1 libze-intel-gpu1   # replaces %s" % " ".join(old), ev)
    return PASS, found, "", ev
