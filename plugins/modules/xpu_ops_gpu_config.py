#!/usr/bin/python
"""Ansible module: each GPU's XPU Manager settings to the wanted values with `xpu-smi config` (role gpu_config)."""
import json
import subprocess

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: xpu_ops_gpu_config
short_description: Set Intel GPU power limit, frequency range, standby, scheduler and ECC through xpu-smi
description:
  - Reads every GPU (C(xpu-smi discovery -j)) and its settings (C(xpu-smi config -d N -j)), merges the wanted
    settings (C(defaults), then C(by_family) for its family, C(by_model) for its PCI device id, then C(by_gpu) for
    its xpu-smi id or PCI address) and changes only what differs, so a re-run changes nothing.
  - Before any change, each setting that differs is first written with its current value (a change to nothing):
    a GPU that does not support it refuses that with its own answer, and the module fails with that answer
    before anything changed. If a later change still fails, the ones already made are put back.
  - Check mode reports the differences and changes nothing; with --diff they are shown as before/after.
  - An ECC change takes effect after a GPU reset or reboot; C(ecc_reset_needed) names the GPUs whose ECC state
    waits for one (changed now, or earlier: pending differs from current).
  - The keys read are upstream's (intel/xpumanager 57e44f558a3c3f4e7ec3cdfae6ccd8739ffb3be5,
    cli/src/core_stub/lib_core_stub.cpp getDeviceConfig; cli/src/comlet_config.cpp for the set options).
options:
  defaults:
    description: Settings for every GPU (keys below).
    type: dict
    default: {}
  by_family:
    description: Settings per GPU family id of xpu-ops' family table (checks/gpu_families.json), over C(defaults).
    type: dict
    default: {}
  families:
    description: The PCI device ids of each family named in C(by_family) (the role fills it from the table).
    type: dict
    default: {}
  by_model:
    description: Settings per PCI device id (e.g. C("0x56c0") for Flex 170), over C(by_family).
    type: dict
    default: {}
  by_gpu:
    description: Settings per GPU, keyed by xpu-smi device id (C("0")) or PCI address (C("0000:4d:00.0")); last word.
    type: dict
    default: {}
  xpu_smi:
    description: The xpu-smi program.
    type: str
    default: xpu-smi
notes:
  - "Setting keys: power_limit (W, int), frequency_min and frequency_max (MHz, every tile), standby (default or
    never), scheduler (timeout, timeslice or exclusive), scheduler_timeout (us), scheduler_interval (us),
    scheduler_yield_timeout (us), ecc (bool)."
author: xpu-ops
"""

EXAMPLES = r"""
- name: Cap every Flex 170 at 120 W and never let its tiles stand by
  xpu_ops_gpu_config:
    by_model:
      "0x56c0": {power_limit: 120, standby: never}
"""

RETURN = r"""
changes:
  description: What differed (or was changed), one dict per setting and GPU or tile (gpu, tile, setting, before, after).
  type: list
  returned: always
ecc_reset_needed:
  description: GPUs whose ECC setting waits for a reset or reboot (pending state differs from the current one).
  type: list
  returned: always
"""

KEYS = ("power_limit", "frequency_min", "frequency_max", "standby", "scheduler", "scheduler_timeout",
        "scheduler_interval", "scheduler_yield_timeout", "ecc")


class Refused(Exception):
    pass


def smi(module, args):
    """(exit code, JSON) of `xpu-smi ARGS -j`; a non-JSON answer is a failure with its text."""
    try:
        r = subprocess.run([module.params["xpu_smi"], *args, "-j"], capture_output=True, timeout=300)
    except FileNotFoundError:
        module.fail_json(msg="xpu-smi is not installed on this host (install XPU Manager: invoke provision "
                             "--tags xpumanager)")
    except subprocess.TimeoutExpired:
        module.fail_json(msg="xpu-smi %s: no answer within 300 s" % " ".join(args))
    try:
        return r.returncode, json.loads(r.stdout.decode("utf-8", "replace"))
    except ValueError:
        text = (r.stdout + r.stderr).decode("utf-8", "replace").strip().splitlines()
        return r.returncode, {"error": text[-1] if text else "no answer", "errno": r.returncode}


def _pci_id(text):
    try:
        return int(str(text), 16)
    except ValueError:
        return None


def wanted_for(gpu, p):
    w = {}
    dev_id = _pci_id(gpu.get("pci_device_id"))
    fams = [fam for fam, ids in (p.get("families") or {}).items() if dev_id in {_pci_id(x) for x in ids}]
    model = next((v for k, v in p["by_model"].items() if _pci_id(k) == dev_id), {})
    layers = [p["defaults"]] + [(p.get("by_family") or {}).get(f, {}) for f in fams] + [
        model, p["by_gpu"].get(str(gpu["device_id"]), {}), p["by_gpu"].get(gpu.get("pci_bdf_address", ""), {})]
    for layer in layers:
        w.update({k: v for k, v in (layer or {}).items() if v is not None})
    unknown = sorted(set(w) - set(KEYS))
    return w, unknown


def _power_key(cfg):
    for k in ("pl_card_sustain", "pl_package_sustain", "power_limit"):
        if k in cfg:
            return k
    return None


def scheduler_arg(mode, timeout=None, interval=None, yield_timeout=None):
    if mode == "timeout":
        return "timeout,%d" % int(timeout)
    if mode == "timeslice":
        return "timeslice,%d,%d" % (int(interval), int(yield_timeout))
    return "exclusive"


def plan(gpu, cfg, w):
    """[(setting, tile or None, before, after, xpu-smi args to set after, args to set before)] for what differs."""
    dev = str(gpu["device_id"])
    out = []
    if "power_limit" in w:
        k = _power_key(cfg)
        before = cfg.get(k) if k else None
        if before is None or int(round(float(before))) != int(w["power_limit"]):
            out.append(("power_limit", None, before, int(w["power_limit"]),
                        ["--powerlimit", str(int(w["power_limit"]))],
                        ["--powerlimit", str(int(round(float(before))))] if before not in (None, "") else None))
    if "ecc" in w:
        before = cfg.get("memory_ecc_pending_state") or cfg.get("memory_ecc_current_state")
        after = "enabled" if w["ecc"] else "disabled"
        if before != after:
            out.append(("ecc", None, before or "unavailable", after, ["--memoryecc", "1" if w["ecc"] else "0"],
                        ["--memoryecc", "1" if before == "enabled" else "0"] if before else None))
    for t in cfg.get("tile_config_data", []):
        tile = str(t.get("tile_id", dev + "/0")).split("/")[-1]
        tt = ["-t", tile]
        if "frequency_min" in w or "frequency_max" in w:
            lo, hi = w.get("frequency_min", t.get("min_frequency")), w.get("frequency_max", t.get("max_frequency"))
            before = "%s,%s" % (t.get("min_frequency"), t.get("max_frequency"))
            after = "%d,%d" % (int(lo), int(hi))
            if before != after:
                out.append(("frequency_range", tile, before, after, tt + ["--frequencyrange", after],
                            tt + ["--frequencyrange", before] if "min_frequency" in t else None))
        if "standby" in w and t.get("standby_mode") != w["standby"]:
            before = t.get("standby_mode")
            out.append(("standby", tile, before or "unsupported", w["standby"], tt + ["--standby", w["standby"]],
                        tt + ["--standby", before] if before else None))
        if "scheduler" in w:
            cur = (t.get("scheduler_mode"), t.get("scheduler_watchdog_timeout"), t.get("scheduler_timeslice_interval"),
                   t.get("scheduler_timeslice_yield_timeout"))
            mode = w["scheduler"]
            want = (mode, w.get("scheduler_timeout") if mode == "timeout" else None,
                    w.get("scheduler_interval") if mode == "timeslice" else None,
                    w.get("scheduler_yield_timeout") if mode == "timeslice" else None)
            if tuple(str(x) if x is not None else None for x in cur) != \
                    tuple(str(x) if x is not None else None for x in want):
                after = scheduler_arg(*want)
                before = scheduler_arg(*cur) if cur[0] in ("timeout", "timeslice", "exclusive") else None
                out.append(("scheduler", tile, before or "unsupported", after, tt + ["--scheduler", after],
                            tt + ["--scheduler", before] if before else None))
    return out


def validate(gpu, w):
    bad = []
    if "standby" in w and w["standby"] not in ("default", "never"):
        bad.append("standby must be default or never (got %r)" % w["standby"])
    mode = w.get("scheduler")
    if mode is not None:
        need = {"timeout": ("scheduler_timeout",), "timeslice": ("scheduler_interval", "scheduler_yield_timeout"),
                "exclusive": ()}.get(mode)
        if need is None:
            bad.append("scheduler must be timeout, timeslice or exclusive (got %r)" % mode)
        else:
            for k in need:
                if not isinstance(w.get(k), int) or not 5000 <= w[k] <= 100000000:
                    bad.append("scheduler %s needs %s between 5000 and 100000000 us" % (mode, k))
    if ("frequency_min" in w) != ("frequency_max" in w):
        bad.append("give frequency_min and frequency_max together")
    return ["GPU %s: %s" % (gpu["device_id"], b) for b in bad]


def main():
    module = AnsibleModule(argument_spec=dict(
        defaults=dict(type="dict", default={}), by_model=dict(type="dict", default={}),
        by_family=dict(type="dict", default={}), families=dict(type="dict", default={}),
        by_gpu=dict(type="dict", default={}), xpu_smi=dict(type="str", default="xpu-smi")),
        supports_check_mode=True)
    p = module.params
    rc, disc = smi(module, ["discovery"])
    if "error" in disc:
        module.fail_json(msg="xpu-smi discovery: %s (errno %s)" % (disc["error"], disc.get("errno")))
    work, problems, pending = [], [], set()
    for gpu in disc.get("device_list", []):
        w, unknown = wanted_for(gpu, p)
        if unknown:
            problems.append("GPU %s: unknown setting(s) %s (known: %s)" % (gpu["device_id"], ", ".join(unknown),
                                                                             ", ".join(KEYS)))
        problems += validate(gpu, w)
        if not w:
            continue
        rc, cfg = smi(module, ["config", "-d", str(gpu["device_id"])])
        if "error" in cfg:
            module.fail_json(msg="xpu-smi config -d %s: %s" % (gpu["device_id"], cfg["error"]))
        if cfg.get("memory_ecc_pending_state") and \
                cfg.get("memory_ecc_pending_state") != cfg.get("memory_ecc_current_state"):
            pending.add(gpu["device_id"])      # an earlier change still waits for its reset
        for item in plan(gpu, cfg, w):
            work.append((gpu, item))
    if problems:
        module.fail_json(msg="; ".join(problems))
    changes = [{"gpu": g["device_id"], "bdf": g.get("pci_bdf_address"), "tile": i[1], "setting": i[0],
                "before": i[2], "after": i[3]} for g, i in work]
    diff = {"before": "".join("gpu %s%s %s: %s\n" % (c["gpu"], "/%s" % c["tile"] if c["tile"] else "", c["setting"],
                                                    c["before"]) for c in changes),
            "after": "".join("gpu %s%s %s: %s\n" % (c["gpu"], "/%s" % c["tile"] if c["tile"] else "", c["setting"],
                                                   c["after"]) for c in changes)}
    ecc = sorted(pending | {c["gpu"] for c in changes if c["setting"] == "ecc"})
    if module.check_mode or not work:
        module.exit_json(changed=bool(work), changes=changes, ecc_reset_needed=ecc, diff=diff)
    # 1. every setting that will change, first written with its current value: a refusal changes nothing.
    for gpu, (setting, tile, _before, _after, _args, back) in work:
        if back is None:
            module.fail_json(msg="GPU %s%s: %s is not supported (xpu-smi config shows no current value); nothing "
                                 "was changed" % (gpu["device_id"], "/" + tile if tile else "", setting),
                             changes=changes)
        rc, res = smi(module, ["config", "-d", str(gpu["device_id"])] + back)
        if rc != 0 or res.get("status") != "OK":
            module.fail_json(msg="GPU %s%s refuses %s: %s; nothing was changed" % (
                gpu["device_id"], "/" + tile if tile else "", setting, res.get("error") or res.get("return")),
                changes=changes)
    # 2. the changes; on a refusal, put back the ones already made.
    done = []
    for gpu, (setting, tile, _before, after, args, back) in work:
        rc, res = smi(module, ["config", "-d", str(gpu["device_id"])] + args)
        if rc != 0 or res.get("status") != "OK":
            undo = [smi(module, ["config", "-d", str(g["device_id"])] + b)[0] == 0 for g, b in reversed(done)]
            module.fail_json(msg="GPU %s%s refuses %s=%s: %s; %s" % (
                gpu["device_id"], "/" + tile if tile else "", setting, after, res.get("error") or res.get("return"),
                "the %d change(s) made before were put back" % len(done) if all(undo) else
                "some changes made before could not be put back: read xpu-smi config -d N"), changes=changes)
        done.append((gpu, back))
    module.exit_json(changed=True, changes=changes, ecc_reset_needed=ecc, diff=diff)


if __name__ == "__main__":
    main()
