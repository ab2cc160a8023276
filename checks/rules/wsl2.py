"""WSL2: what the GPU needs there (shown under "Host"). Skipped, with the reason, on every other host.

Windows shares the GPU with WSL2 through dxgkrnl's /dev/dxg and the libraries Windows mounts at
/usr/lib/wsl/lib; the Linux side brings the compute runtime alone. Facts: checks/wsl.py (sources there).
"""
from checks.result import FAIL, PASS, SKIP, WARN
from checks.rules import check
from checks.rules.kernel import _can_rw
from checks.wsl import WSL_LIB, version_tuple

LAYER = "Host"

# intel/compute-runtime WSL.md @0933d42d2c6d932f9a0ae40078f20841528a7be0: WSL2 support is in 21.30.20482 and
# later; the Windows host needs Windows 11 or Windows 10 21H2 and the Intel graphics driver 30.0.100.9955.
RUNTIME_MIN = (21, 30, 20482)
WINDOWS_DRIVER_MIN = (30, 0, 100, 9955)
RUNTIME_PACKAGES = ("libze-intel-gpu1", "intel-level-zero-gpu", "intel-opencl-icd")
DRIVER_URL = "https://www.intel.com/content/www/us/en/download/19344/intel-graphics-windows-dch-drivers.html"
WINDOWS_FIX = ("on Windows: install the current Intel graphics driver (%s), then in PowerShell: wsl --update; "
               "wsl --shutdown" % DRIVER_URL)
PASS_IN = ("docker run --device /dev/dxg -v /usr/lib/wsl:/usr/lib/wsl:ro -e LD_LIBRARY_PATH=/usr/lib/wsl/lib ... "
           "(Docker Desktop: the same flags; /dev/dri does not exist under WSL2)")


def _wsl2_only(fn):
    """Every check here: skipped, with the reason, on a host that is not WSL2."""
    def run(f):
        return fn(f) if f["platform"]["wsl2"] else (SKIP, "not WSL2", "", {})
    run.__name__, run.__doc__ = fn.__name__, fn.__doc__
    return run


def _in_container(f):
    return f["platform"]["container"]


@check("wsl2.dxg", "WSL2: /dev/dxg usable by the user", needs=("platform", "wsl", "user"))
@_wsl2_only
def wsl2_dxg(f):
    d, user = f["wsl"]["dxg"], f["user"]
    ev = {"dxg": d, "user": user["name"], "container": f["platform"]["container"]}
    if d is None or not d["is_char"]:
        what = "/dev/dxg is missing" if d is None else "/dev/dxg is not a character device"
        if _in_container(f):
            dri = " (/dev/dri is here, but under WSL2 the GPU is /dev/dxg)" if f["wsl"]["dev_dri"] else ""
            return (FAIL, what + " in this %s container: the GPU of WSL2 was not passed in%s" % (
                f["platform"]["container"], dri), PASS_IN, ev)
        return (FAIL, what + ": Windows shares no GPU with WSL2 (no Intel driver with WSL support on Windows, "
                "or it went away with a Windows update)", WINDOWS_FIX, ev)
    if not user.get("known"):
        return PASS, "/dev/dxg present (mode %s); user %s unknown here" % (oct(d["mode"])[2:], user["name"]), "", ev
    ok, how = _can_rw(user, d)
    if not ok:
        return (FAIL, "%s cannot open /dev/dxg read-write (mode %s, uid %s, gid %s)" % (
            user["name"], oct(d["mode"])[2:], d["uid"], d["gid"]),
            "sudo chmod 666 /dev/dxg   # dxgkrnl creates it 0666; a changed mode comes back at the next wsl --shutdown",
            ev)
    where = " (passed into this container)" if _in_container(f) else ""
    return PASS, "/dev/dxg present%s, read-write for %s (%s, mode %s)" % (
        where, user["name"], how, oct(d["mode"])[2:]), "", ev


@check("wsl2.libs", "WSL2: Windows GPU libraries and the loader path", needs=("platform", "wsl"))
@_wsl2_only
def wsl2_libs(f):
    w = f["wsl"]
    libs, ld = w["libs"], w["loader"]
    ev = {"libs": libs, "loader": ld}
    missing = [n for n in ("libdxcore.so", "libd3d12.so") if not libs.get(n)]
    if missing:
        where = "%s/%s" % (WSL_LIB, " and ".join(missing))
        if _in_container(f):
            return FAIL, "%s missing in this container: /usr/lib/wsl was not passed in" % where, PASS_IN, ev
        return (FAIL, "%s missing: the compute runtime opens %s/libdxcore.so to reach the GPU" % (where, WSL_LIB),
                WINDOWS_FIX, ev)
    found = ", ".join(n for n, ok in libs.items() if ok)
    if ld["ld_library_path"] or set(ld["cached"]) >= {"libdxcore.so", "libd3d12.so"}:
        how = "LD_LIBRARY_PATH" if ld["ld_library_path"] else "ld.so.cache via %s" % (
            ", ".join(ld["conf_files"]) or "the loader's configuration")
        return PASS, "%s in %s, found by the loader (%s)" % (found, WSL_LIB, how), "", ev
    if ld["conf_files"]:
        return (WARN, "%s is in %s but not in the loader's cache: programs that load libd3d12.so or libdxcore.so "
                "by name (Mesa d3d12, DirectML) do not find them" % (WSL_LIB, ", ".join(ld["conf_files"])),
                "sudo ldconfig", ev)
    fix = ("echo %s | sudo tee /etc/ld.so.conf.d/ld.wsl.conf && sudo ldconfig   # WSL writes this itself unless "
           "/etc/wsl.conf sets [automount] ldconfig = false" % WSL_LIB)
    if _in_container(f):
        fix = "run the container with -e LD_LIBRARY_PATH=%s, or in the image: %s" % (WSL_LIB, fix)
    return (WARN, "%s present but %s is not on the loader's path: the compute runtime still finds libdxcore.so by "
            "its full path, programs that load them by name (Mesa d3d12, DirectML) do not" % (found, WSL_LIB), fix, ev)


@check("wsl2.runtime", "WSL2: compute runtime new enough for WSL2", needs=("platform", "userspace"))
@_wsl2_only
def wsl2_runtime(f):
    pk = f["userspace"]["packages"] or {}
    name = next((n for n in RUNTIME_PACKAGES if pk.get(n)), None)
    ev = {"package": name, "version": pk.get(name) if name else None, "minimum": "21.30.20482"}
    if not name:
        return SKIP, "no Intel compute runtime package installed (see userspace)", "", ev
    v = version_tuple(pk[name], 3)
    if v is None:
        return WARN, "%s %s: version not understood" % (name, pk[name]), "", ev
    # intel-level-zero-gpu is versioned 1.3.<build>.<hotfix> beside the runtime's <yy>.<ww>.<build>.<hotfix>
    # (compute-runtime release 23.30.26918.9 ships intel-level-zero-gpu_1.3.26918.9 and intel-opencl-icd_23.30.26918.9)
    old = v[2] < RUNTIME_MIN[2] if name == "intel-level-zero-gpu" else v < RUNTIME_MIN
    if old:
        return (FAIL, "%s %s is older than 21.30.20482, the first compute runtime with WSL2 support" % (name, pk[name]),
                "install a newer compute runtime: https://github.com/intel/compute-runtime/releases", ev)
    return PASS, "%s %s (WSL2 support from 21.30.20482)" % (name, pk[name]), "", ev


@check("wsl2.driver", "WSL2: Intel driver on the Windows host", needs=("platform", "wsl"))
@_wsl2_only
def wsl2_windows_driver(f):
    w = f["wsl"]
    ev = {"drivers_dir": w["drivers_dir"], "intel_drivers": w["intel_drivers"], "minimum": "30.0.100.9955"}
    read = [d for d in w["intel_drivers"] if version_tuple(d["version"])]
    ask = ("read it on Windows: Device Manager > Display adapters > Intel > Driver, or in PowerShell: "
           "Get-CimInstance Win32_VideoController | Select Name,DriverVersion")
    if not read:
        if not w["drivers_dir"]:
            where = "/usr/lib/wsl/drivers is absent (older WSL, or not passed into this container)"
        elif not w["intel_drivers"]:
            where = "no Intel display driver folder (iigd_*) in /usr/lib/wsl/drivers"
        else:
            where = "no DriverVer or file version readable in %s" % ", ".join(d["folder"] for d in w["intel_drivers"])
        return SKIP, "Windows driver version not readable from inside WSL2: %s; needs 30.0.100.9955 or newer (%s)" % (
            where, ask), "", ev
    newest = max(read, key=lambda d: version_tuple(d["version"]))
    others = [d["version"] for d in read if d is not newest]
    desc = "Intel graphics driver %s (%s, %s)" % (newest["version"], newest["folder"], newest["source"])
    if others:
        desc += "; also in the driver store: %s" % ", ".join(others)
    if version_tuple(newest["version"]) < WINDOWS_DRIVER_MIN:
        return FAIL, desc + ": older than 30.0.100.9955, the first with WSL2 compute support", WINDOWS_FIX, ev
    return PASS, desc, "", ev
