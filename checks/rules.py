"""The checks: small pure functions, facts in, result out. Find one by its id.

Each returns (status, detail, remedy, evidence). Remedies are commands a person can paste.
"""
from checks import families
from checks.facts import DRM_MAJOR, kernel_version_tuple
from checks.result import FAIL, PASS, SKIP, WARN, check, worst

def _provision(f, extra=""):
    """The xpu-ops command that fixes it, naming this host as the control host knows it."""
    return "invoke provision --host %s%s" % (f.get("host_name") or "localhost", extra)


def _xpum_install(f):
    return ("install XPU Manager (optional; Flex/Max: package xpumanager, Arc B: xpumanager >= 1.3.2, "
            "Arc Pro: xpu-smi 2.x): " + _provision(f, " --tags xpumanager"))
XPUM_NATIVE_CA = "/usr/lib/xpum/rest/conf/cert.pem"


def _gpus(f):
    return f["pci"].get("gpus", [])


def _skip_reason(f, need_gpu=True, xpum=False):
    """Why a check does not apply here, or None."""
    if f["platform"]["wsl2"]:
        if xpum:
            return "WSL2: XPU Manager does not support WSL2 (no WSL in any upstream supported-OS list)"
        return "WSL2: the GPU is reached through /dev/dxg, not i915/xe and /dev/dri (see platform)"
    if need_gpu and not _gpus(f):
        return "no Intel GPU (see pci.gpu)"
    return None


def _os_key(p):
    return "%s-%s" % (p.get("os_id") or "?", (p.get("os_version") or "?").split(".")[0])


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


def _firmware_fix(p, fam_keys):
    k = _os_key(p)
    if {"max", "flex"} & set(fam_keys):
        cmd = "sudo apt install intel-fw-gpu   # from Intel's GPU repository (data center GPUs)"
    elif k == "debian-12":
        cmd = ("sudo sed -i 's/^Components: main.*/Components: main non-free-firmware/' "
               "/etc/apt/sources.list.d/debian.sources && sudo apt update && sudo apt install firmware-misc-nonfree")
    elif k.startswith("debian-"):
        cmd = "sudo apt install firmware-intel-graphics   # needs the non-free-firmware component"
    else:
        cmd = "sudo apt install linux-firmware"
    return cmd + "\nsudo update-initramfs -u && sudo reboot"


# ---------------------------------------------------------------- platform


@check("platform", "Platform (OS, kernel, WSL2, container)", "Host")
def platform(f):
    p = f["platform"]
    desc = "%s, kernel %s" % (p.get("os_pretty") or "unknown OS", p.get("kernel") or "unknown")
    ev = {k: p[k] for k in ("os_id", "os_version", "kernel", "wsl2", "dxg", "wsl_lib", "container",
                            "proc_modules", "systemd")}
    if p["container"]:
        desc += ", inside a %s container" % p["container"]
    if p["wsl2"]:
        desc += ", WSL2"
        missing = []
        if not p["dxg"]:
            missing.append("/dev/dxg")
        if not p["wsl_lib"]:
            missing.append("/usr/lib/wsl/lib")
        if missing:
            return (FAIL, desc + ": %s missing, so WSL2 has no GPU paravirtualization" % " and ".join(missing),
                    "update the Intel GPU driver on the Windows host, then in PowerShell: wsl --update; "
                    "wsl --shutdown", ev)
        return PASS, desc + ": /dev/dxg and /usr/lib/wsl/lib present (user space only)", "", ev
    if p.get("os_id") not in ("debian", "ubuntu"):
        return (WARN, desc + ": xpu-ops provisions and supports Debian 12/13 and Ubuntu 22.04/24.04 only",
                "use Debian 12/13 or Ubuntu 22.04/24.04 for a supported Intel GPU stack", ev)
    return PASS, desc, "", ev


# ---------------------------------------------------------------- PCI


def _fmt_gpu(g):
    return "%s [8086:%04x] at %s" % (g["name"], g["device_id"], g["bdf"])


@check("pci.gpu", "Intel GPU on the PCI bus", "Host")
def pci_gpu(f):
    pci = f["pci"]
    gpus = _gpus(f)
    ev = {"gpus": [{k: g[k] for k in ("bdf", "device_id", "family", "name", "name_source", "kind")} for g in gpus],
          "other_display": pci.get("other_display", []), "intel_non_gpu": pci.get("intel_non_gpu", []),
          "problems": pci.get("problems", [])}
    if f["platform"]["wsl2"]:
        return (SKIP, "WSL2: Windows shares the GPU through /dev/dxg (a Microsoft vPCI function, 1414:008e), "
                "so no Intel PCI function is visible here", "", ev)
    if not pci.get("present"):
        return (FAIL, "no PCI bus in sysfs (/sys/bus/pci/devices missing): is /sys mounted?",
                "sudo mount -t sysfs sysfs /sys", ev)
    if not gpus:
        bits = ["no Intel GPU (vendor 0x8086, display class 0x03xxxx) on the PCI bus"]
        if pci.get("other_display"):
            bits.append("display devices found: " + ", ".join(
                "%04x:%04x at %s (%s)" % (d["vendor_id"], d["device_id"], d["bdf"], d["driver"] or "no driver")
                for d in pci["other_display"]))
        if pci.get("intel_non_gpu"):
            bits.append("Intel devices that are not GPUs: " + ", ".join(pci["intel_non_gpu"][:6]))
        remedy = ("check the card is seated and powered, enabled in firmware setup (UEFI: primary display/iGPU "
                  "enabled), and for a VM passed through to it; then: lspci -nn -d 8086::0300")
        return FAIL, "; ".join(bits), remedy, ev
    status, notes, remedies = PASS, [], []
    for g in gpus:
        line = _fmt_gpu(g) + " (%s)" % g["family_name"]
        if g["kind"] == "discrete":
            up = g.get("upstream_link") or {}
            link = up.get("link")
            if link and link.get("current_speed") and link.get("max_speed"):
                max_s = min(x for x in (link["max_speed"], up.get("slot_max_speed")) if x)
                max_w = min(x for x in (link.get("max_width"), up.get("slot_max_width")) if x) \
                    if link.get("max_width") else None
                if link["current_speed"] < max_s or (max_w and link["current_width"] and link["current_width"] < max_w):
                    status = worst([status, WARN])
                    line += "; PCIe link degraded: %.1f GT/s x%s, capable of %.1f GT/s x%s (at %s)" % (
                        link["current_speed"], link["current_width"], max_s, max_w, up["bdf"])
                    remedies.append("reseat the card in a x16 slot wired to the CPU, check risers and BIOS PCIe "
                                    "settings; the link can drop to save power when idle, so re-check under load: "
                                    "sudo lspci -vv -s %s | grep -i lnksta" % up["bdf"])
            bars = g.get("bars")
            if bars and len(bars) > 2 and 0 < bars[2] < (1 << 30):
                status = worst([status, WARN])
                line += "; Resizable BAR off (BAR2 %d MiB)" % (bars[2] >> 20)
                remedies.append("enable 'Above 4G Decoding' and 'Re-Size BAR Support' in the UEFI setup "
                                "(the xe driver refuses to start without Resizable BAR; i915 runs slowly)")
        if g["family"] is None:
            status = worst([status, WARN])
            line += "; device id not in xpu-ops' family table (newer than this release?)"
            remedies.append("update xpu-ops; expected driver unknown for 0x%04x" % g["device_id"])
        notes.append(line)
    if pci.get("other_display"):
        notes.append("also: " + ", ".join("%04x:%04x at %s" % (d["vendor_id"], d["device_id"], d["bdf"])
                                           for d in pci["other_display"]))
    return status, "; ".join(notes), "\n".join(remedies), ev


# ---------------------------------------------------------------- kernel driver


def _force_probe_fix(drv, device_id):
    return ("sudo sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT=\"/&%s.force_probe=%04x /' /etc/default/grub && "
            "sudo update-grub && sudo reboot" % (drv, device_id))


@check("kernel.driver", "Kernel driver (i915/xe) bound", "Kernel")
def kernel_driver(f):
    why = _skip_reason(f)
    if why:
        return SKIP, why, "", {}
    kv = kernel_version_tuple(f["platform"].get("kernel"))
    mods = f["modules"]
    statuses, notes, remedies, ev = [], [], [], {"modules": mods, "kernel": f["platform"].get("kernel"), "gpus": []}
    for g in _gpus(f):
        fam = families.family_of(g["device_id"])
        expected = fam["driver"] if fam else "i915"
        min_k = tuple(int(x) for x in fam["min_kernel"].split(".")) if fam else None
        ev["gpus"].append({"bdf": g["bdf"], "driver": g["driver"], "driver_state": g["driver_state"],
                           "expected": expected})
        where = "%s (%s)" % (g["bdf"], g["name"])
        if g["driver_state"] == "dangling":
            statuses.append(FAIL)
            notes.append("%s: its driver link points at '%s', which does not exist" % (where, g["driver"]))
            remedies.append("the driver was unbound or the tree is broken: sudo modprobe -r %s; sudo modprobe %s "
                            "(or reboot)" % (expected, expected))
            continue
        if g["driver_state"] == "none":
            statuses.append(FAIL)
            loaded = expected in mods["sys_module"]
            msg = "%s: no kernel driver bound (%s module %s)" % (
                where, expected, "loaded, but it did not claim the device" if loaded else "not loaded")
            if min_k and kv and kv < min_k:
                msg += "; kernel %s is older than %s, the first to support %s" % (
                    f["platform"]["kernel"], fam["min_kernel"], fam["name"])
                remedies.append("install a newer kernel (Debian 12: sudo apt install -t bookworm-backports "
                                "linux-image-amd64; Ubuntu: the HWE kernel) and reboot; or try "
                                + _force_probe_fix(expected, g["device_id"]))
            elif fam and fam["dkms"]:
                remedies.append("Intel supports %s with the out-of-tree i915 only: sudo apt install "
                                "linux-headers-$(uname -r) intel-i915-dkms intel-fw-gpu && sudo reboot"
                                % fam["name"])
            elif expected == "xe" and loaded and g.get("bars") and len(g["bars"]) > 2 and 0 < g["bars"][2] < (1 << 30):
                msg += "; Resizable BAR is off, and xe refuses to start without it"
                remedies.append("enable 'Above 4G Decoding' and 'Re-Size BAR Support' in the UEFI setup, then "
                                "reboot (see pci.gpu)")
            elif not loaded:
                remedies.append("sudo modprobe %s && sudo dmesg | grep -iE '%s|drm' | tail -20   "
                                "# if it is blacklisted: grep -r %s /etc/modprobe.d" % (expected, expected, expected))
            else:
                remedies.append("read why %s refused it: sudo dmesg | grep -iE '%s|%s' | tail -20; "
                                "if it wants force_probe: %s" % (expected, expected, g["bdf"],
                                                                 _force_probe_fix(expected, g["device_id"])))
            notes.append(msg)
            continue
        drv = g["driver"]
        if drv == expected:
            note = "%s: %s bound" % (where, drv)
            st = PASS
            if fam and fam["dkms"] and not mods["dkms"].get(drv):
                st = WARN
                note += ", but the in-tree module; Intel validates %s only with intel-i915-dkms" % fam["name"]
                remedies.append("sudo apt install linux-headers-$(uname -r) intel-i915-dkms intel-fw-gpu && "
                                "sudo reboot   # from Intel's GPU repository")
            elif fam and kv and min_k and kv < min_k:
                st = WARN
                note += " on kernel %s, older than %s recommended for %s" % (
                    f["platform"]["kernel"], fam["min_kernel"], fam["name"])
                remedies.append("upgrade the kernel to %s or newer" % fam["min_kernel"])
            statuses.append(st)
            notes.append(note)
        elif drv in ("vfio-pci", "pci-stub"):
            statuses.append(WARN)
            notes.append("%s: bound to %s (reserved for passthrough to a VM), not %s" % (where, drv, expected))
            remedies.append("if this host should use it: echo %s | sudo tee /sys/bus/pci/devices/%s/driver/unbind "
                            "&& sudo modprobe %s" % (g["bdf"], g["bdf"], expected))
        elif drv in ("i915", "xe"):
            statuses.append(WARN)
            notes.append("%s: bound to %s; %s is the driver Intel supports for %s" % (
                where, drv, expected, fam["name"] if fam else "it"))
            remedies.append("remove %s.force_probe from the kernel command line (cat /proc/cmdline) unless you "
                            "test %s on purpose" % (drv, drv))
        else:
            statuses.append(FAIL)
            notes.append("%s: bound to %s, not %s" % (where, drv, expected))
            remedies.append("unbind %s and load %s: sudo modprobe %s" % (drv, expected, expected))
    if mods["proc_modules"] is None:
        notes.append("(no /proc/modules on this kernel: module state read from /sys/module)")
    return worst(statuses), "; ".join(notes), "\n".join(remedies), ev


# ---------------------------------------------------------------- DRM nodes and access


@check("dri.nodes", "DRM nodes (/dev/dri card and render)", "Kernel")
def dri_nodes(f):
    why = _skip_reason(f)
    if why:
        return SKIP, why, "", {}
    bound = [g for g in _gpus(f) if g["driver_state"] == "bound"]
    if not bound:
        return SKIP, "no GPU has a driver bound (see kernel.driver)", "", {}
    statuses, notes, remedies, ev = [], [], [], {}
    for g in bound:
        d = f["drm"].get(g["bdf"], {"nodes": [], "by_path": []})
        ev[g["bdf"]] = d
        kinds = {n["kind"] for n in d["nodes"]}
        problems = []
        if "card" not in kinds:
            problems.append("no cardN in /sys/class/drm")
        if "render" not in kinds:
            problems.append("no renderD* node in /sys/class/drm (compute needs it)")
        for n in d["nodes"]:
            if not n["exists"]:
                problems.append("%s missing" % n["node"])
            elif not n.get("is_char"):
                problems.append("%s is not a character device" % n["node"])
            elif n["sysfs_dev"] and n["rdev"] != tuple(n["sysfs_dev"]):
                problems.append("%s is %d:%d but sysfs says %d:%d" % ((n["node"],) + tuple(n["rdev"])
                                                                       + tuple(n["sysfs_dev"])))
            elif n["rdev"] and n["rdev"][0] != DRM_MAJOR:
                problems.append("%s has major %d, not %d (DRM)" % (n["node"], n["rdev"][0], DRM_MAJOR))
        names = ", ".join(n["node"] for n in d["nodes"]) or "none"
        if problems:
            statuses.append(FAIL)
            notes.append("%s: %s" % (g["bdf"], "; ".join(problems)))
            if "render" not in kinds or "card" not in kinds:
                remedies.append("the %s driver bound %s but created no node: sudo dmesg | grep -iE '%s|drm' | tail; "
                                "for xe check Resizable BAR (see pci.gpu)" % (g["driver"], g["bdf"], g["driver"]))
            else:
                remedies.append("recreate the nodes: sudo udevadm trigger --subsystem-match=drm && "
                                "sudo udevadm settle; inside a container pass them: --device /dev/dri")
            continue
        if not d["by_path"]:
            statuses.append(WARN)
            notes.append("%s: %s, but no /dev/dri/by-path links (is udev running?)" % (g["bdf"], names))
            remedies.append("sudo udevadm trigger --subsystem-match=drm && sudo udevadm settle")
            continue
        statuses.append(PASS)
        notes.append("%s: %s" % (g["bdf"], names))
    return worst(statuses), "; ".join(notes), "\n".join(remedies), ev


def _can_rw(user, node):
    if user["uid"] == 0:
        return True, "root"
    mode = node["mode"]
    if node["uid"] == user["uid"] and mode & 0o600 == 0o600:
        return True, "owner"
    if node["gid"] in user["gids"] and mode & 0o060 == 0o060:
        return True, "group"
    if mode & 0o006 == 0o006:
        return True, "other"
    return False, None


@check("dri.access", "Render node access for the user", "Kernel")
def dri_access(f):
    why = _skip_reason(f)
    if why:
        return SKIP, why, "", {}
    user = f["user"]
    nodes = [n for g in _gpus(f) for n in f["drm"].get(g["bdf"], {}).get("nodes", [])
             if n["kind"] == "render" and n.get("is_char")]
    if not nodes:
        return SKIP, "no render node to open (see dri.nodes)", "", {}
    if not user.get("known"):
        return (WARN, "user '%s' is not in the host's /etc/passwd (%s); cannot decide" % (
            user["name"], f["root"]), "name the user whose access matters: --user NAME", {"user": user["name"]})
    statuses, notes, remedies = [], [], []
    ev = {"user": user["name"], "uid": user["uid"], "groups": user["groups"], "nodes": []}
    for n in nodes:
        group = user["group_names"].get(n["gid"], str(n["gid"]))
        ok, how = _can_rw(user, n)
        ev["nodes"].append({"node": n["node"], "mode": oct(n["mode"]), "uid": n["uid"], "group": group, "ok": ok})
        if not ok:
            statuses.append(FAIL)
            notes.append("%s cannot open %s read-write (mode %s, group %s; %s's groups: %s)" % (
                user["name"], n["node"], oct(n["mode"])[2:], group, user["name"], ",".join(user["groups"]) or "-"))
            if n["mode"] & 0o060 == 0o060:
                remedies.append("sudo usermod -aG %s %s   # then log out and back in" % (group, user["name"]))
            else:
                remedies.append("the node's mode %s denies its group: sudo chmod 660 %s (udev rule: "
                                "SUBSYSTEM==\"drm\", KERNEL==\"renderD*\", GROUP=\"render\", MODE=\"0660\")"
                                % (oct(n["mode"])[2:], n["node"]))
            continue
        if how == "group" and user.get("session_gids") is not None and n["gid"] not in user["session_gids"]:
            statuses.append(WARN)
            notes.append("%s is in group %s for %s, but this login session predates it" % (
                user["name"], group, n["node"]))
            remedies.append("log out and back in (or run: newgrp %s) so the new group applies" % group)
            continue
        statuses.append(PASS)
        notes.append("%s can open %s (%s)" % (user["name"], n["node"], how))
    return worst(statuses), "; ".join(notes), "\n".join(remedies), ev


# ---------------------------------------------------------------- firmware


@check("firmware", "GPU firmware (GuC/HuC/DMC)", "Kernel")
def firmware(f):
    why = _skip_reason(f)
    if why:
        return SKIP, why, "", {}
    fw = f["firmware"]
    fam_keys = sorted({g["family"] for g in _gpus(f) if g["family"]})
    if not fam_keys:
        return SKIP, "GPU family unknown: no firmware list to compare against", "", {}
    missing, have = [], []
    for key in fam_keys:
        for kind, info in fw["blobs"].get(key, {}).items():
            if info["found"]:
                have.append(info["found"][0])
            else:
                missing.append("%s %s (%s)" % (key, kind.upper(), " or ".join(info["candidates"])))
    ev = {"found": have, "missing": missing, "log_source": fw["log_source"], "log_errors": fw["log_errors"]}
    if missing:
        return (FAIL, "missing under /lib/firmware: " + "; ".join(missing),
                _firmware_fix(f["platform"], fam_keys), ev)
    if fw["log_errors"]:
        return (WARN, "blobs present (%s) but the kernel log reports firmware errors: %s" % (
            ", ".join(have), fw["log_errors"][-1]),
            "update the firmware package and initramfs: " + _firmware_fix(f["platform"], fam_keys), ev)
    return PASS, "present: " + ", ".join(have), "", ev


# ---------------------------------------------------------------- user space


@check("userspace", "User space: Level Zero and OpenCL", "User space")
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


# ---------------------------------------------------------------- XPU Manager


def _xpum_installed(s):
    return any(s["binaries"].values()) or any(u["installed"] for u in s["units"].values())


@check("xpum.service", "XPU Manager installed and running", "XPU Manager")
def xpum_service(f):
    why = _skip_reason(f, need_gpu=False, xpum=True)
    if why:
        return SKIP, why, "", {}
    s = f["services"]
    ev = {"binaries": {k: v for k, v in s["binaries"].items() if v}, "units": s["units"],
          "containers": s["containers"], "packages": {k: v for k, v in (f["userspace"]["packages"] or {}).items()
                                                       if k in ("xpumanager", "xpu-smi", "libxpum2")}}
    cont = (s["containers"] or {}).get("xpum") or []
    running = [c for c in cont if c.get("state") == "running" or c["status"].lower().startswith("up")]
    if running:
        c = running[0]
        health = (c.get("inspect") or {}).get("health")  # from GET /containers/<id>/json
        if not health:
            health = "unhealthy" if "unhealthy" in c["status"] else ("healthy" if "healthy" in c["status"] else None)
        detail = "container %s (%s): %s" % (c["name"], c["image"], c["status"])
        if health and health not in c["status"]:
            detail += " (%s)" % health
        if health == "unhealthy":
            return (FAIL, detail, "docker logs --tail 50 %s; docker inspect --format '{{json .State.Health}}' %s"
                    "   # or: podman" % (c["name"], c["name"]), ev)
        if health == "starting":
            return (WARN, detail + "; its healthcheck has not passed yet",
                    "wait for the start period, then: docker inspect --format '{{json .State.Health}}' %s"
                    "   # podman without systemd runs healthchecks only on: podman healthcheck run %s"
                    % (c["name"], c["name"]), ev)
        return PASS, detail, "", ev
    if cont:
        c = cont[0]
        return (FAIL, "XPU Manager container %s exists but is not running: %s" % (c["name"], c["status"]),
                "docker start %s && docker logs --tail 50 %s   # or: podman" % (c["name"], c["name"]), ev)
    if not _xpum_installed(s):
        return (WARN, "XPU Manager is not installed (no xpumd, xpu-smi, xpum.service, or XPU Manager container)",
                _xpum_install(f), ev)
    unit = s["units"]["xpum.service"]
    smi_only = s["binaries"].get("/usr/bin/xpu-smi") and not unit["installed"]
    if smi_only:
        return PASS, "xpu-smi installed (daemon-less CLI; no xpum.service)", "", ev
    if unit["active"] is None:
        detail = "xpum.service installed%s; its state is unknown here (%s)" % (
            ", enabled" if unit["enabled"] else ", not enabled",
            "not the running system" if f["platform"].get("_root") != "/" else "no systemd")
        if not unit["enabled"]:
            return WARN, detail, "sudo systemctl enable --now xpum.service", ev
        return PASS, detail, "", ev
    if unit["active"] == "active":
        return PASS, "xpum.service active", "", ev
    return (FAIL, "xpum.service is %s (\"XPUM Service Status Error\" in the tools)" % unit["active"],
            "sudo systemctl restart xpum.service; systemctl status xpum.service --no-pager; "
            "journalctl -u xpum.service -n 50 --no-pager", ev)


@check("xpum.api", "XPU Manager API answers", "XPU Manager")
def xpum_api(f):
    why = _skip_reason(f, need_gpu=False, xpum=True)
    if why:
        return SKIP, why, "", {}
    x = f["xpum"]
    ev = {k: x.get(k) for k in ("url", "line", "version", "tried", "explicit", "credentials", "healtz")}
    err = x.get("error")
    if x.get("url") and not err:
        pci_bdfs = {g["bdf"] for g in _gpus(f)}
        api_bdfs = {(g.get("pci_bdf_address") or "").lower() for g in x.get("gpus", [])}
        ev["api_gpus"] = sorted(api_bdfs)
        detail = "XPU Manager %s at %s (%s)" % (x["line"], x["url"], _version_text(x.get("version")))
        detail += ", %d GPU(s)" % len(api_bdfs)
        status, remedy = PASS, ""
        if x.get("healtz") and not x["healtz"].get("ok"):
            status = FAIL
            detail += "; /healtz says: %s" % (x["healtz"].get("text") or x["healtz"].get("status_code"))
            remedy = "XPU Manager sees no device: systemctl status xpum.service; check dri.access and kernel.driver"
        if f["pci"].get("present") and not f["platform"]["container"]:
            only_api = sorted(api_bdfs - pci_bdfs)
            only_pci = sorted(pci_bdfs - api_bdfs)
            if only_api or only_pci:
                status = worst([status, WARN])
                if only_pci:
                    detail += "; not reported by XPU Manager: %s" % ", ".join(only_pci)
                if only_api:
                    detail += "; reported by XPU Manager but not on this PCI bus: %s (a remote or other host?)" \
                        % ", ".join(only_api)
                remedy = remedy or ("older XPU Manager versions do not list Arc/xe GPUs (upstream #88, #92): "
                                    "upgrade; check the URL points at this host")
        return status, detail, remedy, ev
    err = err or {"kind": "refused", "message": "nothing answered"}
    if err["kind"] == "config":
        return FAIL, err["message"], "fix XPU_MANAGER_URL / --xpum-url / the credentials file", ev
    if not x.get("explicit") and all(t.get("outcome") == "refused" for t in x.get("tried", [])):
        tried = ", ".join(t["url"] for t in x.get("tried", []))
        if not _xpum_installed(f["services"]) and not (f["services"]["containers"] or {}).get("xpum"):
            return SKIP, "XPU Manager not installed, nothing listens on %s" % tried, "", ev
        return (WARN, "XPU Manager is installed but no API answers on %s (its REST API is off by default)" % tried,
                "enable the 1.x REST API: sudo /usr/lib/xpum/enable_restful.sh (binds 0.0.0.0:30000; xpu-ops' "
                "role binds it to 127.0.0.1), or point at yours: export XPU_MANAGER_URL=https://127.0.0.1:30000", ev)
    remedy = {
        "tls": "pass the certificate: --ca-file %s (native 1.x) or --insecure to skip verification" % XPUM_NATIVE_CA,
        "auth": "set XPU_MANAGER_USER / XPU_MANAGER_PASSWORD (or --credentials-file) to the rest.conf user "
                "(xpumadmin); wait before retrying: the server delays each failed login 2^n s",
        "timeout": "the server accepts but does not answer: systemctl status xpum.service xpum_rest.service",
        "refused": "start it: sudo systemctl start xpum.service xpum_rest.service (or your XPU Manager "
                   "container), or fix the URL",
    }.get(err["kind"], "check the URL points at XPU Manager: curl -sk %s/rest/v1/version" % (
        x.get("url") or (x.get("tried") or [{"url": "URL"}])[-1]["url"]))
    return FAIL, err["message"], remedy, ev


def _version_text(v):
    if not v:
        return "version unknown"
    return "version %s" % (v.get("xpum_version") or v.get("version") or "?")


@check("xpum.health", "GPU health reported by XPU Manager", "XPU Manager")
def xpum_health(f):
    why = _skip_reason(f, need_gpu=False, xpum=True)
    if why:
        return SKIP, why, "", {}
    x = f["xpum"]
    if not x.get("url") or x.get("error"):
        return SKIP, "XPU Manager API not reachable (see xpum.api)", "", {}
    gpus = x.get("gpus", [])
    if not gpus:
        return FAIL, "XPU Manager reports no GPU", "check kernel.driver and dri.access on the XPU Manager host", {}
    map_status = {"healthy": PASS, "warning": WARN, "critical": FAIL, "unknown": WARN}
    statuses, notes, ev = [], [], {}
    for g in gpus:
        h = g.get("health") or {"status": "unknown"}
        st = map_status.get(h.get("status"), WARN)
        statuses.append(st)
        bad = ["%s %s%s" % (name, c.get("status"), (": " + c["description"]) if c.get("description") else "")
               for name, c in (h.get("components") or {}).items()
               if str(c.get("status", "")).lower() not in ("ok", "healthy", "unknown", "")]
        notes.append("GPU %s %s: %s%s" % (g.get("device_id"), g.get("pci_bdf_address") or "", h.get("status"),
                                         " (" + "; ".join(bad) + ")" if bad else ""))
        ev[str(g.get("device_id"))] = h
    status = worst(statuses)
    remedy = ""
    if status != PASS:
        remedy = ("read the details: xpu-smi health -d <id> (1.x) or the hw_status series; check cooling and "
                  "power for temperature/power warnings")
    return status, "; ".join(notes), remedy, ev


LOOPBACK_PREFIXES = ("127.", "::1", "localhost")


def _loopback(addr):
    return bool(addr) and str(addr).strip("[]").startswith(LOOPBACK_PREFIXES)


@check("xpum.exposure", "XPU Manager container privileges and exposure", "XPU Manager")
def xpum_exposure(f):
    why = _skip_reason(f, need_gpu=False, xpum=True)
    if why:
        return SKIP, why, "", {}
    cont = ((f["services"].get("containers") or {}).get("xpum")) or []
    if not cont:
        return SKIP, "no XPU Manager container on this host's engine", "", {}
    notes, remedies, ev = [], [], {}
    for c in cont:
        i = c.get("inspect") or {}
        ev[c["name"]] = {k: i.get(k) for k in ("privileged", "network_mode", "ports", "env", "cap_add")}
        if not i:
            notes.append("%s: not inspectable" % c["name"])
            continue
        env = i.get("env") or {}
        v2 = "xpumd" in (c.get("image") or "")
        open_api = v2 or env.get("XPUM_EXPORTER_NO_AUTH") == "1"
        no_tls = not v2 and env.get("XPUM_REST_NO_TLS") == "1"
        if i.get("privileged"):
            notes.append("%s runs privileged (every capability and device)" % c["name"])
            remedies.append("drop privileged: true unless you update firmware or change GPU settings; "
                            "least privilege: cap_drop ALL, cap_add SYS_ADMIN, devices /dev/dri")
        wide = ["%s:%s" % (p["host_ip"] or "0.0.0.0", p["host_port"]) for p in i.get("ports") or []
                if not _loopback(p["host_ip"])]
        if i.get("network_mode") == "host" and not v2 and not _loopback(env.get("XPUM_REST_HOST", "0.0.0.0")):
            wide.append("%s:%s (host network)" % (env.get("XPUM_REST_HOST", "0.0.0.0"),
                                                  env.get("XPUM_REST_PORT", "29999")))
        if wide and (open_api or no_tls):
            how = "without authentication" if open_api else "without TLS (Basic auth in clear)"
            notes.append("%s publishes its API on %s %s" % (c["name"], ", ".join(wide), how))
            remedies.append("publish on 127.0.0.1 only (ports: [\"127.0.0.1:PORT:PORT\"], or XPUM_REST_HOST=127.0.0.1 "
                            "with host networking), or keep TLS and Basic auth on")
    if notes:
        return WARN, "; ".join(notes), "\n".join(dict.fromkeys(remedies)), ev
    return PASS, "%d XPU Manager container(s): not privileged, API on loopback or authenticated" % len(cont), "", ev


# ---------------------------------------------------------------- PyTorch


TORCH_XPU_FIX = "pip install --upgrade torch --index-url https://download.pytorch.org/whl/xpu"


@check("torch.xpu", "PyTorch XPU", "Frameworks")
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
