"""The host-tree builder reproduces what the kernel and Debian lay out (see tests/support/hosttree.py)."""

import json
import lzma
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support import hosttree as ht

REPO = Path(__file__).resolve().parents[2]
RESOURCE_LINE = re.compile(r"^0x[0-9a-f]{16} 0x[0-9a-f]{16} 0x[0-9a-f]{16}$")
SPEED = re.compile(r"^(Unknown|(2\.5|5\.0|8\.0|16\.0|32\.0|64\.0) GT/s PCIe)$")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod/chown of device nodes needs root")


def real(root: Path, p: str) -> str:
    """os.path.realpath of host path p inside root, as a host path ('/sys/devices/...')."""
    r = os.path.realpath(root / p.lstrip("/"))
    base = os.path.realpath(root)
    assert r == base or r.startswith(base + "/"), f"{p} resolves outside the root: {r}"
    return "/" + os.path.relpath(r, base) if r != base else "/"


def read(root: Path, p: str) -> str:
    return (root / p.lstrip("/")).read_text()


def parse_dpkg_status(text: str) -> dict:
    """Minimal deb822 stanza parser: {package: {field: value}}; continuation lines folded."""
    out = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        fields, last = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += "\n" + line[1:]
            else:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        out[fields["Package"]] = fields
    return out


def group_table(root: Path) -> dict:
    out = {}
    for line in read(root, "/etc/group").splitlines():
        name, _, gid, members = line.split(":")
        out[name] = (int(gid), [m for m in members.split(",") if m])
    return out


def all_links(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            if p.is_symlink():
                yield p


@pytest.fixture(scope="module")
def families():
    data = json.loads((REPO / "checks" / "gpu_families.json").read_text())
    return {f["id"]: f for f in data["families"]}


@pytest.fixture
def arc(tmp_path):
    return ht.arc_a_i915(tmp_path / "arc")


# --- PCI ---------------------------------------------------------------------------------------


def test_bus_pci_devices_resolve_into_the_device_hierarchy(arc):
    root = arc.root
    assert real(root, "/sys/bus/pci/devices/0000:03:00.0") == (
        "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:03:00.0"
    )
    assert os.readlink(root / "sys/bus/pci/devices/0000:03:00.0") == (
        "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:03:00.0"
    )
    # the parent directory of a device is its upstream bridge, as in the kernel
    assert real(root, "/sys/bus/pci/devices/0000:03:00.0/..") == real(
        root, "/sys/bus/pci/devices/0000:02:01.0"
    )
    assert real(root, "/sys/bus/pci/devices/0000:01:00.0/..") == real(
        root, "/sys/bus/pci/devices/0000:00:01.0"
    )


def test_kernfs_relpath():
    assert ht.kernfs_relpath("/sys/devices/p/a/b", "/sys/devices/p/a/b/drm/card0") == "../../../b"
    assert ht.kernfs_relpath("/sys/bus/pci/drivers/i915", "/sys/devices/pci0000:00/0000:00:02.0") == (
        "../../../bus/pci/drivers/i915"
    )
    assert (
        ht.kernfs_relpath("/sys/devices/p/a/b/drm/card0", "/sys/class/drm") == "../../devices/p/a/b/drm/card0"
    )


def test_every_link_is_relative_and_stays_inside_the_root(tmp_path):
    for name, preset in ht.PRESETS.items():
        t = preset(tmp_path / name)
        links = list(all_links(t.root))
        assert links, name
        for p in links:
            target = os.readlink(p)
            assert not target.startswith("/"), f"{name}: {p} -> {target}"
            real(t.root, "/" + str(p.relative_to(t.root)))
            assert os.path.exists(p), f"{name}: dangling {p} -> {target}"


def test_attribute_formats(arc):
    d = "/sys/bus/pci/devices/0000:03:00.0"
    root = arc.root
    assert read(root, f"{d}/vendor") == "0x8086\n"
    assert read(root, f"{d}/device") == "0x56a0\n"
    assert read(root, f"{d}/class") == "0x030000\n"
    assert read(root, f"{d}/subsystem_vendor") == "0x8086\n"
    assert read(root, f"{d}/subsystem_device") == "0x1020\n"
    assert read(root, f"{d}/revision") == "0x08\n"
    assert read(root, f"{d}/boot_vga") == "1\n"
    assert read(root, f"{d}/enable") == "1\n"
    uevent = dict(line.split("=", 1) for line in read(root, f"{d}/uevent").splitlines())
    assert uevent["DRIVER"] == "i915"
    assert uevent["PCI_CLASS"] == "30000"
    assert uevent["PCI_ID"] == "8086:56A0"
    assert uevent["PCI_SLOT_NAME"] == "0000:03:00.0"
    assert read(root, f"{d}/modalias") == "pci:v00008086d000056A0sv00008086sd00001020bc03sc00i00\n"
    for dev in ("0000:00:01.0", "0000:01:00.0", "0000:02:01.0", "0000:03:00.0"):
        for a in ("current_link_speed", "max_link_speed"):
            assert SPEED.match(read(root, f"/sys/bus/pci/devices/{dev}/{a}").rstrip("\n"))
        for a in ("current_link_width", "max_link_width"):
            assert read(root, f"/sys/bus/pci/devices/{dev}/{a}").rstrip("\n").isdigit()
    cfg = (root / f"{d.lstrip('/')}/config").read_bytes()
    assert len(cfg) == 4096 and cfg[0:4] == bytes([0x86, 0x80, 0xA0, 0x56]) and cfg[0x0B] == 0x03


def test_resource_file_has_the_kernel_line_count_and_format(arc):
    root = arc.root
    gpu = read(root, "/sys/bus/pci/devices/0000:03:00.0/resource").splitlines()
    bridge = read(root, "/sys/bus/pci/devices/0000:01:00.0/resource").splitlines()
    assert len(gpu) == ht.ENDPOINT_RESOURCES == 13
    assert len(bridge) == ht.BRIDGE_RESOURCES == 17
    assert all(RESOURCE_LINE.match(x) for x in gpu + bridge)
    start, end, flags = (int(x, 16) for x in gpu[2].split())
    assert end - start + 1 == 16 * ht.GiB and flags & ht.IORESOURCE_PREFETCH and flags & ht.IORESOURCE_MEM_64
    assert gpu[1] == "0x0000000000000000 0x0000000000000000 0x0000000000000000"


def test_driver_link_and_driver_directory(arc):
    root = arc.root
    link = root / "sys/bus/pci/devices/0000:03:00.0/driver"
    assert os.path.basename(os.readlink(link)) == "i915"
    assert os.readlink(link) == "../../../../../../bus/pci/drivers/i915"
    assert real(root, "/sys/bus/pci/devices/0000:03:00.0/driver") == "/sys/bus/pci/drivers/i915"
    assert real(root, "/sys/bus/pci/drivers/i915/module") == "/sys/module/i915"
    assert real(root, "/sys/bus/pci/drivers/i915/0000:03:00.0") == real(
        root, "/sys/bus/pci/devices/0000:03:00.0"
    )
    assert read(root, "/sys/module/i915/initstate") == "live\n"
    assert read(root, "/sys/module/i915/refcnt").strip().isdigit()
    # bridges use the built-in pcieport driver: no module link
    assert real(root, "/sys/bus/pci/devices/0000:01:00.0/driver") == "/sys/bus/pci/drivers/pcieport"
    assert not os.path.lexists(root / "sys/bus/pci/drivers/pcieport/module")
    mods = {f[0]: f for f in (line.split() for line in read(root, "/proc/modules").splitlines())}
    assert mods["i915"][1] == read(root, "/sys/module/i915/coresize").strip()
    assert mods["i915"][2] == read(root, "/sys/module/i915/refcnt").strip()
    assert mods["i915"][3:6] == ["-", "Live", "0x0000000000000000"]


def test_driver_name_can_differ_from_module(tmp_path):
    t = ht.intel_host_bridge_only(tmp_path)
    assert real(t.root, "/sys/bus/pci/devices/0000:00:02.0/driver") == "/sys/bus/pci/drivers/bochs-drm"
    assert real(t.root, "/sys/bus/pci/drivers/bochs-drm/module") == "/sys/module/bochs"
    assert read(t.root, "/sys/bus/pci/devices/0000:00:00.0/vendor") == "0x8086\n"
    assert read(t.root, "/sys/bus/pci/devices/0000:00:00.0/class") == "0x060000\n"
    assert not (t.root / "sys/bus/pci/devices/0000:00:00.0/current_link_speed").exists()  # conventional PCI
    assert not (t.root / "sys/class/drm/renderD128").exists()


# --- DRM ---------------------------------------------------------------------------------------


def test_drm_class_links_resolve_to_the_pci_device(arc):
    root = arc.root
    pci = real(root, "/sys/bus/pci/devices/0000:03:00.0")
    for name, minor in (("card0", 0), ("renderD128", 128)):
        assert real(root, f"/sys/class/drm/{name}") == f"{pci}/drm/{name}"
        assert real(root, f"/sys/class/drm/{name}/device") == pci
        assert os.readlink(root / f"sys/class/drm/{name}/device") == "../../../0000:03:00.0"
        assert read(root, f"/sys/class/drm/{name}/dev") == f"226:{minor}\n"
        assert read(root, f"/sys/class/drm/{name}/uevent") == (
            f"MAJOR=226\nMINOR={minor}\nDEVNAME=dri/{name}\nDEVTYPE=drm_minor\n"
        )
        assert real(root, f"/sys/dev/char/226:{minor}") == f"{pci}/drm/{name}"
    assert read(root, "/sys/class/drm/version") == "drm 1.1.0 20060810\n"


def test_max_has_two_cards_behind_one_switch(tmp_path):
    t = ht.max_i915(tmp_path)
    a = real(t.root, "/sys/class/drm/renderD128/device")
    b = real(t.root, "/sys/class/drm/renderD129/device")
    assert a.endswith("/0000:03:00.0") and b.endswith("/0000:04:00.0")
    assert os.path.dirname(os.path.dirname(a)) == os.path.dirname(os.path.dirname(b))  # same upstream port
    assert read(t.root, "/sys/bus/pci/devices/0000:03:00.0/class") == "0x038000\n"
    assert not (t.root / "sys/bus/pci/devices/0000:03:00.0/boot_vga").exists()  # not VGA class
    rel = t.kernel_release
    assert (t.root / f"lib/modules/{rel}/updates/dkms/i915.ko").is_file()
    assert read(t.root, "/sys/module/i915/taint") == "OE\n"
    assert "(OE)" in [x for x in read(t.root, "/proc/modules").splitlines() if x.startswith("i915 ")][0]


# --- /dev --------------------------------------------------------------------------------------


@needs_root
def test_dev_dri_nodes_are_character_devices_with_the_right_numbers_and_groups(arc):
    root = arc.root
    groups = group_table(root)
    for name, minor, group in (("card0", 0, "video"), ("renderD128", 128, "render")):
        st = os.lstat(root / "dev/dri" / name)
        assert stat.S_ISCHR(st.st_mode)
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (226, minor)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_uid == 0 and st.st_gid == groups[group][0]
    assert groups["video"][0] == 44 and groups["render"][0] == 992
    assert "alice" in groups["render"][1] and "alice" in groups["video"][1]
    assert os.readlink(root / "dev/dri/by-path/pci-0000:03:00.0-render") == "../renderD128"
    assert os.readlink(root / "dev/dri/by-path/pci-0000:03:00.0-card") == "../card0"
    # a node's st_rdev leads back to its PCI device through /sys/dev/char
    st = os.stat(root / "dev/dri/renderD128")
    dev = real(root, f"/sys/dev/char/{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}/device")
    assert dev == real(root, "/sys/bus/pci/devices/0000:03:00.0")


@needs_root
def test_wrong_rdev_and_render_group_from_the_tree(tmp_path):
    t = ht.HostTree(tmp_path)
    t.users({"bob": ["video"]}, render_gid=105)
    t.host_bridge()
    t.pci_device("0000:00:02.0", device=0x46A6, driver="i915", link=ht.LINK_RCIEP)
    t.drm("0000:00:02.0", 0, "i915")
    t.dev_dri(0, wrong_rdev=True)
    st = os.stat(t.root / "dev/dri/renderD128")
    assert os.minor(st.st_rdev) == 0 and st.st_gid == 105
    with pytest.raises(ValueError):
        t.drm("0000:00:02.0", 1, "xe")


def test_render_not_accessible(tmp_path):
    t = ht.render_not_accessible(tmp_path)
    groups = group_table(t.root)
    assert "alice" not in groups["render"][1] and "alice" in groups["video"][1]
    assert os.stat(t.root / "dev/dri/renderD128").st_gid == groups["render"][0]


def test_bound_no_render(tmp_path):
    t = ht.bound_no_render(tmp_path)
    assert (t.root / "sys/class/drm/card0").exists() and (t.root / "dev/dri/card0").exists()
    for p in (
        "sys/class/drm/renderD128",
        "dev/dri/renderD128",
        "dev/dri/by-path/pci-0000:03:00.0-render",
        "sys/bus/pci/devices/0000:03:00.0/drm/renderD128",
    ):
        assert not os.path.lexists(t.root / p)


@needs_root
def test_wsl2_has_dxg_and_no_dri(tmp_path):
    t = ht.wsl2(tmp_path)
    st = os.stat(t.root / "dev/dxg")
    assert stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (10, 125)
    assert "microsoft-standard-WSL2" in read(t.root, "/proc/sys/kernel/osrelease")
    assert not (t.root / "dev/dri").exists()
    assert not (t.root / "sys/class/drm").exists()
    assert not (t.root / "sys/module/i915").exists() and not (t.root / "sys/module/xe").exists()
    assert (t.root / "usr/lib/wsl/lib/libdxcore.so").is_file()
    vpci = "/sys/bus/pci/devices/5582:00:00.0"
    assert read(t.root, f"{vpci}/vendor") == "0x1414\n" and read(t.root, f"{vpci}/class") == "0x030200\n"
    assert "VMBUS:00" in real(t.root, vpci)


# --- OS, users, packages -------------------------------------------------------------------------


def test_os_release_and_merged_usr(tmp_path):
    t = ht.integrated_adl(tmp_path)
    assert real(t.root, "/etc/os-release") == "/usr/lib/os-release"
    fields = dict(line.split("=", 1) for line in read(t.root, "/etc/os-release").splitlines())
    assert fields["ID"] == "debian" and fields["VERSION_ID"] == '"12"'
    assert read(t.root, "/proc/sys/kernel/osrelease") == "6.1.0-28-amd64\n"
    assert read(t.root, "/proc/version").startswith("Linux version 6.1.0-28-amd64 ")
    assert real(t.root, "/lib/firmware/i915/adlp_guc_70.bin") == "/usr/lib/firmware/i915/adlp_guc_70.bin"
    assert read(t.root, "/sys/bus/pci/devices/0000:00:02.0/current_link_speed") == "Unknown\n"
    assert read(t.root, "/sys/bus/pci/devices/0000:00:02.0/max_link_width") == "0\n"
    assert real(t.root, "/sys/bus/pci/devices/0000:00:02.0") == "/sys/devices/pci0000:00/0000:00:02.0"


def test_passwd_and_group_are_consistent(arc):
    users = {f[0]: f for f in (line.split(":") for line in read(arc.root, "/etc/passwd").splitlines())}
    groups = group_table(arc.root)
    assert users["root"][2:4] == ["0", "0"] and groups["root"][0] == 0
    assert users["alice"][2] == "1000" and groups["alice"][0] == 1000
    assert all(len(line.split(":")) == 7 for line in read(arc.root, "/etc/passwd").splitlines())
    assert len({g for g, _ in groups.values()}) == len(groups)  # no duplicate gids


def test_dpkg_status_parses(arc):
    text = read(arc.root, "/var/lib/dpkg/status")
    assert text.endswith("\n\n") or text.endswith("\n")
    pkgs = parse_dpkg_status(text)
    for name in ("libze1", "libze-intel-gpu1", "intel-opencl-icd", "base-files", "dpkg"):
        assert pkgs[name]["Status"] == "install ok installed"
        assert pkgs[name]["Version"]
    assert pkgs["libze1"]["Source"] == "level-zero"
    assert pkgs["libze1"]["Architecture"] == "amd64"
    assert list(pkgs)[:2] == ["base-files", "dpkg"]


def test_dpkg_removed_package_and_icd(tmp_path):
    t = ht.HostTree(tmp_path)
    t.dpkg_status(
        {
            "intel-level-zero-gpu": {
                "version": "1.3.26241.33-647~22.04",
                "status": "deinstall ok config-files",
            }
        },
        base=False,
    )
    pkgs = parse_dpkg_status(read(t.root, "/var/lib/dpkg/status"))
    assert pkgs["intel-level-zero-gpu"]["Status"] == "deinstall ok config-files"
    t.opencl_icd()
    lib = read(t.root, "/etc/OpenCL/vendors/intel.icd").strip()
    assert (t.root / lib.lstrip("/")).is_file()


def test_debian12_userspace_is_bookworms(tmp_path):
    pkgs = parse_dpkg_status(read(ht.integrated_adl(tmp_path).root, "/var/lib/dpkg/status"))
    assert pkgs["intel-opencl-icd"]["Version"].startswith("22.43")
    assert "libze-intel-gpu1" not in pkgs  # not in bookworm: intel-opencl-icd ships libze_intel_gpu.so.1


# --- presets agree with the family table ----------------------------------------------------------

HEALTHY = ("arc_a_i915", "arc_b_xe", "max_i915", "flex_i915", "integrated_adl")


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_presets_match_the_family_table(tmp_path, families, name):
    t = ht.PRESETS[name](tmp_path)
    fam = families[t.expect["family"]]
    for gpu in t.expect["gpus"]:
        dev = read(t.root, f"/sys/bus/pci/devices/{gpu}/device").strip()
        assert dev.upper().replace("0X", "0x") in fam["device_ids"]
        assert os.path.basename(os.readlink(t.root / f"sys/bus/pci/devices/{gpu}/driver")) == fam["driver"]
        assert int(read(t.root, f"/sys/bus/pci/devices/{gpu}/class"), 16) >> 16 == 0x03
    variant = "i915-dkms" if t.expect.get("dkms") else fam["driver"]
    guc = fam["firmware"][variant]["guc"]
    found = [p for base in ("lib/firmware/updates", "lib/firmware") for blob in guc
             for p in (t.root / base).glob(blob + "*")]
    assert found, guc
    for m in (fam["driver"],):
        assert (t.root / f"sys/module/{m}/initstate").is_file()
    assert read(t.root, "/etc/os-release")
    assert "alice" in group_table(t.root)["render"][1]
    pkgs = parse_dpkg_status(read(t.root, "/var/lib/dpkg/status"))
    assert {"libze1", "intel-opencl-icd"} <= set(pkgs)
    assert (t.root / "etc/OpenCL/vendors/intel.icd").is_file()


def test_degraded_link_shows_on_the_upstream_port(tmp_path):
    t = ht.degraded_link(tmp_path)
    up = "/sys/bus/pci/devices/0000:01:00.0"
    assert read(t.root, f"{up}/current_link_speed") == "2.5 GT/s PCIe\n"
    assert read(t.root, f"{up}/current_link_width") == "1\n"
    assert read(t.root, f"{up}/max_link_speed") == "16.0 GT/s PCIe\n"
    assert read(t.root, f"{up}/max_link_width") == "16\n"
    healthy = ht.arc_a_i915(tmp_path / "ok")
    assert read(healthy.root, f"{up}/current_link_speed") == "16.0 GT/s PCIe\n"
    # the GPU's own link is the card's internal one in both
    assert read(healthy.root, "/sys/bus/pci/devices/0000:03:00.0/current_link_speed") == "2.5 GT/s PCIe\n"


def test_rebar_off(tmp_path):
    t = ht.rebar_off(tmp_path)
    line = read(t.root, "/sys/bus/pci/devices/0000:03:00.0/resource").splitlines()[2]
    start, end, _ = (int(x, 16) for x in line.split())
    assert end - start + 1 == 256 * ht.MiB
    # xe binds a small-BAR card (xe_vram.c "Small BAR device") and publishes the VRAM per tile
    assert os.path.basename(os.readlink(t.root / "sys/bus/pci/devices/0000:03:00.0/driver")) == "xe"
    assert read(t.root, "/sys/bus/pci/devices/0000:03:00.0/tile0/physical_vram_size_bytes") == f"{12 * ht.GiB}\n"
    unbound = ht.rebar_off(tmp_path / "unbound", bound=False)
    assert not os.path.lexists(unbound.root / "sys/bus/pci/devices/0000:03:00.0/driver")
    assert (unbound.root / "sys/module/xe/initstate").is_file()
    assert not (unbound.root / "dev/dri").exists()
    assert not (unbound.root / "sys/bus/pci/devices/0000:03:00.0/tile0").exists()


def test_no_proc_modules_means_builtin(tmp_path):
    t = ht.no_proc_modules(tmp_path)
    assert not (t.root / "proc/modules").exists()
    assert (t.root / "sys/module/i915").is_dir() and not (t.root / "sys/module/i915/initstate").exists()
    assert real(t.root, "/sys/bus/pci/drivers/i915/module") == "/sys/module/i915"


def test_nvidia_render_node_is_not_intel(tmp_path):
    t = ht.nvidia_only(tmp_path)
    assert read(t.root, "/sys/class/drm/renderD128/device/vendor") == "0x10de\n"
    intel_display = [
        d
        for d in os.listdir(t.root / "sys/bus/pci/devices")
        if read(t.root, f"/sys/bus/pci/devices/{d}/vendor") == "0x8086\n"
        and read(t.root, f"/sys/bus/pci/devices/{d}/class").startswith("0x03")
    ]
    assert intel_display == []


def test_gpu_no_driver(tmp_path):
    t = ht.gpu_no_driver(tmp_path)
    d = t.root / "sys/bus/pci/devices/0000:03:00.0"
    assert not os.path.lexists(d / "driver") and read(t.root, str(d.relative_to(t.root)) + "/enable") == "0\n"
    assert "DRIVER=" not in (d / "uevent").read_text()
    assert not (t.root / "sys/class/drm").exists() and not (t.root / "sys/module/i915").exists()


# --- bad input, odds and ends ------------------------------------------------------------------------


def test_garbage_and_dangling_driver(arc):
    arc.garbage("vendor", "zzz")
    assert read(arc.root, "/sys/bus/pci/devices/0000:03:00.0/vendor") == "zzz"
    arc.dangling_driver("0000:03:00.0")
    link = arc.root / "sys/bus/pci/devices/0000:03:00.0/driver"
    assert os.path.lexists(link) and not os.path.exists(link)
    assert not os.readlink(link).startswith("/") and os.path.basename(os.readlink(link)) == "i915"


def test_firmware_compression_is_real(tmp_path):
    t = ht.HostTree(tmp_path)
    (xz,) = t.firmware(["i915/dg2_guc_70.bin"], compress="xz")
    assert lzma.decompress(xz.read_bytes()).startswith(b"fake firmware")
    (zst,) = t.firmware(["xe/bmg_guc_70.bin"], compress="zst")
    assert zst.name == "bmg_guc_70.bin.zst" and zst.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    if shutil.which("zstd"):
        out = subprocess.run(["zstd", "-dc", str(zst)], capture_output=True, check=True).stdout
        assert out.startswith(b"fake firmware xe/bmg_guc_70.bin")


def test_systemd_enable_link_is_absolute_like_systemctl(tmp_path):
    t = ht.HostTree(tmp_path)
    t.systemd_unit("xpum.service")
    link = t.root / "etc/systemd/system/multi-user.target.wants/xpum.service"
    assert os.readlink(link) == "/lib/systemd/system/xpum.service"
    assert (t.root / "usr/lib/systemd/system/xpum.service").is_file()
    t.systemd_unit("xpumd.service", enabled=False)
    assert not os.path.lexists(t.root / "etc/systemd/system/multi-user.target.wants/xpumd.service")


def test_container_markers_and_binaries(tmp_path):
    t = ht.HostTree(tmp_path)
    t.container("docker")
    t.container("podman")
    assert (t.root / ".dockerenv").is_file()
    assert "engine=" in read(t.root, "/run/.containerenv")
    b = t.binary("/usr/bin/xpumd")
    assert os.access(b, os.X_OK) and real(t.root, "/bin/xpumd") == "/usr/bin/xpumd"
    assert "\t56a0  DG2 [Arc A770]" in read(t.root, t.pci_ids().relative_to(t.root).as_posix())
    t.kern_log(["i915 0000:03:00.0: Direct firmware load for i915/dg2_guc_70.bin failed with error -2"])
    assert " kernel: i915 0000:03:00.0: Direct firmware load" in read(t.root, "/var/log/kern.log")


def test_gt_frequency_and_hwmon_files(tmp_path):
    a = ht.arc_a_i915(tmp_path / "a")
    assert read(a.root, "/sys/class/drm/card0/gt_max_freq_mhz") == "2400\n"
    assert read(a.root, "/sys/class/drm/card0/gt/gt0/rps_RP0_freq_mhz") == "2400\n"
    (hw,) = os.listdir(a.root / "sys/bus/pci/devices/0000:03:00.0/hwmon")
    assert read(a.root, f"/sys/class/hwmon/{hw}/name") == "i915\n"
    assert real(a.root, f"/sys/class/hwmon/{hw}/device") == real(a.root, "/sys/bus/pci/devices/0000:03:00.0")
    b = ht.arc_b_xe(tmp_path / "b")
    assert read(b.root, "/sys/class/drm/card0/device/tile0/gt0/freq0/max_freq") == "2400\n"
    assert not (b.root / "sys/class/drm/card0/gt_max_freq_mhz").exists()
    igpu = ht.integrated_adl(tmp_path / "i")
    assert not (igpu.root / "sys/bus/pci/devices/0000:00:02.0/hwmon").exists()  # no hwmon for an iGPU
