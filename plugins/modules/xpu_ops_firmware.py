#!/usr/bin/python
"""Ansible module: guarded GPU firmware update through xpu-smi (playbooks/firmware.yml, `invoke firmware`)."""
import json
import os
import re
import subprocess

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: xpu_ops_firmware
short_description: Plan, or apply, an Intel GPU firmware update with xpu-smi, refusing unless it is safe
description:
  - C(state=planned) changes nothing. It refuses (fails) when the host is WSL2, when it is a container without
    the firmware interface (no /dev/mei* or no CAP_SYS_ADMIN: an unprivileged container), when a GPU's health is
    not OK (C(xpu-smi health -d N -j)), or when a process uses a GPU (C(xpu-smi ps -d N -j), xpu-smi itself aside).
    It returns each GPU's current and the image's version, read from xpu-smi's own question (C(xpu-smi updatefw)
    without -y, answered "n": upstream prints "Device N FW version" and "Image FW version" and aborts).
  - C(state=updated) checks the same again, runs C(xpu-smi updatefw -d N -t TYPE -f IMAGE -y -j) on each GPU, one at
    a time, and reads the version back (C(xpu-smi discovery -d N -j)); a result other than OK, or a version that
    is not the image's, fails.
  - AMC is updated on every card at once (upstream refuses it for a single device, errno 24) and xpu-smi shows no
    AMC image version: the plan shows the current versions, the update one call, the versions after.
  - Upstream sources (intel/xpumanager 57e44f558a3c3f4e7ec3cdfae6ccd8739ffb3be5) cli/src/comlet_firmware.cpp
    (JSON result OK/FAILED, the question and its lines), doc/smi_user_guide.md (options).
options:
  image:
    description: The firmware image on the host.
    type: path
    required: true
  type:
    description: Which firmware.
    type: str
    choices: [GFX, GFX_DATA, AMC]
    default: GFX
  state:
    description: planned (read and refuse only) or updated.
    type: str
    choices: [planned, updated]
    default: planned
  wsl2:
    description: The host is WSL2 (from xpu_ops_host_facts).
    type: bool
    default: false
  container:
    description: The host is a container (from xpu_ops_host_facts); it must then hold /dev/mei* and CAP_SYS_ADMIN.
    type: bool
    default: false
  xpu_smi:
    description: The xpu-smi program.
    type: str
    default: xpu-smi
author: xpu-ops
"""

EXAMPLES = r"""
- name: Plan a GFX firmware update
  xpu_ops_firmware:
    image: /tmp/fw.bin
  register: plan
"""

RETURN = r"""
gpus:
  description: One per GPU (device_id, bdf, name, current, image; after state=updated also after).
  type: list
  returned: always
"""

VERSION_KEY = {"GFX": "gfx_firmware_version", "GFX_DATA": "gfx_data_firmware_version", "AMC": "amc_firmware_version"}
CAP_SYS_ADMIN = 21


def has_sys_admin(status_text):
    m = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", status_text, re.M)
    return bool(m) and bool(int(m.group(1), 16) >> CAP_SYS_ADMIN & 1)


def container_refusal(container, dev_names, status_text):
    """Why an update must not run through this container (None when it may): upstream's full features need a
    privileged container with the MEI devices (intel/xpumanager deployment/README.md)."""
    if not container:
        return None
    mei = [n for n in dev_names if n.startswith("mei")]
    if not mei:
        return "this host is a container without /dev/mei* (the GPU's firmware interface): update from the host itself"
    if not has_sys_admin(status_text):
        return "this host is an unprivileged container (no CAP_SYS_ADMIN): update from the host itself"
    return None


def smi(module, args, as_json=True, stdin=None):
    argv = [module.params["xpu_smi"], *args] + (["-j"] if as_json else [])
    try:
        r = subprocess.run(argv, input=stdin.encode() if stdin else None, capture_output=True, timeout=3600)
    except FileNotFoundError:
        module.fail_json(msg="xpu-smi is not installed on this host (install XPU Manager: invoke provision "
                             "--tags xpumanager)")
    except subprocess.TimeoutExpired:
        module.fail_json(msg="xpu-smi %s: no answer within 3600 s" % args[0])
    text = r.stdout.decode("utf-8", "replace")
    if not as_json:
        return r.returncode, text
    try:
        return r.returncode, json.loads(text)
    except ValueError:
        lines = [x for x in (text + r.stderr.decode("utf-8", "replace")).splitlines() if x.strip()]
        return r.returncode, {"error": lines[-1] if lines else "no answer", "errno": r.returncode}


def guard(module, gpus):
    """Fail unless every GPU is healthy and idle."""
    problems = []
    for g in gpus:
        dev = str(g["device_id"])
        rc, h = smi(module, ["health", "-d", dev])
        if "error" in h:
            problems.append("GPU %s: health unknown (%s)" % (dev, h["error"]))
        else:
            bad = ["%s %s" % (k, v.get("status")) for k, v in sorted(h.items())
                   if isinstance(v, dict) and v.get("status") not in ("OK", None)]
            if bad:
                problems.append("GPU %s health is not OK: %s" % (dev, ", ".join(bad)))
        rc, ps = smi(module, ["ps", "-d", dev])
        if "error" in ps:
            problems.append("GPU %s: cannot list its processes (%s)" % (dev, ps["error"]))
        else:
            users = ["%s (pid %s)" % (p.get("process_name"), p.get("process_id"))
                     for p in ps.get("device_util_by_proc_list", []) if p.get("process_name") != "xpu-smi"]
            if users:
                problems.append("GPU %s is in use by %s: stop them first" % (dev, ", ".join(users)))
    if problems:
        module.fail_json(msg="refusing the firmware update: " + "; ".join(problems), gpus=gpus)


def main():
    module = AnsibleModule(argument_spec=dict(
        image=dict(type="path", required=True), type=dict(type="str", choices=list(VERSION_KEY), default="GFX"),
        state=dict(type="str", choices=["planned", "updated"], default="planned"),
        wsl2=dict(type="bool", default=False), container=dict(type="bool", default=False),
        xpu_smi=dict(type="str", default="xpu-smi")), supports_check_mode=True)
    p = module.params
    if p["wsl2"]:
        module.fail_json(msg="refusing the firmware update: this host is WSL2 (Windows owns the GPU; update it with "
                             "the vendor's Windows tool)")
    try:
        devs = sorted(os.listdir("/dev"))
        with open("/proc/self/status") as f:
            status = f.read()
    except OSError:
        devs, status = [], ""
    why = container_refusal(p["container"], devs, status)
    if why:
        module.fail_json(msg="refusing the firmware update: " + why)
    if not os.path.isfile(p["image"]) or not os.access(p["image"], os.R_OK):
        module.fail_json(msg="the image %s is not a readable file on this host" % p["image"])
    rc, disc = smi(module, ["discovery"])
    if "error" in disc:
        module.fail_json(msg="xpu-smi discovery: %s" % disc["error"])
    gpus = []
    amc = p["type"] == "AMC"
    for d in disc.get("device_list", []):
        dev = str(d["device_id"])
        if amc:        # upstream updates AMC on every card at once and shows no image version
            rc, info = smi(module, ["discovery", "-d", dev])
            gpus.append({"device_id": d["device_id"], "bdf": d.get("pci_bdf_address"), "name": d.get("device_name"),
                         "current": info.get(VERSION_KEY["AMC"]), "image": "(xpu-smi shows no AMC image version)"})
            continue
        rc, text = smi(module, ["updatefw", "-d", dev, "-t", p["type"], "-f", p["image"]], as_json=False, stdin="n\n")
        cur = re.search(r"^Device \S+ FW version: *(.*)$", text, re.M)
        img = re.search(r"^Image FW version: *(.*)$", text, re.M)
        if rc != 0 or not img:
            line = [x for x in text.splitlines() if x.strip()]
            module.fail_json(msg="GPU %s: xpu-smi does not accept %s as a %s image: %s" % (
                dev, p["image"], p["type"], line[-1] if line else "exit %d" % rc))
        gpus.append({"device_id": d["device_id"], "bdf": d.get("pci_bdf_address"), "name": d.get("device_name"),
                     "current": cur.group(1).strip() if cur else None, "image": img.group(1).strip()})
    if not gpus:
        module.fail_json(msg="xpu-smi lists no GPU on this host")
    guard(module, gpus)
    if p["state"] == "planned" or module.check_mode:
        module.exit_json(changed=False, gpus=gpus)
    if amc:
        rc, res = smi(module, ["updatefw", "-t", "AMC", "-f", p["image"], "-y"])
        if res.get("result") != "OK":
            module.fail_json(msg="AMC firmware update failed: %s" % (res.get("error") or res.get("result")),
                             gpus=gpus, changed=True)
        for g in gpus:
            g["after"] = smi(module, ["discovery", "-d", str(g["device_id"])])[1].get(VERSION_KEY["AMC"])
        module.exit_json(changed=True, gpus=gpus)
    for g in gpus:
        dev = str(g["device_id"])
        rc, res = smi(module, ["updatefw", "-d", dev, "-t", p["type"], "-f", p["image"], "-y"])
        # upstream: a FAILED update still exits 0 with -j; the result decides
        if res.get("result") != "OK":
            module.fail_json(msg="GPU %s: firmware update failed: %s" % (dev, res.get("error") or res.get("result")),
                             gpus=gpus, changed=True)
        rc, info = smi(module, ["discovery", "-d", dev])
        g["after"] = info.get(VERSION_KEY[p["type"]])
        if g["after"] != g["image"]:
            module.fail_json(msg="GPU %s: the firmware reads %s after the update, not the image's %s" % (
                dev, g["after"], g["image"]), gpus=gpus, changed=True)
    module.exit_json(changed=True, gpus=gpus)


if __name__ == "__main__":
    main()
