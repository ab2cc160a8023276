"""Kernel layer: the i915/xe driver, the DRM nodes and their access, the GPU firmware."""
from checks import families
from checks.facts import DRM_MAJOR, kernel_version_tuple
from checks.result import FAIL, PASS, SKIP, WARN, worst
from checks.rules import check
from checks.rules._common import _gpus, _os_key, _skip_reason

LAYER = "Kernel"


# families whose firmware (and first kernel) is newer than Debian 12's own packages
XE_ERA = {"arc-b", "lnl", "ptl", "wcl", "nvl", "cri"}


def _firmware_fix(p, fam_keys):
    k = _os_key(p)
    if {"max", "flex"} & set(fam_keys):
        cmd = ("sudo apt install intel-fw-gpu   # from Intel's GPU repository (data center GPUs); it installs the "
               "versioned blobs the out-of-tree i915 loads into /lib/firmware/updates/i915/")
    elif k == "debian-12" and XE_ERA & set(fam_keys):
        # bookworm's firmware-misc-nonfree (20230210) predates these GPUs' blobs; bookworm-backports carries
        # firmware-intel-graphics 20250410 (packages.debian.org/bookworm-backports/firmware-intel-graphics)
        cmd = ("echo 'deb http://deb.debian.org/debian bookworm-backports main non-free-firmware' | "
               "sudo tee /etc/apt/sources.list.d/bookworm-backports.list && sudo apt update && "
               "sudo apt install -t bookworm-backports firmware-intel-graphics linux-image-amd64")
    elif k == "debian-12":
        cmd = ("sudo sed -i 's/^Components: main.*/Components: main non-free-firmware/' "
               "/etc/apt/sources.list.d/debian.sources && sudo apt update && sudo apt install firmware-misc-nonfree")
    elif k.startswith("debian-"):
        cmd = "sudo apt install firmware-intel-graphics   # needs the non-free-firmware component"
    else:
        cmd = "sudo apt install linux-firmware"
    return cmd + "\nsudo update-initramfs -u && sudo reboot"


def _force_probe_fix(drv, device_id):
    return ("sudo sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT=\"/&%s.force_probe=%04x /' /etc/default/grub && "
            "sudo update-grub && sudo reboot" % (drv, device_id))


def _unknown_gpu(g, where, mods):
    """A GPU newer than the family table: no driver is claimed for it; whichever of i915/xe bound it is accepted."""
    stale = ("0x%04x is not in xpu-ops' family table (read from the kernel's pciids.h, see "
             "checks/gpu_families.json): the table is older than this GPU" % g["device_id"])
    update = "update xpu-ops (its family table is older than this GPU)"
    if g["driver_state"] == "dangling":
        return (FAIL, "%s: its driver link points at '%s', which does not exist; %s" % (where, g["driver"], stale),
                "the driver was unbound or the tree is broken: reboot; " + update)
    if g["driver_state"] == "none":
        loaded = [m for m in ("xe", "i915") if m in mods["sys_module"]]
        return (FAIL, "%s: no kernel driver bound (%s); %s" % (
            where, "loaded: " + ", ".join(loaded) if loaded else "neither xe nor i915 loaded", stale),
            "read whether xe or i915 knows it: sudo dmesg | grep -iE 'xe|i915|%s' | tail -20; a newer kernel may "
            "claim it; %s" % (g["bdf"], update))
    if g["driver"] in ("i915", "xe"):
        return PASS, "%s: %s bound (%s)" % (where, g["driver"], stale), ""
    return (WARN, "%s: bound to %s, not an Intel GPU driver (i915 or xe); %s" % (where, g["driver"], stale),
            update)


def _quote(word):
    """A name read from the host, quoted for a remedy the person pastes (shlex only on this rare path)."""
    import shlex

    return shlex.quote(word)


@check("kernel.driver", "Kernel driver (i915/xe) bound", needs=("platform", "pci", "modules"))
def kernel_driver(f):
    why = _skip_reason(f)
    if why:
        return SKIP, why, "", {}
    kv = kernel_version_tuple(f["platform"].get("kernel"))
    mods = f["modules"]
    statuses, notes, remedies, ev = [], [], [], {"modules": mods, "kernel": f["platform"].get("kernel"), "gpus": []}
    for g in _gpus(f):
        fam = families.family_of(g["device_id"])
        expected = fam["driver"] if fam else None
        min_k = families.version_tuple(fam["min_kernel"]) if fam else None
        ev["gpus"].append({"bdf": g["bdf"], "driver": g["driver"], "driver_state": g["driver_state"],
                           "expected": expected})
        where = "%s (%s)" % (g["bdf"], g["name"])
        if fam is None:
            st, note, remedy = _unknown_gpu(g, where, mods)
            statuses.append(st)
            notes.append(note)
            remedies.extend([remedy] if remedy else [])
            continue
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
            if fam["force_probe"]:
                msg += "; no kernel release claims %s without force_probe yet" % fam["name"]
                remedies.append("%s supports it only on request (it may be unstable): "
                                % expected + _force_probe_fix(expected, g["device_id"]))
            elif min_k and kv and kv < min_k:
                msg += "; kernel %s is older than %s, the first to support %s" % (
                    f["platform"]["kernel"], fam["min_kernel"], fam["name"])
                remedies.append("install a newer kernel (Debian 12: sudo apt install -t bookworm-backports "
                                "linux-image-amd64; Ubuntu: the HWE kernel) and reboot; or try "
                                + _force_probe_fix(expected, g["device_id"]))
            elif fam and fam["dkms"]:
                remedies.append("Intel supports %s with the out-of-tree i915 only: sudo apt install "
                                "linux-headers-$(uname -r) intel-i915-dkms intel-fw-gpu && sudo reboot"
                                % fam["name"])
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


@check("dri.nodes", "DRM nodes (/dev/dri card and render)", needs=("platform", "pci", "drm"))
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
                remedies.append("the %s driver bound %s but created no node: sudo dmesg | grep -iE '%s|drm' | tail"
                                % (g["driver"], g["bdf"], g["driver"]))
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


@check("dri.access", "Render node access for the user", needs=("platform", "pci", "drm", "user"))
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
                remedies.append("sudo usermod -aG %s %s   # then log out and back in" % (
                    _quote(group), _quote(user["name"])))  # names come from the host: quoted to paste
            else:
                remedies.append("the node's mode %s denies its group: sudo chmod 660 %s (udev rule: "
                                "SUBSYSTEM==\"drm\", KERNEL==\"renderD*\", GROUP=\"render\", MODE=\"0660\")"
                                % (oct(n["mode"])[2:], _quote(n["node"])))
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


@check("firmware", "GPU firmware (GuC/HuC/DMC)", needs=("platform", "pci", "firmware"))
def firmware(f):
    why = _skip_reason(f)
    if why:
        return SKIP, why, "", {}
    fw = f["firmware"]
    fam_keys = sorted({g["family"] for g in _gpus(f) if g["family"]})
    if not fam_keys:
        return SKIP, "GPU family unknown: no firmware list to compare against", "", {}
    missing, have, variants = [], [], {}
    for key in fam_keys:
        for kind, info in fw["blobs"].get(key, {}).items():
            variants[key] = info.get("variant")
            if info["found"]:
                have.append(info["found"][0])
            else:
                missing.append("%s %s for %s (%s)" % (key, kind.upper(), info.get("variant") or "its driver",
                                                     " or ".join(info["candidates"])))
    ev = {"found": have, "missing": missing, "variants": variants, "log_source": fw["log_source"],
          "log_errors": fw["log_errors"]}
    if not missing and not have:
        return SKIP, "the family table lists no firmware to check for %s" % ", ".join(fam_keys), "", ev
    if missing:
        return (FAIL, "missing in /lib/firmware/updates and /lib/firmware (the kernel's search path, .zst/.xz "
                "included): " + "; ".join(missing), _firmware_fix(f["platform"], fam_keys), ev)
    if fw["log_errors"]:
        return (WARN, "blobs present (%s) but the kernel log reports firmware errors: %s" % (
            ", ".join(have), fw["log_errors"][-1]),
            "update the firmware package and initramfs: " + _firmware_fix(f["platform"], fam_keys), ev)
    return PASS, "present: " + ", ".join(have), "", ev
