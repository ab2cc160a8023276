#!/usr/bin/python
"""Read-only facts the xpu-ops roles decide on: Intel PCI functions, WSL2, container, Secure Boot, kernel."""

DOCUMENTATION = r"""
---
module: xpu_ops_host_facts
short_description: Read the facts the Intel GPU roles need from sysfs and /proc (read-only)
description:
  - Lists Intel (vendor 0x8086) PCI functions from C(/sys/bus/pci/devices) with their class and device id;
    the control host maps device ids to GPU families with the project's one family table.
  - Detects WSL2 (C(/proc/sys/kernel/osrelease), C(/dev/dxg)), containers, the Secure Boot state
    (EFI variable C(SecureBoot-8be4df61-...)), the running kernel and whether its headers are installed,
    and the group of each DRM render node.
  - Changes nothing; supports check mode.
options:
  sysfs_root:
    description: Prefix for every path read (tests).
    type: path
    default: /
author: xpu-ops
"""

EXAMPLES = r"""
- name: Read Intel GPU host facts
  xpu_ops_host_facts:
  register: gpu_host
"""

RETURN = r"""
pci_functions:
  description: Intel PCI functions, each with slot, vendor, class, device (hex strings) and bound driver.
  type: list
  returned: always
wsl2:
  description: True on WSL2.
  type: bool
  returned: always
"""

import glob  # noqa: E402 (Ansible modules keep DOCUMENTATION first)
import grp  # noqa: E402 (Ansible modules keep DOCUMENTATION first)
import os  # noqa: E402 (Ansible modules keep DOCUMENTATION first)

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

SECURE_BOOT_VAR = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def _read(path, limit=4096):
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def _text(path):
    data = _read(path)
    return data.decode("ascii", "replace").strip() if data is not None else None


def main():
    module = AnsibleModule(argument_spec={"sysfs_root": {"type": "path", "default": "/"}}, supports_check_mode=True)
    root = module.params["sysfs_root"]

    def p(rel):
        return os.path.join(root, rel.lstrip("/"))

    functions = []
    for dev in sorted(glob.glob(p("sys/bus/pci/devices/*"))):
        vendor = _text(os.path.join(dev, "vendor"))
        if vendor is None or vendor.lower() != "0x8086":
            continue
        drv = os.path.join(dev, "driver")
        functions.append({
            "slot": os.path.basename(dev),
            "vendor": vendor.lower(),
            "class": (_text(os.path.join(dev, "class")) or "0x0").lower(),
            "device": (_text(os.path.join(dev, "device")) or "0x0").lower(),
            "driver": os.path.basename(os.readlink(drv)) if os.path.islink(drv) else None,
        })

    osrelease = _text(p("proc/sys/kernel/osrelease")) or os.uname().release
    wsl2 = "microsoft" in osrelease.lower() or os.path.exists(p("dev/dxg"))
    container = None
    for marker, kind in (("/.dockerenv", "docker"), ("/run/.containerenv", "podman")):
        if os.path.exists(p(marker)):
            container = kind
    sd = _text(p("run/systemd/container"))
    if sd:
        container = container or sd

    efi = os.path.isdir(p("sys/firmware/efi"))
    sb = _read(p(SECURE_BOOT_VAR), 8)
    if sb is not None and len(sb) >= 5:
        secure_boot = "enabled" if sb[4] == 1 else "disabled"
    else:
        secure_boot = "disabled" if not efi else "unknown"

    release = os.uname().release if root == "/" else osrelease
    render_nodes = []
    for node in sorted(glob.glob(p("dev/dri/renderD*"))):
        st = os.stat(node)
        try:
            group = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            group = str(st.st_gid)
        render_nodes.append({"path": node, "group": group})

    module.exit_json(
        changed=False,
        pci_functions=functions,
        wsl2=wsl2,
        dxg=os.path.exists(p("dev/dxg")),
        container=container,
        efi=efi,
        secure_boot=secure_boot,
        kernel_release=release,
        kernel_modules_dir=os.path.isdir(p("lib/modules/%s" % release)),
        kernel_headers=os.path.isdir(p("lib/modules/%s/build" % release)),
        loadable_modules=os.path.exists(p("proc/modules")),
        render_nodes=render_nodes,
    )


if __name__ == "__main__":
    main()
