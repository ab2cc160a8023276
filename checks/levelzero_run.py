"""Start the Level Zero probe (checks/levelzero_probe.py) in an isolated child of this interpreter."""
import sys

# The loader's debug trace (oneapi-src/level-zero source/loader/ze_loader.cpp: debug_trace_message, lines
# "ZE_LOADER_DEBUG_TRACE:..." on stderr; not in Debian 12's loader, v1.8.12) and Sysman on the zeInit devices
# (the ZES_ENABLE_SYSMAN method; include/zes_api.h at d3b3efbdaa27a0aef9a9812cc8fa4260557c1e7c calls it
# deprecated in favour of zesInit, which v1.8.12 does not have, and still supported).
PROBE_ENV = {"ZE_ENABLE_LOADER_DEBUG_TRACE": "1", "ZES_ENABLE_SYSMAN": "1"}
TRACE_MARK = "ZE_LOADER_DEBUG_TRACE:"

# ze_result_t values (include/ze_api.h, tag v1.8.12): names for the codes a probe meets.
RESULTS = {
    0x0: "ZE_RESULT_SUCCESS", 0x70000001: "ZE_RESULT_ERROR_DEVICE_LOST",
    0x70000002: "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY", 0x70000003: "ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY",
    0x70000006: "ZE_RESULT_ERROR_DEVICE_REQUIRES_RESET", 0x70000007: "ZE_RESULT_ERROR_DEVICE_IN_LOW_POWER_STATE",
    0x70010000: "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS", 0x70010001: "ZE_RESULT_ERROR_NOT_AVAILABLE",
    0x70020000: "ZE_RESULT_ERROR_DEPENDENCY_UNAVAILABLE", 0x78000001: "ZE_RESULT_ERROR_UNINITIALIZED",
    0x78000002: "ZE_RESULT_ERROR_UNSUPPORTED_VERSION", 0x78000003: "ZE_RESULT_ERROR_UNSUPPORTED_FEATURE",
    0x78000004: "ZE_RESULT_ERROR_INVALID_ARGUMENT", 0x7ffffffe: "ZE_RESULT_ERROR_UNKNOWN",
}


def result_name(code):
    if code is None:
        return None
    return RESULTS.get(code, "0x%08x" % code)


class LevelZeroProbe:
    def __init__(self, timeout, env=None):
        from checks.child import ChildProbe
        from checks.families import package_data
        self.child = ChildProbe(sys.executable, package_data("levelzero_probe.py").decode(), timeout, env,
                                extra_env=PROBE_ENV, what="Level Zero probe")

    def result(self):
        from checks.child import tail
        r = self.child.result()
        stderr = r.get("stderr_all") or []
        out = {"outcome": r["outcome"], "reason": r.get("reason"),
               "trace": [x[len(TRACE_MARK):].strip() for x in stderr if x.startswith(TRACE_MARK)][-20:],
               "stderr": tail([x for x in stderr if not x.startswith(TRACE_MARK)]),
               "stderr_all": [x for x in stderr if "Small BAR" in x][-5:]}
        if r["outcome"] == "ok":
            out.update(r["data"])
            out["init_name"] = result_name(out.get("init"))
        return out


def start(opts, root, facts):
    """The levelzero fact: the probe's answer; {"skipped": why} under --root or without an Intel GPU (no child
    is started on a host that has nothing for Level Zero to find)."""
    if not root.is_real:
        return {"skipped": "--root %s: the Level Zero runtime can only be asked on the running host" % root.base}
    if not facts["pci"].get("gpus"):
        return {"skipped": "no Intel GPU (see pci.gpu)"}
    return LevelZeroProbe(min(opts.torch_timeout, 30.0), opts.env).result()
