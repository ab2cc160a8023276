"""Verdicts against upstream: one host tree per fact of the kernel, linux-firmware, the out-of-tree i915
and Intel's compute runtime, each test citing where the fact comes from (the sources are also recorded
in checks/gpu_families.json `sources`). The checks run as a user runs them (`python -m checks --root`)."""
import json
from pathlib import Path

import pytest

from tests.support import hosttree as ht
from tests.support.verify_run import run_json
from tools import pciids

REPO = Path(__file__).resolve().parent.parent.parent
HW = "platform,pci.gpu,kernel.driver,dri.nodes,dri.access,firmware,userspace"
TABLE = json.loads((REPO / "checks" / "gpu_families.json").read_text())
FAMILIES = {f["id"]: f for f in TABLE["families"]}


def verify(root):
    _, rep = run_json("--root", root, "--user", "alice", "--only", HW)
    return {c["id"]: c for c in rep["checks"]}


integrated = ht.integrated_gpu


def fw_of(fam, variant=None):
    return [names[0] for names in FAMILIES[fam]["firmware"][variant or FAMILIES[fam]["driver"]].values()]


# ---------------------------------------------------------------- 1. the family table is the kernel's


def test_committed_table_is_what_the_ids_snapshot_gives():
    # python -m tools.pciids table --check: device_ids = the named pciids.h macros + extra_ids
    assert pciids.main(["table", "--check"]) == 0


def test_snapshot_records_where_it_was_read():
    source, macros = pciids.load_snapshot()
    assert source == {"repo": "torvalds/linux", "path": "include/drm/intel/pciids.h",
                      "commit": "0755a4e3e809610a14befc9ad28d35e2e460da68"}
    assert TABLE["sources"]["pciids"] == source
    for fam in TABLE["families"]:
        assert fam["pciids"] and all(m in macros for m in fam["pciids"]), fam["id"]


HEADER = """\
/* SPDX */
#define INTEL_VGA_DEVICE(_id, _info) { \\
	PCI_DEVICE(PCI_VENDOR_ID_INTEL, (_id)) }

#define INTEL_A_G21_IDS(MACRO__, ...) \\
	MACRO__(0xE202, ## __VA_ARGS__), /* a comment */ \\
	MACRO__(0xe209, ## __VA_ARGS__)

#define INTEL_A_IDS(MACRO__, ...) \\
	INTEL_A_G21_IDS(MACRO__, ## __VA_ARGS__), \\
	MACRO__(0XD754, ## __VA_ARGS__)  /* pciids.h writes 0X for some NVL-P ids */ \\

#define INTEL_B_IDS(MACRO__, ...) \\
	MACRO__(0xFD80, ## __VA_ARGS__)
"""


def test_parser_expands_nested_macros_and_both_hex_spellings(tmp_path):
    macros = pciids.parse_header(HEADER)
    assert macros == {"INTEL_A_G21_IDS": ["0xE202", "0xE209"], "INTEL_A_IDS": ["0xE202", "0xE209", "0xD754"],
                      "INTEL_B_IDS": ["0xFD80"]}
    h = tmp_path / "pciids.h"
    h.write_text(HEADER)
    assert pciids.main(["snapshot", str(h), "--commit", "abc1234", "--out", str(tmp_path / "s.json")]) == 0
    table = tmp_path / "t.json"
    table.write_text(json.dumps({"_comment": "", "sources": {}, "families": [
        {"id": "a", "pciids": ["INTEL_A_IDS"], "extra_ids": {"ids": ["0x5698"], "source": "x"}, "device_ids": []},
        {"id": "b", "pciids": ["INTEL_B_IDS"], "device_ids": ["0xFD81"]}]}))
    assert pciids.main(["table", "--snapshot", str(tmp_path / "s.json"), "--table", str(table), "--check"]) == 1
    assert pciids.main(["table", "--snapshot", str(tmp_path / "s.json"), "--table", str(table)]) == 0
    fams = json.loads(table.read_text())["families"]
    assert [f["device_ids"] for f in fams] == [["0xE202", "0xE209", "0xD754", "0x5698"], ["0xFD80"]]
    assert pciids.main(["table", "--snapshot", str(tmp_path / "s.json"), "--table", str(table), "--check"]) == 0


def test_bad_inputs_are_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "x.h").write_text("int main(void) { return 0; }\n")
    assert pciids.main(["snapshot", str(tmp_path / "x.h"), "--commit", "abc1234", "--out", str(tmp_path / "o")]) == 2
    assert pciids.main(["table", "--from", str(tmp_path / "missing.h")]) == 2
    assert pciids.main(["snapshot", str(tmp_path / "x.h"), "--commit", "HEAD"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(x.startswith("pciids: ") for x in err)


@pytest.mark.parametrize("fam, ids, absent", [
    # pciids@0755a4e INTEL_PTL_IDS: the 6.17 rewrite dropped B091/B092/B0A1/B0A2, added B083-B087, B08F, B0B0
    ("ptl", ["0xB080", "0xB081", "0xB082", "0xB083", "0xB084", "0xB085", "0xB086", "0xB087", "0xB08F", "0xB090",
             "0xB0A0", "0xB0B0"], ["0xB091", "0xB092", "0xB0A1", "0xB0A2"]),
    # INTEL_WCL_IDS (its own macro at 0755a4e; xe_pci.c maps it to ptl_desc)
    ("wcl", ["0xFD80", "0xFD81"], []),
    # INTEL_KBL_ULT_GT1_IDS / INTEL_KBL_ULX_GT1_IDS, INTEL_SKL_*, INTEL_BXT_IDS, INTEL_GLK_IDS
    ("gen9", ["0x5906", "0x5913", "0x590E", "0x5915", "0x1916", "0x193D", "0x5A85", "0x3185"], []),
    # INTEL_NVLS_IDS / INTEL_NVLP_IDS (NVL-P 0XD754 spelled with a capital X upstream), INTEL_CRI_IDS
    ("nvl", ["0xD740", "0xD74B", "0xD754", "0xD75F"], []),
    ("cri", ["0x674C", "0x6750"], []),
    # INTEL_BDW_IDS / INTEL_CHV_IDS
    ("gen8", ["0x1616", "0x22B0"], []),
])
def test_ids_follow_pciids(fam, ids, absent):
    table = FAMILIES[fam]["device_ids"]
    assert set(ids) <= set(table) and not set(absent) & set(table)


# ---------------------------------------------------------------- first kernels, new GPUs on xe


def test_panther_lake_b0b0_on_xe_passes(tmp_path):
    t = integrated(tmp_path, 0xB0B0, firmware=fw_of("ptl"))
    c = verify(t.root)
    assert c["kernel.driver"]["status"] == "pass", c["kernel.driver"]
    assert c["firmware"]["status"] == "pass", c["firmware"]
    assert "i915" not in c["kernel.driver"]["detail"]


def test_panther_lake_on_6_15_is_older_than_its_first_kernel(tmp_path):
    # 94de1dfd4729 "drm/xe/ptl: Drop force_probe requirement" is in the 6.17 pull
    t = integrated(tmp_path, 0xB080, kernel="6.15.0-1-generic", bound=False, firmware=fw_of("ptl"))
    c = verify(t.root)["kernel.driver"]
    assert c["status"] == "fail" and "older than 6.17" in c["detail"], c
    assert "xe.force_probe=b080" in c["remedy"]


def test_lunar_lake_on_6_11_gets_kernel_advice(tmp_path):
    # 9c57bc08652a "drm/xe/lnl: Drop force_probe requirement" landed for 6.12, not 6.11
    t = integrated(tmp_path, 0x64A0, kernel="6.11.0-19-generic", bound=False, firmware=fw_of("lnl"))
    c = verify(t.root)["kernel.driver"]
    assert c["status"] == "fail" and "older than 6.12" in c["detail"], c
    assert "newer kernel" in c["remedy"]


def test_wildcat_lake_is_known_and_xe(tmp_path):
    t = integrated(tmp_path, 0xFD80, firmware=fw_of("wcl"))
    c = verify(t.root)
    assert c["pci.gpu"]["evidence"]["gpus"][0]["family"] == "wcl"
    assert c["kernel.driver"]["status"] == "pass"


def test_nova_lake_still_needs_force_probe(tmp_path):
    # xe_pci.c: nvls_desc.require_force_probe = true
    t = integrated(tmp_path, 0xD740, kernel="6.18.0-1-generic", bound=False)
    c = verify(t.root)["kernel.driver"]
    assert c["status"] == "fail" and "without force_probe" in c["detail"]
    assert "xe.force_probe=d740" in c["remedy"]


# ---------------------------------------------------------------- 2. unknown hardware is honest


@pytest.mark.parametrize("driver", ["xe", "i915"])
def test_unknown_gpu_accepts_the_bound_driver_and_claims_none(tmp_path, driver):
    t = integrated(tmp_path, 0xFE00, driver=driver)  # an id no pciids.h macro lists
    c = verify(t.root)
    k = c["kernel.driver"]
    assert k["status"] == "pass" and "older than this GPU" in k["detail"], k
    assert "is the driver Intel supports" not in k["detail"]
    p = c["pci.gpu"]
    assert p["status"] == "warn" and "update xpu-ops" in p["remedy"]


def test_unknown_unbound_gpu_names_no_driver(tmp_path):
    t = integrated(tmp_path, 0xFE00, bound=False)
    k = verify(t.root)["kernel.driver"]
    assert k["status"] == "fail" and "older than this GPU" in k["detail"]
    assert "modprobe i915" not in k["remedy"] and "force_probe" not in k["remedy"]


# ---------------------------------------------------------------- 3. BAR against VRAM


def test_small_bar_on_xe_fails_for_compute(tmp_path):
    # compute-runtime drm_neo.cpp: small BAR -> no device unless isSmallBarConfigAllowed() (false on xe)
    t = ht.rebar_off(tmp_path)
    c = verify(t.root)["pci.gpu"]
    assert c["status"] == "fail"
    assert "Level Zero and OpenCL will not show this GPU" in c["detail"]
    assert "Above 4G Decoding" in c["remedy"] and "lspci -vv -s 0000:03:00.0" in c["remedy"]


def test_small_bar_on_i915_warns(tmp_path):
    # the i915 ioctl helpers return true from isSmallBarConfigAllowed(): slower, but a device
    t = ht.arc_a_i915(tmp_path, bar2=ht.bar(0xD0000000, 256 * ht.MiB))
    t.vram("0000:03:00.0", "i915", [16 * ht.GiB])
    c = verify(t.root)["pci.gpu"]
    assert c["status"] == "warn" and "smaller than the VRAM 16.0 GiB" in c["detail"], c


def test_full_bar_passes_with_vram_known(tmp_path):
    t = ht.arc_b_xe(tmp_path)  # BAR2 16 GiB, 12 GiB VRAM on tile0
    c = verify(t.root)["pci.gpu"]
    assert c["status"] == "pass" and c["evidence"]["gpus"][0]["vram"]["bytes"] == 12 * ht.GiB


# ---------------------------------------------------------------- 4. firmware as the kernel finds it


def test_max_firmware_from_updates_passes_and_the_unversioned_name_does_not(tmp_path):
    # backports intel_uc_fw.c: guc_mmp(pvc, 70, x, y) -> i915/pvc_guc_70.x.y.bin; intel-fw-gpu -> updates/
    assert verify(ht.max_i915(tmp_path / "ok").root)["firmware"]["status"] == "pass"
    t = ht.max_i915(tmp_path / "old")
    ht.remove(t.path("/lib/firmware/updates"))
    t.firmware(["i915/pvc_guc_70.bin"], compress=None)  # what no package ships
    c = verify(t.root)["firmware"]
    assert c["status"] == "fail" and "pvc_guc_70.*.bin" in c["detail"]


def test_flex_on_dkms_wants_the_versioned_blob(tmp_path):
    t = ht.flex_i915(tmp_path)
    ht.remove(t.path("/lib/firmware/updates"))
    t.firmware(["i915/dg2_guc_70.bin", "i915/dg2_huc_gsc.bin"], compress="zst")  # linux-firmware's names
    c = verify(t.root)["firmware"]
    assert c["status"] == "fail" and "i915-dkms" in c["detail"] and "intel-fw-gpu" in c["remedy"]


def test_firmware_in_updates_release_dir_is_found(tmp_path):
    # fw_path[]: /lib/firmware/updates/<release> comes first
    t = ht.arc_b_xe(tmp_path)
    ht.remove(t.path("/lib/firmware/xe"))
    t.firmware(["xe/bmg_guc_70.bin", "xe/bmg_huc.bin"], compress="xz", base="/lib/firmware/updates/6.14.0-33-generic")
    c = verify(t.root)["firmware"]
    assert c["status"] == "pass" and "/lib/firmware/updates/6.14.0-33-generic/xe/bmg_guc_70.bin.xz" in c["detail"]


def test_lunar_lake_gsc_is_checked(tmp_path):
    # xe_uc_fw.c XE_GSC_FIRMWARE_DEFS: major_ver(xe, gsc, lnl, 1) -> xe/lnl_gsc_1.bin
    t = integrated(tmp_path, 0x64A0, firmware=[b for b in fw_of("lnl") if "gsc" not in b])
    c = verify(t.root)["firmware"]
    assert c["status"] == "fail" and "GSC" in c["detail"] and "xe/lnl_gsc_1.bin" in c["detail"]


# ---------------------------------------------------------------- 5./6. runtime against the hardware


def test_gen9_on_a_current_runtime_without_legacy_packages_fails(tmp_path):
    # compute-runtime LEGACY_PLATFORMS.md: from 24.35 the regular packages support Gen12 and later only
    t = integrated(tmp_path, 0x5916, driver="i915", kernel="6.8.0-60-generic", firmware=fw_of("gen9"))
    c = verify(t.root)["userspace"]
    assert c["status"] == "fail" and "legacy" in c["detail"], c


def test_gen9_with_legacy_packages_or_an_older_runtime_passes(tmp_path):
    pkgs = dict(ht.UBUNTU_2404_COMPUTE, **{"intel-opencl-icd-legacy1": "24.35.30872.22"})
    t = integrated(tmp_path / "legacy", 0x5916, driver="i915", firmware=fw_of("gen9"), packages=pkgs)
    assert verify(t.root)["userspace"]["status"] == "pass"
    t = integrated(tmp_path / "bookworm", 0x5916, driver="i915", kernel="6.1.0-28-amd64", os_id="debian",
                   firmware=fw_of("gen9"), packages=ht.DEBIAN_12_COMPUTE, compress=None)
    assert verify(t.root)["userspace"]["status"] == "pass"


def test_arc_b_on_noble_archive_runtime_fails(tmp_path):
    # Ubuntu 24.04's archive: intel-compute-runtime 23.43; BMG/LNL production support from 24.48.31907.7
    t = ht.arc_b_xe(tmp_path)
    t.dpkg_status(dict(ht.UBUNTU_2404_COMPUTE, **{"intel-opencl-icd": "23.43.27642.40-1ubuntu3",
                                                 "libze-intel-gpu1": "23.43.27642.40-1ubuntu3"}))
    c = verify(t.root)["userspace"]
    assert c["status"] == "fail" and "older than 24.48" in c["detail"], c
    assert "kobuk-team/intel-graphics" in c["remedy"]


@pytest.mark.parametrize("device, fam, status, words", [
    # intel/compute-runtime shared/source/dll/devices/devices_base.inl: 0xB080 from bb1a125f (25.05.32567.12),
    # 0xB084 from 171b3984 (25.31.34666.3), 0xFD80 from 05a9f9b1 (25.27.34303.5); 0xB090 in no release up to
    # e37c60bf. The tree's runtime is 25.18.33578.15 (Ubuntu 24.04 with the PPA).
    (0xB080, "ptl", "pass", ()),
    (0xB084, "ptl", "fail", ("older than 25.31", "Panther Lake")),
    (0xB090, "ptl", "warn", ("no compute runtime release knows", "8086:b090")),
    (0xFD80, "wcl", "fail", ("older than 25.27", "Wildcat Lake")),
])
def test_panther_and_wildcat_lake_runtime_per_device_id(tmp_path, device, fam, status, words):
    t = integrated(tmp_path, device, firmware=fw_of(fam))
    c = verify(t.root)["userspace"]
    assert c["status"] == status, c
    assert all(w in c["detail"] for w in words), c
    if status != "pass":
        assert "kobuk-team/intel-graphics" in c["remedy"], c


def test_every_family_fact_names_a_recorded_source():
    for fam in TABLE["families"]:
        for key in ("min_kernel_source", "min_runtime_source"):
            if fam.get(key):
                assert fam[key] in TABLE["sources"], (fam["id"], key)
        if fam.get("extra_ids"):
            assert fam["extra_ids"]["source"]
    for name, src in TABLE["sources"].items():
        where = src.get("path") or src.get("commit") or src.get("release") or src.get("issue")
        assert src.get("repo") and where, name


def test_readme_support_table_is_generated_from_the_family_table(tmp_path):
    from tools import supporttable

    assert supporttable.main(["--check"]) == 0
    readme = tmp_path / "README.md"
    readme.write_text("x\n%s\nold\n%s\ny\n" % (supporttable.START, supporttable.END))
    assert supporttable.main(["--check", "--readme", str(readme)]) == 1
    assert supporttable.main(["--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("x\n") and text.endswith("y\n") and "old" not in text
    row = next(line for line in text.splitlines() if "Panther Lake" in line)
    assert "`INTEL_PTL_IDS`" in row and "| 6.17 |" in row and "xe/ptl_gsc_1.bin" in row


def test_a_family_without_a_firmware_list_is_not_a_pass(tmp_path):
    # Nova Lake: xe has no firmware defined for it in a released kernel yet, so nothing is claimed either way
    t = integrated(tmp_path, 0xD740, kernel="6.18.0-1-generic")
    c = verify(t.root)["firmware"]
    assert c["status"] == "skip" and "nvl" in c["detail"]
