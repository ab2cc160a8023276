#!/usr/bin/env python3
"""Stand-in for XPU Manager 1.x's `xpu-smi` (tests only): the commands xpu-ops drives, with upstream's JSON and
exit codes. Installed as /usr/bin/xpu-smi on the test hosts; standard library only.

Written from intel/xpumanager at commit 57e44f558a3c3f4e7ec3cdfae6ccd8739ffb3be5 (branch master, the 1.3 line):
- doc/smi_user_guide.md: the subcommands and options (discovery, diag -d N -l L, config -d N [-t T]
  --powerlimit/--frequencyrange/--standby/--scheduler/--memoryecc, ps, health, updatefw -d N -t GFX -f FILE -y).
- cli/src/core_stub/lib_core_stub.cpp: the JSON keys: getDiagnosticsResult (device_id, level, finished, message,
  component_count, start_time, end_time, result Pass/Fail, errno 45 when not Pass, component_list of
  component_type/finished/message/result), getDeviceConfig (device_id, pl_card_sustain, power_valid_range,
  memory_ecc_current_state/pending_state, tile_config_data of tile_id "D/T", min_frequency, max_frequency,
  standby_mode, scheduler_mode + scheduler_timeslice_interval/..._yield_timeout or scheduler_watchdog_timeout,
  gpu_frequency_valid_options), getDeviceUtilizationByProcess (`ps -j`: device_util_by_proc_list of process_id,
  process_name, device_id, mem_size, shared_mem_size),
  getHealth (core_temperature, memory_temperature, power, memory, xe_link_port, frequency: status OK/Warning/...),
  set*: {"status": "OK"} or {"error", "errno"}.
- cli/src/comlet_config.cpp: a set answers {"status": "OK", "return": "Succeed to ..."}; a bad parameter
  {"return": "invalid parameter: ..."} with exit 2 (XPUM_CLI_ERROR_BAD_ARGUMENT).
- cli/src/comlet_firmware.cpp validateArguments: AMC only for every card at once (with -d: errno 24 "Updating AMC
  firmware on single device is not supported"); getTableResult's AMC question ("CAUTION: ... Please confirm to
  proceed (y/n)"), which shows no version. getJsonResult: -j prints {"result": "OK"} or
  {"result": "FAILED", "errno": 41} and asks nothing; FAILED still exits 0 (exit_code is not set on that path).
  getTableResult (no -j): "Device N FW version: X", "Image FW version: Y", "Do you want to continue? (y/n) " read
  from stdin unless -y, "update aborted" (exit 0) on any answer but y.
- cli/src/comlet_base.h: the exit code is the JSON's errno; cli/src/exit_code.h: the numbers.
- cli/src/comlet_discovery.cpp: `discovery -d N -j` property keys (gfx_firmware_version, gfx_data_firmware_version,
  amc_firmware_version, number_of_tiles).
- core/include/xpum_structs.h, core/src/diagnostic/diagnostic_manager.cpp: which tests each level runs
  (level 1: env variables, library, permission, exclusive, light computation; level 2 adds integration PCIe and
  media codec; level 3 adds the performance tests and memory error) and their "Pass to check ..." messages.

What it cannot do is said in docs/operate.md ("What the xpu-smi stand-in does not reproduce").

State (the GPUs, their settings, what fails) is one JSON file: $XPU_SMI_STANDIN_STATE, else
/var/lib/xpu-smi-standin/state.json; a missing file means DEFAULT_STATE. A firmware image for the stand-in is a
file whose first line is `XPU-SMI-STANDIN-IMAGE <version>`; anything else is not a valid image (errno 29).
"""
import copy
import json
import os
import sys
import time

STATE_PATH = os.environ.get("XPU_SMI_STANDIN_STATE", "/var/lib/xpu-smi-standin/state.json")
# exit_code.h
GENERIC, BAD_ARGUMENT, DEVICE_NOT_FOUND, TILE_NOT_FOUND = 1, 2, 4, 5
IMAGE_NOT_FOUND, INVALID_IMAGE, UPDATE_FAIL, DIAG_INVALID_LEVEL, DIAG_FAILED = 22, 29, 41, 37, 45

LEVEL_TESTS = {  # xpum_diag_task_type_t names (REST) and the CLI's names (diagnosticTypeEnumToString)
    1: [("XPUM_DIAG_SOFTWARE_ENV_VARIABLES", "Software Env Variables", "Pass to check environment variables."),
        ("XPUM_DIAG_SOFTWARE_LIBRARY", "Software Library", "Pass to check libraries."),
        ("XPUM_DIAG_SOFTWARE_PERMISSION", "Software Permission", "Pass to check permission."),
        ("XPUM_DIAG_SOFTWARE_EXCLUSIVE", "Software Exclusive", "Pass to check the software exclusive."),
        ("XPUM_DIAG_LIGHT_COMPUTATION", "Computation Check", "Pass to check computation.")],
    2: [("XPUM_DIAG_INTEGRATION_PCIE", "Integration PCIe",
         "Pass to check PCIe bandwidth. \n Mean: 24.123 GBPS. Var: 0.012."),
        ("XPUM_DIAG_MEDIA_CODEC", "Media Codec", "Pass to check Media transcode performance.")],
    3: [("XPUM_DIAG_PERFORMANCE_COMPUTATION", "Performance Computation",
         "Pass to check computation performance. \n Mean: 11120.225 GFLOPS. Var: 1.5."),
        ("XPUM_DIAG_PERFORMANCE_POWER", "Performance Power", "Pass to check stress power. \n Mean: 120.5 W. Var: 0.3."),
        ("XPUM_DIAG_PERFORMANCE_MEMORY_BANDWIDTH", "Performance Memory Bandwidth",
         "Pass to check memory bandwidth. \n Mean: 450.1 GBPS. Var: 2.1."),
        ("XPUM_DIAG_PERFORMANCE_MEMORY_ALLOCATION", "Performance Memory Allocation",
         "Pass to check memory allocation."),
        ("XPUM_DIAG_MEMORY_ERROR", "Memory Error", "Pass to check memory error.")],
}

DEFAULT_STATE = {
    "devices": [{
        "device_id": 0, "device_name": "Intel(R) Data Center GPU Flex 170", "device_type": "GPU",
        "pci_bdf_address": "0000:4d:00.0", "pci_device_id": "0x56c0", "uuid": "01000000-0000-0000-0000-000000004d00",
        "vendor_name": "Intel(R) Corporation", "gfx_firmware_version": "DG02_1.3170",
        "gfx_data_firmware_version": "0x0", "amc_firmware_version": "6.5.0.0",
        "pl_card_sustain": 150.0, "power_min": 1, "power_max": 150,
        "memory_ecc_current_state": "enabled", "memory_ecc_pending_state": "enabled", "ecc_configurable": True,
        "tiles": [{"min_frequency": 300, "max_frequency": 2050, "standby_mode": "default",
                   "scheduler_mode": "timeslice", "scheduler_timeslice_interval": 5000,
                   "scheduler_timeslice_yield_timeout": 640000}],
        "frequency_options": list(range(300, 2051, 50)),
        "unsupported": [],          # settings this GPU refuses: "standby", "scheduler", "frequencyrange", ...
        "diag_fail": [],            # component types (XPUM_DIAG_*) that fail
        "health": "OK",
        "processes": [],            # [{"process_id": 1234, "process_name": "python3"}]
        "update_fails": False,
    }],
}


def load():
    try:
        with open(STATE_PATH) as f:
            return json.load(f)
    except FileNotFoundError:
        return copy.deepcopy(DEFAULT_STATE)


def save(state):
    d = os.path.dirname(STATE_PATH)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = STATE_PATH + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, STATE_PATH)


def emit(obj, as_json, text=None):
    """Print JSON (dump(4), as upstream's printJson) or the table text; the exit code is the errno."""
    if as_json:
        print(json.dumps(obj, indent=4))
    elif "error" in obj:
        print("Error: " + obj["error"])
    else:
        print(text if text is not None else obj.get("return", json.dumps(obj)))
    return obj.get("errno", 0) if "error" in obj or obj.get("result") == "Fail" else obj.get("_exit", 0)


def parse(argv):
    opts, rest = {}, list(argv)
    flags = {"-j": "json", "--json": "json", "-y": "yes", "--assumeyes": "yes", "--force": "force"}
    while rest:
        a = rest.pop(0)
        if a in flags:
            opts[flags[a]] = True
        elif a.startswith("-"):
            if not rest:
                raise ValueError(a)
            opts[a.lstrip("-")] = rest.pop(0)
        else:
            raise ValueError(a)
    return opts


def find(state, dev):
    for d in state["devices"]:
        if str(d["device_id"]) == str(dev) or d["pci_bdf_address"] == dev:
            return d
    return None


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000Z"


def cmd_discovery(state, o):
    keys = ("device_id", "device_name", "device_type", "pci_bdf_address", "pci_device_id", "uuid", "vendor_name")
    if "d" in o or "device" in o:
        d = find(state, o.get("d", o.get("device")))
        if d is None:
            return emit({"error": "device not found", "errno": DEVICE_NOT_FOUND}, o.get("json"))
        out = {k: d[k] for k in keys}
        out.update({k: d[k] for k in ("gfx_firmware_version", "gfx_data_firmware_version", "amc_firmware_version")})
        out["number_of_tiles"] = str(len(d["tiles"]))       # a string, as every property (comlet_dump.cpp reads it so)
        return emit(out, o.get("json"), "\n".join("%s: %s" % kv for kv in out.items()))
    out = {"device_list": [{k: d[k] for k in keys} for d in state["devices"]]}
    return emit(out, o.get("json"), "\n".join("%(device_id)s %(device_name)s %(pci_bdf_address)s" % d
                                              for d in state["devices"]))


def cmd_diag(state, o):
    level = o.get("l", o.get("level"))
    d = find(state, o.get("d", o.get("device", "")))
    if d is None:
        return emit({"error": "device not found", "errno": DEVICE_NOT_FOUND}, o.get("json"))
    if level not in ("1", "2", "3"):
        return emit({"error": "invalid level", "errno": DIAG_INVALID_LEVEL}, o.get("json"))
    start = time.time()
    comps = []
    for lv in range(1, int(level) + 1):
        for raw, name, msg in LEVEL_TESTS[lv]:
            fail = raw in d.get("diag_fail", [])
            if raw == "XPUM_DIAG_SOFTWARE_EXCLUSIVE" and len(d.get("processes", [])) > 1:
                msg = "Warning: %d processses are using the device." % len(d["processes"])
            comps.append({"component_type": name, "finished": True, "result": "Fail" if fail else "Pass",
                          "message": ("Fail to check %s." % name.lower()) if fail else msg})
    ok = all(c["result"] == "Pass" for c in comps)
    out = {"device_id": d["device_id"], "level": int(level), "finished": True, "message": "",
           "component_count": len(comps), "start_time": iso(start), "end_time": iso(time.time()),
           "result": "Pass" if ok else "Fail", "component_list": comps}
    if not ok:
        out["errno"] = DIAG_FAILED
    return emit(out, o.get("json"), "\n".join("%s: %s %s" % (c["component_type"], c["result"], c["message"])
                                              for c in comps))


def _config_view(d):
    out = {"device_id": d["device_id"], "pl_card_sustain": d["pl_card_sustain"],
           "power_valid_range": "%d to %d" % (d["power_min"], d["power_max"]),
           "memory_ecc_current_state": d["memory_ecc_current_state"],
           "memory_ecc_pending_state": d["memory_ecc_pending_state"], "pcie_downgrade_current_state": ""}
    tiles = []
    for i, t in enumerate(d["tiles"]):
        tj = {"tile_id": "%d/%d" % (d["device_id"], i), "min_frequency": t["min_frequency"],
              "max_frequency": t["max_frequency"], "standby_mode": t["standby_mode"],
              "scheduler_mode": t["scheduler_mode"],
              "gpu_frequency_valid_options": ", ".join(str(x) for x in d["frequency_options"]),
              "standby_mode_valid_options": "default, never", "compute_engine": "compute", "media_engine": "media"}
        for k in ("scheduler_timeslice_interval", "scheduler_timeslice_yield_timeout", "scheduler_watchdog_timeout"):
            if k in t:
                tj[k] = t[k]
        tiles.append(tj)
    out["tile_config_data"] = tiles
    return out


def _set(state, d, o):
    """One change (comlet_config.cpp's order: scheduler, powerlimit, standby, frequencyrange, memoryecc)."""
    tile = o.get("t", o.get("tile"))
    dev = d["device_id"]
    sets = [k for k in ("scheduler", "powerlimit", "standby", "frequencyrange", "memoryecc") if k in o]
    name = sets[0]
    if name in d.get("unsupported", []):
        return {"error": "Access denied due to permission level or operation unsupported.", "errno": GENERIC}
    if name != "powerlimit" and name != "memoryecc":
        if tile is None:
            return {"error": "Wrong argument or unknown operation, run with --help for more information.",
                    "errno": BAD_ARGUMENT}
        if not tile.isdigit() or int(tile) >= len(d["tiles"]):
            return {"error": "Error", "errno": TILE_NOT_FOUND}
        t = d["tiles"][int(tile)]
    v = o[name]
    if name == "powerlimit":
        try:
            w = int(v)
        except ValueError:
            return {"return": "invalid parameter: powerlimit", "_exit": BAD_ARGUMENT}
        if w <= 0:
            return {"return": "invalid parameter: power limit should greater than 0.", "_exit": BAD_ARGUMENT}
        if not d["power_min"] <= w <= d["power_max"]:
            return {"error": "Invalid power limit value", "errno": BAD_ARGUMENT}
        d["pl_card_sustain"] = float(w)
        return {"status": "OK", "return": "Succeed to set the power limit on GPU %d" % dev}
    if name == "standby":
        if v.lower() not in ("default", "never"):
            return {"return": "invalid parameter: standby mode", "_exit": BAD_ARGUMENT}
        t["standby_mode"] = v.lower()
        return {"status": "OK", "return": "Succeed to change the standby mode on GPU %d." % dev}
    if name == "frequencyrange":
        try:
            lo, hi = (int(x) for x in v.split(","))
        except ValueError:
            return {"return": "invalid parameter: frequencyrange", "_exit": BAD_ARGUMENT}
        opts = d["frequency_options"]
        if lo > hi or lo < min(opts) or hi > max(opts):
            return {"error": "Error", "errno": BAD_ARGUMENT}
        t["min_frequency"], t["max_frequency"] = lo, hi
        return {"status": "OK", "return": "Succeed to change the core frequency range on GPU %d tile %s." % (dev, tile)}
    if name == "scheduler":
        parts = v.split(",")
        for k in ("scheduler_timeslice_interval", "scheduler_timeslice_yield_timeout", "scheduler_watchdog_timeout"):
            t.pop(k, None)
        try:
            nums = [int(x) for x in parts[1:]]
        except ValueError:
            return {"return": "invalid parameter: %s" % parts[0], "_exit": BAD_ARGUMENT}
        if parts[0] == "timeout" and len(nums) == 1 and 5000 <= nums[0] <= 100000000:
            t["scheduler_watchdog_timeout"] = nums[0]
        elif parts[0] == "timeslice" and len(nums) == 2 and all(5000 <= n <= 100000000 for n in nums):
            t["scheduler_timeslice_interval"], t["scheduler_timeslice_yield_timeout"] = nums
        elif parts[0] == "exclusive" and not nums:
            pass
        else:
            return {"return": "invalid scheduler mode", "_exit": BAD_ARGUMENT}
        t["scheduler_mode"] = parts[0]
        return {"status": "OK", "return": "Succeed to change the scheduler mode on GPU %d tile %s." % (dev, tile)}
    # memoryecc: takes effect after a reset (pending state)
    if v not in ("0", "1"):
        return {"return": "invalid parameter: memoryecc", "_exit": BAD_ARGUMENT}
    if not d.get("ecc_configurable", True):
        return {"error": "Error Failed to set memory Ecc state: available: true, configurable: false, current: %s, "
                "pending: %s, action: none" % (d["memory_ecc_current_state"], d["memory_ecc_pending_state"]),
                "errno": GENERIC}
    d["memory_ecc_pending_state"] = "enabled" if v == "1" else "disabled"
    return {"status": "OK", "return": "Succeed to change the ECC mode to be %s on GPU %d. Please reset GPU or reboot "
            "OS to take effect." % (d["memory_ecc_pending_state"], dev)}


def cmd_config(state, o):
    d = find(state, o.get("d", o.get("device", "")))
    if d is None:
        return emit({"error": "device Id or tile Id is invalid", "errno": DEVICE_NOT_FOUND}, o.get("json"))
    if any(k in o for k in ("scheduler", "powerlimit", "standby", "frequencyrange", "memoryecc")):
        out = _set(state, d, o)
        if out.get("status") == "OK":
            save(state)
        if "return" in out and not o.get("json"):
            print("Return: " + out["return"])
            return out.get("_exit", 0)
        if "error" not in out and out.get("status") != "OK":
            out["_exit"] = BAD_ARGUMENT
        code = emit({k: v for k, v in out.items() if k != "_exit"}, o.get("json"))
        return code or out.get("_exit", 0)
    view = _config_view(d)
    return emit(view, o.get("json"), json.dumps(view, indent=2))


def cmd_ps(state, o):
    devs = state["devices"]
    if "d" in o or "device" in o:
        d = find(state, o.get("d", o.get("device")))
        if d is None:
            return emit({"error": "Error", "errno": DEVICE_NOT_FOUND}, o.get("json"))
        devs = [d]
    procs = [dict(p, device_id=d["device_id"], mem_size=1966, shared_mem_size=0) for d in devs for p in d["processes"]]
    return emit({"device_util_by_proc_list": procs}, o.get("json"),
                "\n".join("%(process_id)-9s %(process_name)-19s %(device_id)s" % p for p in procs))


def cmd_health(state, o):
    d = find(state, o.get("d", o.get("device", "")))
    if d is None:
        return emit({"error": "device not found", "errno": DEVICE_NOT_FOUND}, o.get("json"))
    out = {"device_id": d["device_id"]}
    for comp in ("core_temperature", "memory_temperature", "power", "memory", "xe_link_port", "frequency"):
        st = d["health"] if comp == "core_temperature" else "OK"
        out[comp] = {"status": st, "description": "All temperature sensors are healthy." if st == "OK"
                     else "The temperature is over the throttle threshold."}
    return emit(out, o.get("json"), json.dumps(out, indent=2))


def _updatefw_amc(state, o, path):
    """AMC: every card at once, never one device (validateArguments: errno 24); its own question."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError:
        return emit({"error": "Firmware image not found.", "errno": IMAGE_NOT_FOUND}, o.get("json"))
    if not o.get("json"):
        print("CAUTION: it will update the AMC firmware of all cards and please make sure that you install the GPUs "
              "of the same model.")
        sys.stdout.write("Please confirm to proceed (y/n) ")
        sys.stdout.flush()
        if not o.get("yes") and (sys.stdin.readline() or "").strip() not in ("y", "Y"):
            print("update aborted")
            return 0
        print("")
    for d in state["devices"]:
        d["amc_firmware_version"] = state.get("amc_image_version", "6.5.1.0")
    save(state)
    return emit({"result": "OK"}, o.get("json"), "Firmware update successful.")


def cmd_updatefw(state, o):
    typ, path = o.get("t", o.get("type")), o.get("f", o.get("file"))
    if typ not in ("GFX", "GFX_DATA", "AMC", "GFX_PSCBIN", "GFX_CODE_DATA", "FAN_TABLE", "VR_CONFIG",
                   "OPROM_DATA", "OPROM_CODE"):
        return emit({"error": "Wrong argument or unknown operation, run with --help for more information.",
                     "errno": BAD_ARGUMENT}, o.get("json"))
    if typ == "AMC":
        if "d" in o or "device" in o:
            return emit({"error": "Updating AMC firmware on single device is not supported", "errno": 24},
                        o.get("json"))
        return _updatefw_amc(state, o, path)
    d = find(state, o.get("d", o.get("device", "")))
    if d is None:
        return emit({"error": "device not found", "errno": DEVICE_NOT_FOUND}, o.get("json"))
    try:
        with open(path, "rb") as f:
            head = f.readline().decode("ascii", "replace").split()
    except OSError:
        return emit({"error": "Firmware image not found.", "errno": IMAGE_NOT_FOUND}, o.get("json"))
    if len(head) != 2 or head[0] != "XPU-SMI-STANDIN-IMAGE":
        return emit({"error": "The image file is not a valid FW image file", "errno": INVALID_IMAGE}, o.get("json"))
    key = {"GFX": "gfx_firmware_version", "GFX_DATA": "gfx_data_firmware_version",
           "AMC": "amc_firmware_version"}.get(typ)
    if not o.get("json"):  # getTableResult: the versions, then a question unless -y (stdin; "update aborted")
        print("Device %s FW version: %s" % (d["device_id"], d.get(key, "")))
        print("Image FW version: %s" % head[1])
        sys.stdout.write("Do you want to continue? (y/n) ")
        sys.stdout.flush()
        if not o.get("yes"):
            answer = (sys.stdin.readline() or "").strip()
            if answer not in ("y", "Y"):
                print("update aborted")
                return 0
        print("")
        print("Starting to update firmware\nFirmware Name: %s\nImage path: %s" % (typ, os.path.abspath(path)))
    if d.get("update_fails"):
        emit({"result": "FAILED", "errno": UPDATE_FAIL}, o.get("json"), "Update firmware failed")
        return 0 if o.get("json") else UPDATE_FAIL
    if key:
        d[key] = head[1]
        save(state)
    return emit({"result": "OK"}, o.get("json"), "Firmware update successful.")


def main(argv):
    if not argv or argv[0] in ("-v", "--version"):
        print("CLI:\n    Version: 1.3.7.standin\n    Build ID: 00000000")
        return 0
    cmd, rest = argv[0], argv[1:]
    handlers = {"discovery": cmd_discovery, "diag": cmd_diag, "config": cmd_config, "ps": cmd_ps,
                "health": cmd_health, "updatefw": cmd_updatefw}
    if cmd not in handlers:
        print("The following argument was not expected: %s\nRun with --help for more information." % cmd)
        return 109          # CLI11's ExtrasError exit code
    try:
        o = parse(rest)
    except ValueError as e:
        print("The following argument was not expected: %s\nRun with --help for more information." % e)
        return 109
    return handlers[cmd](load(), o)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
