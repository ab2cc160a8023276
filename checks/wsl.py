"""WSL2 facts: /dev/dxg, the Windows-provided libraries and their loader path, the Windows GPU driver.

Read only on request (the ``wsl`` fact of checks.engine) and only through the HostRoot. Sources:

* /dev/dxg is dxgkrnl's misc device, mode 0666 (microsoft/WSL2-Linux-Kernel drivers/hv/dxgkrnl/dxgmodule.c
  @90bdbfc4a2e4b28c3e214247d09a857bf409ccb0);
* the compute runtime opens ``/usr/lib/wsl/lib/libdxcore.so`` by that full path (intel/compute-runtime
  shared/source/dll/linux/options_linux.inl @12a683bb076c7c28bfbd00a26d2ac44fbcb99816, dxcoreDllName);
  other users (Mesa's d3d12, DirectML) load the WSL libraries by name, through the loader's path, which WSL's
  init sets with /etc/ld.so.conf.d/ld.wsl.conf and ldconfig (microsoft/WSL src/linux/init/config.cpp
  @72faf8c4a09cce02d4704ef7a308e1c1aa11000b, WINDOWS_LD_CONF_FILE);
* /usr/lib/wsl/drivers shows the Windows DriverStore's driver folders (``<name>.inf_amd64_<hash>``); the
  Intel display driver's are ``iigd_*`` (e.g. ``iigd_dch.inf_amd64_...``, as dxdiag lists them in
  microsoft/WSL#6423). Its version is the ``DriverVer`` of its .inf, else the file version of a DLL in it.
"""
import re
import stat

WSL_LIB = "/usr/lib/wsl/lib"
WSL_DRIVERS = "/usr/lib/wsl/drivers"
WSL_LIBS = ("libdxcore.so", "libd3d12.so", "libd3d12core.so")
LD_CONF = "/etc/ld.so.conf"
LD_CONF_DIR = "/etc/ld.so.conf.d"
LD_CACHE = "/etc/ld.so.cache"
INTEL_DRIVER = re.compile(r"^iigd[^.]*\.inf_amd64_", re.I)
DRIVER_VER = re.compile(r"^\s*DriverVer\s*=\s*[^,]*,\s*([0-9]+(?:\.[0-9]+){3})", re.I | re.M)
VS_FIXEDFILEINFO = b"\xbd\x04\xef\xfe"          # VS_FIXEDFILEINFO.dwSignature 0xFEEF04BD, little-endian
DLL_READ_LIMIT = 64 << 20


def version_tuple(text, parts=4):
    """'31.0.101.5081' -> (31, 0, 101, 5081); '1:22.43.24595.41-1' -> (22, 43, 24595) with parts=3."""
    if not text:
        return None
    m = re.match(r"(?:\d+:)?(\d+(?:\.\d+)*)", text.strip())
    if not m:
        return None
    nums = tuple(int(x) for x in m.group(1).split("."))
    return nums[:parts] if len(nums) >= parts else None


def _dll_version(root, path):
    """The file version in a PE file's VS_FIXEDFILEINFO (dwFileVersionMS/LS), or None."""
    data = root.read_bytes(path, DLL_READ_LIMIT)
    if not data:
        return None
    i = data.rfind(VS_FIXEDFILEINFO)
    if i < 0 or len(data) < i + 16:
        return None
    ms = int.from_bytes(data[i + 8:i + 12], "little")
    ls = int.from_bytes(data[i + 12:i + 16], "little")
    return "%d.%d.%d.%d" % (ms >> 16, ms & 0xFFFF, ls >> 16, ls & 0xFFFF)


def _driver(root, name):
    folder = WSL_DRIVERS + "/" + name
    files = root.listdir(folder)
    for f in files:
        if f.lower().endswith(".inf"):
            m = DRIVER_VER.search(root.read(folder + "/" + f, 65536) or "")
            if m:
                return {"folder": name, "version": m.group(1), "source": f + " DriverVer"}
    for f in sorted((f for f in files if f.lower().endswith(".dll")), key=lambda f: not f.lower().startswith("igd")):
        v = _dll_version(root, folder + "/" + f)
        if v:
            return {"folder": name, "version": v, "source": f + " file version"}
    return {"folder": name, "version": None, "source": None}


def _loader(root, env):
    confs = []
    for path in [LD_CONF] + [LD_CONF_DIR + "/" + n for n in root.listdir(LD_CONF_DIR) if n.endswith(".conf")]:
        lines = [ln.split("#", 1)[0].strip() for ln in (root.read(path, 65536) or "").splitlines()]
        if WSL_LIB in lines or WSL_LIB + "/" in lines:
            confs.append(path)
    cache = root.read_bytes(LD_CACHE, 32 << 20) or b""
    llp = (env or {}).get("LD_LIBRARY_PATH", "") if root.is_real else ""
    return {"conf_files": confs,
            "cached": [n for n in WSL_LIBS if (WSL_LIB + "/" + n).encode() + b"\0" in cache],
            "cache_read": bool(cache),
            "ld_library_path": WSL_LIB in [p.rstrip("/") for p in llp.split(":")]}


def wsl_facts(root, env=None):
    st = root.stat("/dev/dxg")
    dxg = None
    if st is not None:
        dxg = {"is_char": stat.S_ISCHR(st.st_mode), "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid,
               "gid": st.st_gid, "node": "/dev/dxg"}
    drivers = root.listdir(WSL_DRIVERS)
    intel = [_driver(root, d) for d in drivers if INTEL_DRIVER.match(d)]
    return {
        "dxg": dxg,
        "wsl_dir": root.is_dir("/usr/lib/wsl"),
        "libs": {n: root.exists(WSL_LIB + "/" + n) for n in WSL_LIBS},
        "loader": _loader(root, env),
        "drivers_dir": root.is_dir(WSL_DRIVERS),
        "drivers": drivers[:40],
        "intel_drivers": intel,
        "dev_dri": root.is_dir("/dev/dri"),
    }
