"""Gather host facts once, through one HostRoot; checks never re-read the host.

The slow facts (the torch child process, HTTP to XPU Manager) start first and run
concurrently with the sysfs reads. Every fact is plain JSON-able data: it is the
evidence the report carries.
"""
import os
import re
import stat

from checks import families

DRM_MAJOR = 226
GPU_CLASS_PREFIX = 0x03
BRIDGE_CLASS = 0x0604
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib", "/opt/intel/oneapi/lib")
PACKAGES_OF_INTEREST = (
    "libze1", "level-zero", "libze-intel-gpu1", "intel-level-zero-gpu", "intel-opencl-icd",
    "libigdgmm12", "intel-media-va-driver", "intel-media-va-driver-non-free", "clinfo",
    "intel-gpu-tools", "vainfo", "xpumanager", "xpu-smi", "libxpum2", "intel-i915-dkms", "intel-fw-gpu",
    "firmware-misc-nonfree", "firmware-intel-graphics", "linux-firmware", "intel-gsc", "libigsc1",
    # Gen8-Gen11 compute runtime after 24.35: Intel's release packages and Debian's (compute-runtime
    # LEGACY_PLATFORMS.md; Debian source intel-compute-runtime-legacy)
    "intel-opencl-icd-legacy1", "intel-level-zero-gpu-legacy1", "intel-opencl-icd-legacy", "libze-intel-gpu-legacy1-1",
)
FW_LOG_PATTERN = (r"\b(i915|xe)\b.*\b(GuC|HuC|DMC|GSC|firmware)\b.*"
                  r"\b(fail|failed|error|missing|not found|-2)\b")  # compiled where used


class FactError(Exception):
    """A fact cannot be gathered because the input is unusable (a usage/config error, exit 2)."""


def _int(text, base=16):
    if text is None:
        return None
    try:
        return int(text.strip(), base)
    except ValueError:
        return None


def _speed(text):
    """'16.0 GT/s PCIe' -> 16.0; None for unknown."""
    if not text:
        return None
    m = re.match(r"\s*([0-9.]+)\s*GT/s", text)
    return float(m.group(1)) if m else None


# ---------------------------------------------------------------- platform


def platform_facts(root):
    osr = {}
    text = root.read("/etc/os-release") or root.read("/usr/lib/os-release") or ""
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            osr[k.strip()] = v.strip().strip('"')
    release = root.read_line("/proc/sys/kernel/osrelease")
    dxg = root.is_char_device("/dev/dxg") if root.lexists("/dev/dxg") else False
    # /dev/dxg is dxgkrnl's, a driver of Microsoft's WSL2 kernels only (torvalds/linux drivers/hv has none,
    # Makefile @688d794c4c3f8b08c814381ee2edd3ede5856056): WSL2 whatever the release string says
    wsl = bool(release and "microsoft-standard-wsl2" in release.lower()) or dxg
    container = None
    if root.exists("/.dockerenv"):
        container = "docker"
    elif root.exists("/run/.containerenv"):
        container = "podman"
    else:
        cg = root.read("/proc/1/cgroup", 65536) or ""
        if re.search(r"/(docker|libpod|kubepods|lxc)[-/]", cg):
            container = "container"
        else:   # systemd as PID 1 writes $container here (systemd src/basic/virt.c, commit 0099e558): nspawn, LXC
            container = root.read_line("/run/systemd/container") or None
    return {
        "os_id": osr.get("ID"),
        "os_version": osr.get("VERSION_ID"),
        "os_codename": osr.get("VERSION_CODENAME"),
        "os_pretty": osr.get("PRETTY_NAME"),
        "kernel": release,
        "wsl2": wsl,
        "dxg": dxg,
        "wsl_lib": root.is_dir("/usr/lib/wsl/lib"),
        "wsl_libs": root.listdir("/usr/lib/wsl/lib")[:20],
        "container": container,
        "proc_modules": root.exists("/proc/modules"),
        "systemd": root.is_dir("/run/systemd/system"),
    }


def kernel_version_tuple(release):
    m = re.match(r"(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


# ---------------------------------------------------------------- PCI


def _link(root, dev_path):
    cur_s = _speed(root.read_line(dev_path + "/current_link_speed"))
    max_s = _speed(root.read_line(dev_path + "/max_link_speed"))
    cur_w = _int(root.read_line(dev_path + "/current_link_width"), 10)
    max_w = _int(root.read_line(dev_path + "/max_link_width"), 10)
    if cur_s is None and cur_w is None:
        return None
    return {"current_speed": cur_s, "max_speed": max_s, "current_width": cur_w, "max_width": max_w}


def _bars(root, dev_path):
    """BAR sizes in bytes from the PCI `resource` file (first 6 lines are BAR0..5)."""
    text = root.read(dev_path + "/resource", 8192)
    if text is None:
        return None
    sizes = []
    for line in text.splitlines()[:6]:
        parts = line.split()
        if len(parts) < 2:
            return None
        try:
            start, end = int(parts[0], 16), int(parts[1], 16)
        except ValueError:
            return None
        sizes.append(end - start + 1 if end > start else 0)
    return sizes


def _ancestors(sys_path):
    """PCI BDFs above a device in its /sys/devices path, root first."""
    return [c for c in sys_path.split("/") if re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", c)][:-1]


def pci_facts(root):
    devices = []
    problems = []
    base = "/sys/bus/pci/devices"
    if not root.is_dir(base):
        return {"present": False, "devices": [], "problems": ["%s is missing" % base]}
    for bdf in root.listdir(base):
        p = base + "/" + bdf
        vendor = _int(root.read_line(p + "/vendor"))
        device = _int(root.read_line(p + "/device"))
        klass = _int(root.read_line(p + "/class"))
        if vendor is None or device is None or klass is None:
            problems.append("%s: unreadable or garbled vendor/device/class in sysfs" % bdf)
            continue
        if (klass >> 16) != GPU_CLASS_PREFIX and klass >> 8 != BRIDGE_CLASS and vendor != families.INTEL:
            continue
        sys_path = root.resolve(p) or p
        drv = None
        drv_state = "none"
        if root.lexists(p + "/driver"):
            target = root.readlink(p + "/driver") or ""
            drv = os.path.basename(target.rstrip("/")) or None
            drv_state = "bound" if root.link_target_exists(p + "/driver") else "dangling"
        devices.append({
            "bdf": bdf, "vendor_id": vendor, "device_id": device, "class": klass,
            "sys_path": sys_path, "driver": drv, "driver_state": drv_state,
            "link": _link(root, p), "bars": _bars(root, p),
            "ancestors": _ancestors(sys_path),
            "boot_vga": root.read_line(p + "/boot_vga"),
        })
    by_bdf = {d["bdf"]: d for d in devices}
    gpus, others = [], []
    for d in devices:
        if d["class"] >> 16 != GPU_CLASS_PREFIX:
            continue
        if d["vendor_id"] == families.INTEL:
            gpus.append(d)
        else:
            others.append({k: d[k] for k in ("bdf", "vendor_id", "device_id", "class", "driver")})
    names = families.pci_names(root, [g["device_id"] for g in gpus])
    for g in gpus:
        fam = families.family_of(g["device_id"])
        g["family"] = fam["id"] if fam else None
        g["family_name"] = fam["name"] if fam else "unknown Intel GPU"
        g["kind"] = fam["kind"] if fam else ("integrated" if g["bdf"].endswith(":00:02.0") else "unknown")
        g["name"] = names.get(g["device_id"]) or (fam["name"] if fam else "Intel GPU 0x%04x" % g["device_id"])
        g["name_source"] = "pci.ids" if g["device_id"] in names else "family table"
        g["upstream_link"] = _upstream_link(g, by_bdf)
        g["vram"] = _vram(root, base + "/" + g["bdf"])
    intel_nongpu = [d["bdf"] for d in devices
                    if d["vendor_id"] == families.INTEL and d["class"] >> 16 != GPU_CLASS_PREFIX]
    return {"present": True, "gpus": gpus, "other_display": others,
            "intel_non_gpu": intel_nongpu, "problems": problems}


def _vram(root, dev_path):
    """The card's VRAM as its driver reports it: xe, the sum of tileN/physical_vram_size_bytes
    (xe_tile_sysfs.c, "%llu"); the out-of-tree i915, drm/cardN/lmem_total_bytes. None when neither
    (integrated GPUs, no driver bound, in-tree i915)."""
    total, sources = 0, []
    for name in root.listdir(dev_path):
        if re.fullmatch(r"tile\d+", name):
            v = _int(root.read_line("%s/%s/physical_vram_size_bytes" % (dev_path, name)), 10)
            if v:
                total, sources = total + v, sources + ["%s/physical_vram_size_bytes" % name]
    if not sources:
        for card in root.listdir(dev_path + "/drm"):
            if re.fullmatch(r"card\d+", card):
                v = _int(root.read_line("%s/drm/%s/lmem_total_bytes" % (dev_path, card)), 0)
                if v:
                    total, sources = v, ["drm/%s/lmem_total_bytes" % card]
                    break
    return {"bytes": total, "source": sources} if sources else None


def _upstream_link(gpu, by_bdf):
    """The link that limits a discrete card: on Arc/Flex/Max the GPU sits behind the card's own
    PCIe switch, whose upstream port (just below the root port) carries the real slot link."""
    anc = gpu["ancestors"]
    if len(anc) >= 2:
        up = by_bdf.get(anc[1])
        if up and up["vendor_id"] == families.INTEL and up["class"] >> 8 == BRIDGE_CLASS and up["link"]:
            root_port = by_bdf.get(anc[0])
            return {"bdf": up["bdf"], "link": up["link"],
                    "slot_max_speed": (root_port or {}).get("link", {}) and root_port["link"]["max_speed"],
                    "slot_max_width": (root_port or {}).get("link", {}) and root_port["link"]["max_width"]}
    return {"bdf": gpu["bdf"], "link": gpu["link"], "slot_max_speed": None, "slot_max_width": None}


# ---------------------------------------------------------------- modules, DRM


def module_facts(root):
    mods = set(root.listdir("/sys/module"))
    proc = root.read("/proc/modules")
    loaded = {line.split()[0] for line in proc.splitlines() if line.strip()} if proc else None
    release = root.read_line("/proc/sys/kernel/osrelease") or ""
    dkms = {}
    for name in ("i915", "xe"):
        d = "/lib/modules/%s/updates/dkms" % release
        dkms[name] = any(f.split(".ko")[0] == name for f in root.listdir(d)) if release else False
    return {
        "sys_module": sorted(m for m in mods if m in ("i915", "xe", "drm", "nvidia", "amdgpu", "virtio_gpu",
                                                        "vfio_pci", "intel_vsec", "mei_gsc")),
        "proc_modules": sorted(loaded & {"i915", "xe", "drm"}) if loaded is not None else None,
        "dkms": dkms,
    }


def _dev_numbers(text):
    if not text or ":" not in text:
        return None
    a, b = text.strip().split(":", 1)
    try:
        return int(a), int(b)
    except ValueError:
        return None


def drm_facts(root, gpus):
    """For each GPU: its cardN/renderD* in sysfs and the matching /dev/dri nodes."""
    entries = []
    for name in root.listdir("/sys/class/drm"):
        if not re.fullmatch(r"(card|renderD)\d+", name):
            continue
        p = "/sys/class/drm/" + name
        dev_link = root.resolve(p + "/device")
        entries.append({"name": name, "device": dev_link, "dev": _dev_numbers(root.read_line(p + "/dev"))})
    by_path_dir = root.listdir("/dev/dri/by-path")
    out = {}
    for g in gpus:
        mine = [e for e in entries if e["device"] and e["device"] == g["sys_path"]]
        nodes = []
        for e in sorted(mine, key=lambda e: e["name"]):
            node = "/dev/dri/" + e["name"]
            st = root.stat(node)
            info = {"name": e["name"], "kind": "render" if e["name"].startswith("renderD") else "card",
                    "sysfs_dev": e["dev"], "node": node, "exists": st is not None}
            if st is not None:
                info.update({
                    "is_char": stat.S_ISCHR(st.st_mode),
                    "rdev": (os.major(st.st_rdev), os.minor(st.st_rdev)) if stat.S_ISCHR(st.st_mode) else None,
                    "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                })
            nodes.append(info)
        links = [x for x in by_path_dir if x.startswith("pci-%s-" % g["bdf"])]
        out[g["bdf"]] = {"nodes": nodes, "by_path": links}
    return out


# ---------------------------------------------------------------- users


def _parse_colon_file(text, min_fields):
    rows = []
    for line in (text or "").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= min_fields:
            rows.append(parts)
    return rows


def read_groups(root):
    """/etc/group of the root as rows [name, password, gid, members]."""
    return _parse_colon_file(root.read("/etc/group"), 4)


def group_names(groups):
    """gid -> name from read_groups' rows; the first line of a gid wins, as getgrgid(3) answers."""
    names = {}
    for g in groups:
        gid = _int(g[2], 10)
        if gid is not None:
            names.setdefault(gid, g[0])
    return names


def user_facts(root, user=None):
    passwd = _parse_colon_file(root.read("/etc/passwd"), 7)
    groups = read_groups(root)
    if user is None:
        uid = os.getuid()
        sudo_user = os.environ.get("SUDO_USER") if uid == 0 else None
        if sudo_user:
            user = sudo_user
        else:
            match = [p for p in passwd if _int(p[2], 10) == uid]
            user = match[0][0] if match else (os.environ.get("USER") or os.environ.get("LOGNAME") or str(uid))
        explicit = False
    else:
        explicit = True
    entry = next((p for p in passwd if p[0] == user), None)
    if entry is None:
        if explicit:
            raise FactError("user '%s' not found in %s" % (user, root.path("/etc/passwd")))
        return {"name": user, "uid": None, "gid": None, "groups": [], "gids": [], "known": False,
                "group_names": group_names(groups)}
    uid, gid = _int(entry[2], 10), _int(entry[3], 10)
    # a group whose gid is not a number (a damaged or hostile --root) is left out: it names no gid
    groups = [g for g in groups if _int(g[2], 10) is not None]
    member = [g for g in groups if user in g[3].split(",") or (gid is not None and _int(g[2], 10) == gid)]
    session_gids = None
    if root.is_real and uid == os.getuid():
        session_gids = sorted(set(os.getgroups()) | {os.getgid()})
    return {
        "name": user, "uid": uid, "gid": gid, "known": True,
        "groups": sorted(g[0] for g in member), "gids": sorted({_int(g[2], 10) for g in member}),
        "session_gids": session_gids,
        "group_names": group_names(groups),
    }


# ---------------------------------------------------------------- firmware, kernel log


# the kernel's search order (drivers/base/firmware_loader/main.c fw_path[]; firmware_class.path aside)
FW_DIRS = ("/lib/firmware/updates/{release}", "/lib/firmware/updates", "/lib/firmware/{release}", "/lib/firmware")
FW_EXTS = ("", ".zst", ".xz")


def _find_blob(root, name, release, listings):
    """Where the kernel would find firmware `name` ('i915/pvc_guc_70.*.bin': any version), in its
    search order; [] when nowhere."""
    sub, _, base = name.rpartition("/")
    found = []
    for d in FW_DIRS:
        if "{release}" in d and not release:
            continue
        folder = d.format(release=release) + ("/" + sub if sub else "")
        if "*" in base:
            if folder not in listings:
                listings[folder] = root.listdir(folder)
            pat = re.compile(re.escape(base).replace(r"\*", "[0-9A-Za-z._-]+") + r"(\.zst|\.xz)?$")
            found += [folder + "/" + f for f in listings[folder] if pat.match(f)]
        else:
            found += [folder + "/" + base + ext for ext in FW_EXTS if root.exists(folder + "/" + base + ext)]
    return found


def firmware_facts(root, family_keys):
    present = {}
    release = root.read_line("/proc/sys/kernel/osrelease") or ""
    dkms_i915 = bool(release) and any(f.split(".ko")[0] == "i915"
                                      for f in root.listdir("/lib/modules/%s/updates/dkms" % release))
    listings = {}
    for key in sorted(family_keys):
        fam = families.family_by_key(key)
        if not fam:
            continue
        variant = families.firmware_variant(fam, dkms_i915)
        kinds = {}
        for kind, candidates in (fam["firmware"].get(variant) or {}).items():
            found = []
            for cand in candidates:
                found += _find_blob(root, cand, release, listings)
            kinds[kind] = {"candidates": candidates, "found": found, "variant": variant}
        present[key] = kinds
    log_lines = []
    log_source = None
    if not family_keys:  # no firmware list to compare against (the check skips): the log is not needed
        return {"blobs": present, "log_source": log_source, "log_errors": log_lines}
    fw_log = re.compile(FW_LOG_PATTERN, re.I)
    for src in ("/var/log/kern.log", "/var/log/dmesg"):
        text = root.read(src, 4 << 20)
        if text is not None:
            log_source = src
            log_lines = [line.strip() for line in text.splitlines() if fw_log.search(line)][-10:]
            break
    if log_source is None and root.is_real:
        log_source, log_lines = _kmsg(fw_log)
    return {"blobs": present, "log_source": log_source, "log_errors": log_lines}


def _kmsg(fw_log):
    """Firmware errors from /dev/kmsg (non-blocking, bounded); (None, []) when unreadable."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None, []
    hits = []
    try:
        for _ in range(20000):
            try:
                rec = os.read(fd, 8192).decode("utf-8", "replace")
            except BlockingIOError:
                break
            except OSError:
                continue
            msg = rec.split(";", 1)[-1].strip()
            if fw_log.search(msg):
                hits.append(msg)
    finally:
        os.close(fd)
    return "/dev/kmsg", hits[-10:]


# ---------------------------------------------------------------- user space


def dpkg_packages(root, names=PACKAGES_OF_INTEREST):
    data = root.read_bytes("/var/lib/dpkg/status", 64 << 20)
    if data is None:
        return None
    want = set(names)
    out = {}
    lead = len(data) - len(data.lstrip(b"\n"))
    starts = [lead] if lead < 2 and data.startswith(b"Package: ", lead) else []
    i = data.find(b"\n\nPackage: ")
    while i >= 0:  # the stanzas' first lines; only the wanted stanzas are decoded (the file holds every package)
        starts.append(i + 2)
        i = data.find(b"\n\nPackage: ", i + 2)
    for start in starts:
        eol = data.find(b"\n", start)
        if data[start + 9:eol if eol >= 0 else None].decode("utf-8", "replace").strip() not in want:
            continue
        end = data.find(b"\n\n", start)
        fields = {}
        for line in data[start:end if end >= 0 else None].decode("utf-8", "replace").splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, v = line.split(":", 1)
                fields[k] = v.strip()
        if fields.get("Status", "").endswith(" installed"):
            out[fields["Package"]] = fields.get("Version")
    return out


def userspace_facts(root):
    libs = {}
    for lib in ("libze_loader.so.1", "libze_intel_gpu.so.1", "libigdrcl.so", "libOpenCL.so.1"):
        libs[lib] = next((d + "/" + lib for d in LIB_DIRS if root.exists(d + "/" + lib)), None)
    icds = {}
    for name in root.listdir("/etc/OpenCL/vendors"):
        if name.endswith(".icd"):
            icds[name] = (root.read_line("/etc/OpenCL/vendors/" + name) or "")[:200]
    return {"packages": dpkg_packages(root), "libraries": libs, "icds": icds}


# ---------------------------------------------------------------- slow probes, concurrently


class Background:
    """Run a callable in a thread; `.result()` waits for it. Exceptions become {'error': ...}.

    A bare `_thread` thread (daemonic, like threading's daemon=True): verify needs no more, and importing
    `threading` would cost each run about 1 ms."""

    def __init__(self, fn, *args, **kwargs):
        import _thread
        self._value = None
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _thread.start_new_thread(self._run, (fn, args, kwargs))

    def _run(self, fn, args, kwargs):
        try:
            self._value = fn(*args, **kwargs)
        except Exception as e:  # a fact must never take verify down
            self._value = {"error": {"kind": "internal", "message": "%s: %s" % (type(e).__name__, e)}}
        finally:
            self._done.release()

    def result(self, timeout=None):
        if self._done.acquire(timeout=-1 if timeout is None else timeout):
            self._done.release()
        return self._value
