"""verify against host trees laid out as the kernel lays them out (tests/support/hosttree.py presets),
run as a user runs it: `python -m checks --root TREE --json`, a real process."""
import json
import os
import xml.etree.ElementTree as ET

from tests.support import hosttree as ht
import pytest

from tests.support.verify_run import assert_clean_error, check_of, run_json, run_verify

HW = ["platform", "pci.gpu", "kernel.driver", "dri.nodes", "dri.access", "firmware", "userspace"]

# preset -> expected status per check (the hardware and kernel layers; XPU Manager and torch are tested apart)
EXPECT = {
    "arc_a_i915": dict(zip(HW, ["pass"] * 7)),
    "arc_b_xe": dict(zip(HW, ["pass"] * 7)),
    "max_i915": dict(zip(HW, ["pass"] * 7)),
    "flex_i915": dict(zip(HW, ["pass"] * 7)),
    "integrated_adl": dict(zip(HW, ["pass"] * 7)),
    "no_proc_modules": dict(zip(HW, ["pass"] * 7)),
    "gpu_no_driver": {"pci.gpu": "pass", "kernel.driver": "fail", "dri.nodes": "skip", "dri.access": "skip"},
    "bound_no_render": {"kernel.driver": "pass", "dri.nodes": "fail", "dri.access": "skip"},
    "render_not_accessible": {"dri.nodes": "pass", "dri.access": "fail"},
    "wsl2": {"platform": "pass", "pci.gpu": "skip", "kernel.driver": "skip", "dri.nodes": "skip",
             "dri.access": "skip", "firmware": "skip", "userspace": "pass"},
    "nvidia_only": {"pci.gpu": "fail", "kernel.driver": "skip", "dri.nodes": "skip", "firmware": "skip",
                    "userspace": "fail"},
    "intel_host_bridge_only": {"pci.gpu": "fail", "kernel.driver": "skip", "userspace": "fail"},
    "degraded_link": {"pci.gpu": "warn", "kernel.driver": "pass", "dri.access": "pass"},
    "rebar_off": {"pci.gpu": "fail", "kernel.driver": "pass"},
}


def verify_tree(tmp_path, preset, *extra):
    root = tmp_path / preset
    tree = ht.PRESETS[preset](root)
    r, rep = run_json("--root", root, "--user", "alice", "--only", ",".join(HW), *extra)
    return tree, r, rep


@pytest.mark.parametrize("preset", sorted(EXPECT))
def test_preset_statuses(tmp_path, preset):
    tree, r, rep = verify_tree(tmp_path, preset)
    got = {c["id"]: c["status"] for c in rep["checks"]}
    want = EXPECT[preset]
    assert {k: got[k] for k in want} == want, json.dumps(rep["checks"], indent=1)[:4000]
    assert r.returncode == (1 if "fail" in got.values() else 0)
    assert rep["ok"] == (r.returncode == 0)
    assert sum(rep["summary"].values()) == len(HW)
    for c in rep["checks"]:
        if c["status"] in ("fail", "warn"):
            assert c["remedy"].strip(), c       # every failure says what to do
        else:
            assert c["remedy"] == ""


@pytest.mark.parametrize("preset", ["arc_a_i915", "arc_b_xe", "max_i915", "flex_i915", "integrated_adl"])
def test_gpus_section_matches_the_tree(tmp_path, preset):
    tree, r, rep = verify_tree(tmp_path, preset)
    exp = tree.expect
    assert [g["bdf"] for g in rep["gpus"]] == list(exp["gpus"])
    assert {g["driver"] for g in rep["gpus"]} == {exp["driver"]}
    assert {g["family"] for g in rep["gpus"]} == {exp["family"]}
    assert all(g["render"].startswith("/dev/dri/renderD") for g in rep["gpus"])


def test_arc_a_names_and_family(tmp_path):
    _, _, rep = verify_tree(tmp_path, "arc_a_i915")
    c = check_of(rep, "pci.gpu")
    assert "8086:56a0" in c["detail"] and "0000:03:00.0" in c["detail"]
    assert "Arc A-series" in c["detail"]
    assert rep["gpus"][0]["device_id"] == "0x56a0" and rep["gpus"][0]["vendor_id"] == "0x8086"


def test_name_falls_back_to_family_table_without_pci_ids(tmp_path):
    root = tmp_path / "t"
    ht.arc_b_xe(root)
    for p in ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids"):
        if (root / p).exists():
            (root / p).unlink()
    _, rep = run_json("--root", root, "--only", "pci.gpu")
    ev = check_of(rep, "pci.gpu")["evidence"]["gpus"][0]
    assert ev["name_source"] == "family table" and ev["name"] == "Intel Arc B-series (Battlemage)"


def test_host_bridge_is_not_a_gpu(tmp_path):
    _, r, rep = verify_tree(tmp_path, "intel_host_bridge_only")
    c = check_of(rep, "pci.gpu")
    assert c["status"] == "fail" and rep["gpus"] == []
    assert "0000:00:00.0" in c["evidence"]["intel_non_gpu"]
    assert "1234:1111" in c["detail"]          # the VM's display device is named as evidence


def test_nvidia_reported_as_evidence(tmp_path):
    _, r, rep = verify_tree(tmp_path, "nvidia_only")
    c = check_of(rep, "pci.gpu")
    assert c["evidence"]["other_display"][0]["vendor_id"] == 0x10DE
    assert "10de:2684" in c["detail"] and "nvidia" in c["detail"]


def test_render_access_remedy_names_the_nodes_group(tmp_path):
    _, r, rep = verify_tree(tmp_path, "render_not_accessible")
    c = check_of(rep, "dri.access")
    assert "sudo usermod -aG render alice" in c["remedy"]
    assert "log out" in c["remedy"]


def test_render_group_is_read_not_assumed(tmp_path):
    """A distribution whose render node belongs to another group: the remedy names that group."""
    root = tmp_path / "t"
    t = ht.render_not_accessible(root)
    gid = t.group_gid("video")
    os.chown(root / "dev/dri/renderD128", 0, gid)
    os.chmod(root / "dev/dri/renderD128", 0o660)
    _, rep = run_json("--root", root, "--user", "alice", "--only", "dri.access")
    assert check_of(rep, "dri.access")["status"] == "pass"      # alice is in video


def test_root_user_passes_access(tmp_path):
    root = tmp_path / "t"
    ht.render_not_accessible(root)
    _, rep = run_json("--root", root, "--user", "root", "--only", "dri.access")
    assert check_of(rep, "dri.access")["status"] == "pass"


def test_unknown_user_is_a_usage_error(tmp_path):
    root = tmp_path / "t"
    ht.arc_a_i915(root)
    line = assert_clean_error(run_verify("--root", root, "--user", "mallory", "--only", "dri.access"))
    assert "mallory" in line and "/etc/passwd" in line


def test_no_driver_remedy_loads_the_module(tmp_path):
    _, _, rep = verify_tree(tmp_path, "gpu_no_driver")
    c = check_of(rep, "kernel.driver")
    assert "no kernel driver bound" in c["detail"]
    assert "sudo modprobe i915" in c["remedy"]


def test_old_kernel_for_battlemage_names_the_kernel_and_force_probe(tmp_path):
    root = tmp_path / "t"
    t = ht.arc_b_xe(root)
    t.kernel(release="6.8.0-60-generic")
    os.unlink(root / "sys/bus/pci/devices/0000:03:00.0/driver")
    _, rep = run_json("--root", root, "--only", "kernel.driver")
    c = check_of(rep, "kernel.driver")
    assert c["status"] == "fail"
    assert "older than 6.12" in c["detail"]
    assert "xe.force_probe=e20b" in c["remedy"]


def test_max_without_dkms_warns(tmp_path):
    root = tmp_path / "t"
    t = ht.max_i915(root)
    import shutil
    shutil.rmtree(root / ("lib/modules/%s/updates" % t.kernel_release), ignore_errors=True)
    shutil.rmtree(root / ("usr/lib/modules/%s/updates" % t.kernel_release), ignore_errors=True)
    _, rep = run_json("--root", root, "--only", "kernel.driver")
    c = check_of(rep, "kernel.driver")
    assert c["status"] == "warn" and "intel-i915-dkms" in c["remedy"]


def test_rebar_off_is_not_blamed_for_xe_not_binding(tmp_path):
    # xe keeps running with a small BAR (torvalds/linux drivers/gpu/drm/xe/xe_vram.c: "Small BAR device");
    # the BAR matters to the compute runtime, which pci.gpu reports (tests/unit/test_hardware_truth.py).
    _, _, rep = verify_tree(tmp_path, "rebar_off")
    assert "Resizable BAR" not in check_of(rep, "kernel.driver")["detail"]
    assert "BAR2 256 MiB is smaller than the VRAM 12.0 GiB" in check_of(rep, "pci.gpu")["detail"]


def test_degraded_link_is_measured_on_the_cards_upstream_port(tmp_path):
    _, _, rep = verify_tree(tmp_path, "degraded_link")
    d = check_of(rep, "pci.gpu")["detail"]
    assert "2.5 GT/s x1" in d and "0000:01:00.0" in d


def test_healthy_arc_does_not_warn_about_its_internal_x1_link(tmp_path):
    """Real Arc cards report 2.5 GT/s x1 on the GPU function itself; that is not a degraded link."""
    _, _, rep = verify_tree(tmp_path, "arc_a_i915")
    assert check_of(rep, "pci.gpu")["status"] == "pass"


def test_missing_firmware_names_the_package(tmp_path):
    root = tmp_path / "t"
    ht.integrated_adl(root)
    for f in (root / "usr/lib/firmware/i915").glob("adlp_guc*"):
        f.unlink()
    for f in (root / "lib/firmware/i915").glob("adlp_guc*") if (root / "lib/firmware/i915").is_dir() else []:
        f.unlink()
    _, rep = run_json("--root", root, "--only", "firmware")
    c = check_of(rep, "firmware")
    assert c["status"] == "fail" and "GUC" in c["detail"]
    assert "firmware-misc-nonfree" in c["remedy"]          # Debian 12


def test_kernel_log_firmware_errors_warn(tmp_path):
    root = tmp_path / "t"
    t = ht.arc_a_i915(root)
    t.kern_log(["Nov 28 10:00:00 host kernel: i915 0000:03:00.0: [drm] *ERROR* GuC firmware i915/dg2_guc_70.bin: "
                "fetch failed with error -2"])
    _, rep = run_json("--root", root, "--only", "firmware")
    c = check_of(rep, "firmware")
    assert c["status"] == "warn" and "fetch failed" in c["detail"]


def test_old_package_names_warn(tmp_path):
    root = tmp_path / "t"
    t = ht.arc_a_i915(root)
    t.dpkg_status({"level-zero": "1.14.0", "intel-level-zero-gpu": "1.3.27642", "intel-opencl-icd": "23.43"})
    _, rep = run_json("--root", root, "--only", "userspace")
    c = check_of(rep, "userspace")
    assert c["status"] == "warn" and "libze-intel-gpu1" in c["remedy"]


# ---------------------------------------------------------------- bad input


def test_missing_root(tmp_path):
    line = assert_clean_error(run_verify("--root", tmp_path / "nope"))
    assert "no such directory" in line


def test_root_that_is_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    assert "not a directory" in assert_clean_error(run_verify("--root", f))


def test_unknown_only_id(tmp_path):
    line = assert_clean_error(run_verify("--root", tmp_path, "--only", "pci.gpu,gpu.magic"))
    assert "'gpu.magic'" in line and "pci.gpu" in line


def test_unknown_option():
    line = assert_clean_error(run_verify("--frobnicate"))
    assert "--frobnicate" in line


def test_garbage_in_sysfs_is_reported_not_a_crash(tmp_path):
    root = tmp_path / "t"
    t = ht.arc_a_i915(root)
    t.garbage("vendor", "zzz\x00\xff")
    r, rep = run_json("--root", root, "--only", "pci.gpu")
    c = check_of(rep, "pci.gpu")
    assert c["status"] == "fail"
    assert any("0000:03:00.0" in p and "garbled" in p for p in c["evidence"]["problems"])


def test_dangling_driver_link(tmp_path):
    root = tmp_path / "t"
    t = ht.arc_a_i915(root)
    t.dangling_driver("0000:03:00.0")
    r, rep = run_json("--root", root, "--only", "kernel.driver")
    c = check_of(rep, "kernel.driver")
    assert c["status"] == "fail" and "dangling" not in c["remedy"] and "does not exist" in c["detail"]


def test_empty_root_fails_cleanly(tmp_path):
    r, rep = run_json("--root", tmp_path, "--skip", "torch.xpu")
    assert r.returncode == 1
    assert "no PCI bus" in check_of(rep, "pci.gpu")["detail"]


# ---------------------------------------------------------------- outputs


def test_text_report_shape(tmp_path):
    root = tmp_path / "t"
    ht.render_not_accessible(root)
    r = run_verify("--root", root, "--user", "alice", "--only", ",".join(HW))
    assert r.returncode == 1
    out = r.stdout
    assert "\033[" not in out                       # no colour when not a tty
    lines = out.splitlines()
    i = next(n for n, x in enumerate(lines) if "FAIL" in x and "dri.access" in x)
    assert "> sudo usermod -aG render alice" in lines[i + 1]
    assert lines[-1].startswith("6 passed, 1 failed, 0 warnings, 0 skipped: NOT OK")


def test_junit_report(tmp_path):
    root = tmp_path / "t"
    ht.gpu_no_driver(root)
    junit = tmp_path / "out.xml"
    r = run_verify("--root", root, "--only", ",".join(HW), "--junit", junit)
    assert r.returncode == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == set(HW)
    assert cases["kernel.driver"].find("failure") is not None
    assert cases["dri.nodes"].find("skipped") is not None
    assert suite.get("failures") == "1"


def test_junit_unwritable_is_a_usage_error(tmp_path):
    line = assert_clean_error(run_verify("--root", tmp_path, "--only", "platform",
                                         "--junit", tmp_path / "no" / "dir" / "x.xml"))
    assert "--junit" in line


REPORT_SCHEMA = {
    "type": "object",
    "required": ["ok", "summary", "environment", "gpus", "checks"],
    "properties": {
        "ok": {"type": "boolean"},
        "summary": {"type": "object", "required": ["pass", "warn", "fail", "skip"],
                    "additionalProperties": {"type": "integer"}},
        "environment": {"type": "object"},
        "gpus": {"type": "array", "items": {
            "type": "object", "required": ["bdf", "vendor_id", "device_id", "family", "name", "driver", "card",
                                           "render"]}},
        "checks": {"type": "array", "items": {
            "type": "object", "required": ["id", "status", "title", "detail", "remedy", "evidence"],
            "properties": {"status": {"enum": ["pass", "warn", "fail", "skip"]}, "evidence": {"type": "object"}}}},
    },
}


@pytest.mark.parametrize("preset", ["max_i915", "wsl2"])
def test_json_matches_the_documented_schema(tmp_path, preset):
    import jsonschema
    _, _, rep = verify_tree(tmp_path, preset)
    jsonschema.validate(rep, REPORT_SCHEMA)


@pytest.mark.no_gpu
def test_this_machine_has_no_intel_gpu():
    """The real `/` of the CI machine (no GPU): verify says so, and exits 1."""
    r, rep = run_json("--skip", "torch.xpu")
    c = check_of(rep, "pci.gpu")
    assert r.returncode == 1 and c["status"] == "fail"
    assert c["detail"].startswith("no Intel GPU")
    assert rep["gpus"] == []
    assert check_of(rep, "kernel.driver")["status"] == "skip"


def test_remedies_name_the_host_as_the_control_host_knows_it(tmp_path):
    root = tmp_path / "t"
    ht.nvidia_only(root)
    _, rep = run_json("--root", root, "--only", "userspace", "--host-name", "gpu07")
    assert "invoke provision --host gpu07" in check_of(rep, "userspace")["remedy"]
    _, rep = run_json("--root", root, "--only", "userspace")
    assert "invoke provision --host localhost" in check_of(rep, "userspace")["remedy"]
