"""kernel.log: saved kernel logs classified per PCI address, in each format a log comes in.

The messages below are printed by the kernel; each is the format string of its source file filled in as the
kernel fills it (dev_*/drm_* prefix "<driver> <bdf>: ", drm_* adds "[drm] "). Sources (torvalds/linux, the
stored version read, path @ commit):
  drivers/gpu/drm/xe/xe_device.c @ 6867849aac964c47532897b4f843dfb2311216db
      xe_device_declare_wedged: drm_err "CRITICAL: Xe has declared device %s as wedged.\\n..."
  drivers/gpu/drm/xe/xe_guc_submit.c @ 36ec807b627b4c0a0a382f0ae48eac7187d14b2b
      xe_guc_exec_queue_reset_handler: xe_gt_info "Engine reset: engine_class=%s, logical_mask: 0x%x, guc_id=%d"
  drivers/gpu/drm/xe/xe_guc.c @ 5dcf8655cc80a48065ba0a224e794106c147c14b: "GuC load failed: status = 0x%08X"
  drivers/gpu/drm/xe/xe_survivability_mode.c @ 9b966ae42235a88eaea714be09ff3d698535bdfe: dev_err "In Survivability Mode"
  drivers/gpu/drm/xe/xe_vram.c @ c8faf11cd192214e231626c3ee973a35d8fc33f2: drm_info "Small BAR device"
  drivers/gpu/drm/i915/i915_gpu_error.c @ 72f95afa5faaf899f7344879b6ccd5f0cb271b28: "GPU HANG: ecode %d:%x:%08x"
      (+ ", in %s [%d]")
  drivers/gpu/drm/i915/gt/intel_reset.c @ 9cc06dbaf437010fba67fc8adb371d39197e75d7: intel_gt_reset
      "Resetting chip for %s", "Failed to reset chip" (then wedged)
  drivers/gpu/drm/i915/gt/uc/intel_uc_fw.c @ 301efe96f777c0197502b9399694ae83779579b3:
      "%s firmware %s: fetch failed %pe"
  drivers/base/dd.c @ 5a7a9efdb193d3c8a35821548a8e99612c358828: call_driver_probe dev_err
      "probe with driver %s failed with error %d"
  kernel/module/signing.c @ ebd072ea164a9c5a0d6cf9d73f3091868ff62b7d: module_sig_check pr_notice
      "Loading of %s is rejected" with reason "module with unavailable key"
"""
import pytest

from checks import kernel_log as K
from tests.support import hosttree
from tests.support.verify_run import assert_clean_error, check_of, run_json, run_verify

XE, I915 = "0000:03:00.0", "0000:00:02.0"
MESSAGES = {
    "wedged": "xe %s: [drm] *ERROR* CRITICAL: Xe has declared device %s as wedged." % (XE, XE),
    "engine_reset": "xe %s: [drm] GT0: Engine reset: engine_class=ccs, logical_mask: 0x1, guc_id=4" % XE,
    "firmware": "xe %s: [drm] GT0: GuC load failed: status = 0x400000A0" % XE,
    "survivability": "xe %s: In Survivability Mode" % XE,
    "small_bar": "xe %s: [drm] Small BAR device" % XE,
    "probe_failed": "xe %s: probe with driver xe failed with error -22" % XE,
    "hang": "i915 %s: [drm] GPU HANG: ecode 12:1:85dffffb, in python3 [4242]" % I915,
    "i915_reset": "i915 %s: [drm] Resetting chip for stopped heartbeat on rcs0" % I915,
    "i915_fw": "i915 %s: [drm] *ERROR* GT0: GuC firmware i915/tgl_guc_70.bin: fetch failed -ENOENT" % I915,
    "module_rejected": "Loading of module with unavailable key is rejected",
}


def _dmesg(msgs):
    return ["[%8.6f] %s" % (i + 2.5, m) for i, m in enumerate(msgs)]


def _journal(msgs):
    return ["Nov 30 10:0%d:00 gpu07 kernel: %s" % (i % 10, m) for i, m in enumerate(msgs)]


def _kmsg(msgs):
    return ["%d,%d,%d,-;%s" % (3, 1000 + i, 2500000 + i, m) for i, m in enumerate(msgs)]


@pytest.mark.parametrize("fmt", [_dmesg, _journal, _kmsg, list])
def test_every_message_is_classified_per_address_in_every_format(fmt):
    c = K.classify(fmt(list(MESSAGES.values()) + ["xe %s: [drm] Using GuC firmware from xe/bmg_guc_70.bin" % XE]))
    assert c["events"][XE] == {"wedged": 1, "engine_reset": 1, "firmware": 1, "survivability": 1, "small_bar": 1,
                               "probe_failed": 1}
    assert c["events"][I915] == {"hang": 1, "engine_reset": 1, "firmware": 1}
    assert c["events"]["*"] == {"module_rejected": 1}
    assert c["counts"]["engine_reset"] == 2 and c["lines"] == len(MESSAGES) + 1


def _verify_log(tmp_path, lines, tree=hosttree.arc_b_xe):
    tree(tmp_path / "root")
    log = tmp_path / "k.log"
    log.write_text("\n".join(lines) + "\n")
    return run_json("--root", tmp_path / "root", "--only", "kernel.log", "--kernel-log", log)


def test_hangs_and_resets_warn_with_counts(tmp_path):
    msgs = [MESSAGES["engine_reset"]] * 3 + ["xe %s: [drm] GT0: Engine reset: engine_class=rcs, logical_mask: 0x1,"
                                             " guc_id=2" % XE]
    r, rep = _verify_log(tmp_path, _journal(msgs))
    c = check_of(rep, "kernel.log")
    assert c["status"] == "warn" and r.returncode == 0
    assert "%s: 4 engine reset(s)" % XE in c["detail"]
    assert c["evidence"]["counts"]["engine_reset"] == 4


def test_wedged_device_fails_with_rebind(tmp_path):
    r, rep = _verify_log(tmp_path, _dmesg([MESSAGES["engine_reset"], MESSAGES["wedged"]]))
    c = check_of(rep, "kernel.log")
    assert c["status"] == "fail" and r.returncode == 1
    assert "declared wedged" in c["detail"]
    assert "echo %s | sudo tee /sys/bus/pci/drivers/xe/unbind" % XE in c["remedy"] and "reboot" in c["remedy"]


def test_secure_boot_rejection_fails_with_mok(tmp_path):
    r, rep = _verify_log(tmp_path, _kmsg([MESSAGES["module_rejected"]]))
    c = check_of(rep, "kernel.log")
    assert c["status"] == "fail"
    assert "Secure Boot rejected 1 module load(s)" in c["detail"]
    assert "mokutil --import" in c["remedy"] and "signed module" in c["remedy"]


def test_probe_failure_survivability_and_firmware_fail(tmp_path):
    r, rep = _verify_log(tmp_path, _dmesg([MESSAGES["probe_failed"], MESSAGES["survivability"], MESSAGES["firmware"]]))
    c = check_of(rep, "kernel.log")
    assert c["status"] == "fail"
    for words in ("survivability mode", "probe failed", "firmware failed to load"):
        assert words in c["detail"]


def test_survivability_from_sysfs_alone(tmp_path):
    t = hosttree.arc_b_xe(tmp_path / "root")
    t.write("/sys/bus/pci/devices/%s/survivability_mode" % XE, "1\n")
    log = tmp_path / "k.log"
    log.write_text("")
    r, rep = run_json("--root", tmp_path / "root", "--only", "kernel.log", "--kernel-log", log)
    c = check_of(rep, "kernel.log")
    assert c["status"] == "fail" and "survivability mode" in c["detail"]


def test_quiet_log_passes(tmp_path):
    r, rep = _verify_log(tmp_path, _journal(["xe %s: [drm] Using GuC firmware from xe/bmg_guc_70.bin" % XE]))
    c = check_of(rep, "kernel.log")
    assert c["status"] == "pass" and "1 lines" in c["detail"]


def test_root_tree_kern_log_is_read(tmp_path):
    t = hosttree.arc_a_i915(tmp_path)
    t.kern_log([MESSAGES["hang"].replace(I915, t.expect["gpus"][0])])
    r, rep = run_json("--root", tmp_path, "--only", "kernel.log")
    c = check_of(rep, "kernel.log")
    assert c["status"] == "warn" and "1 GPU hang(s)" in c["detail"]
    assert c["evidence"]["source"] == "/var/log/kern.log"


def test_missing_kernel_log_file_is_a_usage_error(tmp_path):
    line = assert_clean_error(run_verify("--root", tmp_path, "--kernel-log", tmp_path / "nope"))
    assert "--kernel-log" in line and "no such file" in line


def test_fleet_textfile_has_kernel_event_counts(tmp_path):
    """xpu_ops_gpu_kernel_events{host,kind} from a real verify report of a host whose log has resets."""
    from xpu_ops import fleet as F
    from xpu_ops import remote

    from tests.support.fleet_formats import parse_prometheus
    r, rep = _verify_log(tmp_path, _dmesg([MESSAGES["engine_reset"]] * 2 + [MESSAGES["hang"]]))
    t = remote.Target(name="gpu07", host="10.0.0.7", user="root", port=22)
    f = F.fleet_report([remote.Outcome(target=t, report=rep, exit=r.returncode, seconds=0.3)], ["kernel.log"],
                       1000.0, 1001.0)
    m = parse_prometheus(F.render_prometheus(f))
    assert m[("xpu_ops_gpu_kernel_events", (("host", "gpu07"), ("kind", "engine_reset")))] == 2
    assert m[("xpu_ops_gpu_kernel_events", (("host", "gpu07"), ("kind", "hang")))] == 1
    assert m[("xpu_ops_gpu_kernel_events", (("host", "gpu07"), ("kind", "wedged")))] == 0


def test_new_checks_are_listed_and_in_junit(tmp_path):
    import xml.etree.ElementTree as ET
    listed = run_verify("--list").stdout.split()
    assert "kernel.log" in listed and "levelzero" in listed
    hosttree.arc_a_i915(tmp_path / "root")
    log = tmp_path / "k.log"
    log.write_text(MESSAGES["wedged"] + "\n")
    r = run_verify("--root", tmp_path / "root", "--only", "kernel.log,levelzero", "--kernel-log", log,
                   "--junit", tmp_path / "j.xml")
    assert r.returncode == 1
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "j.xml").getroot().iter("testcase")}
    assert cases["kernel.log"].find("failure") is not None and cases["levelzero"].find("skipped") is not None
