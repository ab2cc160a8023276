"""Print a per-host summary at the end of a play run (and write it as JSON when asked).

Enabled by ansible.cfg (callbacks_enabled = xpu_ops_summary). The roles record
what a person wants to read afterwards with ansible.builtin.set_stats (per host):
GPUs found, reboot required, XPU Manager line/REST, torch check, and verify's verdict
(playbooks/verify.yml: ok, failed check ids, report path).
Set XPU_OPS_SUMMARY_JSON=path to also get it as JSON (invoke provision and the tests read it).
"""
import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: xpu_ops_summary
type: aggregate
short_description: per-host summary of an xpu-ops run
description:
  - Prints one block per host after the recap, from the play stats and the roles' set_stats data.
requirements:
  - enabled in ansible.cfg (callbacks_enabled)
"""


def _truthy(value):
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "xpu_ops_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._start = time.monotonic()

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        summary = {"elapsed_s": round(time.monotonic() - self._start, 1), "hosts": {}}
        for h in hosts:
            s = stats.summarize(h)
            custom = stats.custom.get(h, {}) if stats.custom else {}
            summary["hosts"][h] = {"stats": s, "roles": custom}
        path = os.environ.get("XPU_OPS_SUMMARY_JSON")
        if path:
            with open(path, "w") as f:
                json.dump(summary, f, indent=2, sort_keys=True, default=str)
        if not hosts:
            return
        d = self._display
        d.display("")
        d.display("xpu-ops summary (%.1f s)" % summary["elapsed_s"])
        for h in hosts:
            entry = summary["hosts"][h]
            s = entry["stats"]
            bad = s.get("failures", 0) or s.get("unreachable", 0)
            state = "FAILED" if s.get("failures") else ("UNREACHABLE" if s.get("unreachable") else "ok")
            if state == "FAILED" and "verify" in entry["roles"]:
                state = "provisioned, verify NOT OK"        # only verify's last task fails a host that got there
            d.display("  %s: %s (ok=%d changed=%d failed=%d unreachable=%d skipped=%d)" % (
                h, state, s.get("ok", 0), s.get("changed", 0), s.get("failures", 0),
                s.get("unreachable", 0), s.get("skipped", 0)), color="red" if bad else None)
            roles = entry["roles"]
            drv = roles.get("intel_gpu_driver")
            if drv:
                gpus = ", ".join(drv.get("gpus") or []) or "no Intel GPU found"
                d.display("    driver: %s on %s; GPUs: %s%s%s" % (
                    drv.get("state"), drv.get("os"), gpus, "; WSL2 (user space only)" if drv.get("wsl2") else "",
                    "; REBOOT REQUIRED" if drv.get("reboot_required") else ""))
            xm = roles.get("xpumanager")
            if xm:
                d.display("    xpumanager: %s" % xm.get("summary"))
            pt = roles.get("pytorch_xpu")
            if pt:
                d.display("    pytorch_xpu: %s" % pt.get("summary"))
            vf = roles.get("verify")
            if vf:
                d.display("    verify: %s" % vf.get("line"), color=None if _truthy(vf.get("ok")) else "red")
