"""``python -m checks --facts``: the host facts the Ansible roles decide on, read by the checks' own code.

The roles (intel_gpu_driver, xpumanager) need the Intel GPUs and their families, WSL2, a container,
Secure Boot, the running kernel's headers and the render nodes' group. Platform (WSL2, /dev/dxg,
container) and PCI facts are the checks' own (``checks.facts``): one set of rules for verify and
provisioning. Secure Boot, kernel headers and render-node groups only the roles read, so they live
here. Read-only; the result is plain JSON (the action plugin ``xpu_ops_host_facts`` returns it).
"""
import re

from checks import facts as F

# UEFI global variable SecureBoot (EFI_GLOBAL_VARIABLE GUID). efivarfs shows each variable as 4 bytes
# of attributes, then the data: torvalds/linux Documentation/filesystems/efivarfs.rst
# (commit 06dedb45b79c6550b878244879f33b6e614126bd), so the SecureBoot byte is the fifth.
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def boot_facts(root, kernel):
    """EFI, Secure Boot (enabled, disabled, unknown) and whether the running kernel's headers are there."""
    efi = root.is_dir("/sys/firmware/efi")
    var = root.read_bytes(SECURE_BOOT_VAR, 8) or b""
    if len(var) >= 5:
        secure_boot = "enabled" if var[4] == 1 else "disabled"
    else:
        secure_boot = "unknown" if efi else "disabled"
    modules = "/lib/modules/%s" % kernel if kernel else None
    return {"efi": efi, "secure_boot": secure_boot,
            "kernel_modules_dir": bool(modules) and root.is_dir(modules),
            "kernel_headers": bool(modules) and root.is_dir(modules + "/build")}


def render_nodes(root):
    """Every /dev/dri/renderD* with its group (the group users join to reach the GPU)."""
    out, names = [], None
    for name in root.listdir("/dev/dri"):
        st = root.stat("/dev/dri/" + name) if re.fullmatch(r"renderD\d+", name) else None
        if st is None:
            continue
        if names is None:
            names = F.group_names(F.read_groups(root))
        group = names.get(st.st_gid)
        if group is None and root.is_real:
            import grp
            try:
                group = grp.getgrgid(st.st_gid).gr_name
            except KeyError:
                pass
        out.append({"path": "/dev/dri/" + name, "gid": st.st_gid, "group": group or str(st.st_gid)})
    return out


def gather(root):
    """{platform, pci, boot, render_nodes}: what `--facts` prints."""
    platform = F.platform_facts(root)
    return {"platform": platform, "pci": F.pci_facts(root), "boot": boot_facts(root, platform["kernel"]),
            "render_nodes": render_nodes(root)}
