"""Lay out a Linux host tree (sysfs, devfs, /proc, /etc, /lib, /usr) the way the kernel and Debian do.

The checks read a host through one root directory (``--root DIR``).  Tests give them a tree
built here, so every file, link and device node must look like the real thing:

* sysfs attribute files end in a newline and use the kernel's formats
  (``vendor`` ``0x8086``, ``class`` ``0x030000``, ``current_link_speed`` ``16.0 GT/s PCIe``,
  ``resource`` one ``0x%016x 0x%016x 0x%016x`` line per resource);
* PCI devices are real directories under ``/sys/devices/pci0000:00/<bridge>/.../<bdf>`` and every
  other name for them (``/sys/bus/pci/devices/<bdf>``, ``driver``, ``/sys/class/drm/cardN``,
  ``device``, ``/sys/dev/char/226:N``) is a RELATIVE symlink, as in the kernel, so it resolves
  inside the root and never on the machine running the tests;
* ``/dev/dri`` holds real character devices (``os.mknod``; the tests run as root) owned by the
  gid that the tree's own ``/etc/group`` gives ``video`` / ``render``;
* Debian and Ubuntu are usr-merged: ``/lib``, ``/bin``, ``/sbin``, ``/lib64`` are symlinks into
  ``/usr`` and ``/etc/os-release`` links to ``../usr/lib/os-release``.

Two deliberate differences from what a reader might guess, both as the real system has them:

* ``resource`` has 13 lines for an endpoint (PCI_BRIDGE_RESOURCES, with CONFIG_PCI_IOV) and
  17 (DEVICE_COUNT_RESOURCE) for a bridge (``drivers/pci/pci-sysfs.c: resource_show``).
* ``systemctl enable`` writes ABSOLUTE symlinks (``/etc/systemd/system/multi-user.target.wants/x
  -> /lib/systemd/system/x``); :meth:`HostTree.systemd_unit` does too, unless ``relative=True``.
  A check must test such a link with ``os.path.lexists`` / ``readlink``, or re-root the target,
  never follow it.

Scenario presets at the bottom (``arc_a_i915`` ... ``rebar_off``) build whole hosts; each returns
the :class:`HostTree`, whose ``expect`` dict says what the scenario stands for.
"""

from __future__ import annotations

import hashlib
import lzma
import shutil
import os
import posixpath
import stat
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

# --- PCI constants ---------------------------------------------------------------------------

INTEL = 0x8086
NVIDIA = 0x10DE
MICROSOFT = 0x1414
BROADCOM = 0x1000

CLASS_VGA = 0x030000
CLASS_3D = 0x030200
CLASS_DISPLAY_OTHER = 0x038000
CLASS_AUDIO_HDA = 0x040300
CLASS_HOST_BRIDGE = 0x060000
CLASS_ISA_BRIDGE = 0x060100
CLASS_PCI_BRIDGE = 0x060400

# struct resource flags as the kernel prints them in `resource` (include/linux/ioport.h, with
# the low PCI_BASE_ADDRESS_* bits the kernel keeps in IORESOURCE_BITS).
IORESOURCE_IO = 0x00000100
IORESOURCE_MEM = 0x00000200
IORESOURCE_PREFETCH = 0x00002000
IORESOURCE_READONLY = 0x00004000
IORESOURCE_SIZEALIGN = 0x00040000
IORESOURCE_MEM_64 = 0x00100000
FLAGS_MEM32 = IORESOURCE_SIZEALIGN | IORESOURCE_MEM  # 0x40200
FLAGS_MEM64 = IORESOURCE_MEM_64 | IORESOURCE_SIZEALIGN | IORESOURCE_MEM | 0x04  # 0x140204
FLAGS_MEM64_PREF = FLAGS_MEM64 | IORESOURCE_PREFETCH | 0x08  # 0x14220c
FLAGS_ROM = IORESOURCE_SIZEALIGN | IORESOURCE_READONLY | IORESOURCE_PREFETCH | IORESOURCE_MEM  # 0x46200
FLAGS_IO = IORESOURCE_SIZEALIGN | IORESOURCE_IO | 0x01  # 0x40101
# bridge windows (resource lines 13-16: I/O, memory, prefetchable memory), pci_read_bridge_*()
FLAGS_WINDOW_MEM = IORESOURCE_MEM  # 0x200
FLAGS_WINDOW_PREF64 = IORESOURCE_MEM_64 | IORESOURCE_PREFETCH | IORESOURCE_MEM | 0x01  # 0x102201
WINDOW_MEM, WINDOW_PREF = 14, 15

ENDPOINT_RESOURCES = 13  # PCI_BRIDGE_RESOURCES: 6 BARs + ROM + 6 SR-IOV BARs
BRIDGE_RESOURCES = 17  # DEVICE_COUNT_RESOURCE: + 4 bridge windows

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

DRM_MAJOR = 226
MISC_MAJOR = 10

# The link an integrated GPU (a PCIe Root Complex Integrated Endpoint) shows: the attributes exist,
# the kernel reads no Link registers for it, so it prints "Unknown" and 0.
LINK_RCIEP = ("Unknown", 0, "Unknown", 0)

Link = Sequence[Union[str, float, int]]
Bar = Sequence[int]


def bar(start: int, size: int, flags: int = FLAGS_MEM64_PREF) -> tuple[int, int, int]:
    """(start, end, flags) for a BAR of `size` bytes at `start`, as a `resource` line holds it."""
    return (start, start + size - 1, flags)


def speed_string(speed: str | float | int) -> str:
    """The kernel's pci_speed_string(): 16 -> '16.0 GT/s PCIe'; strings are kept as given."""
    if isinstance(speed, str):
        return speed
    return f"{float(speed):.1f} GT/s PCIe"


def zstd_frame(data: bytes) -> bytes:
    """A valid single-segment zstd frame holding `data` in one raw block (data < 256 bytes)."""
    if len(data) > 255:
        raise ValueError("zstd_frame keeps it simple: at most 255 bytes")
    block_header = ((len(data) << 3) | 1).to_bytes(3, "little")  # last block, raw
    return b"\x28\xb5\x2f\xfd" + bytes([0x20, len(data)]) + block_header + data


def kernfs_relpath(target: str, link_dir: str) -> str:
    """The relative target sysfs stores for a link in `link_dir` (fs/kernfs/symlink.c,
    kernfs_get_target_path): climb from link_dir until reaching an ancestor of target's PARENT,
    then descend. It equals posixpath.relpath except when the target is an ancestor of the link:
    <dev>/drm/card0/device -> '../../../0000:03:00.0', not '../..'."""
    tparent = posixpath.dirname(target.rstrip("/"))
    base, ups = link_dir.rstrip("/"), 0
    while base not in ("", "/") and not (tparent == base or tparent.startswith(base + "/")):
        base, ups = posixpath.dirname(base), ups + 1
    rest = posixpath.relpath(target, base if base else "/")
    return "../" * ups + rest


def remove(p: Path) -> None:
    """Remove a file, link, node or directory tree (never following a link); absent is fine."""
    if p.is_symlink() or (os.path.lexists(p) and not p.is_dir()):
        p.unlink()
    elif p.is_dir():
        shutil.rmtree(p)


def parse_bdf(bdf: str) -> tuple[str, int, int, int]:
    """'0000:03:00.0' -> ('0000', 3, 0, 0). Raises ValueError on anything else."""
    dom, bus, devfn = bdf.split(":")
    dev, fn = devfn.split(".")
    if len(dom) not in (4, 8) or len(bus) != 2 or len(dev) != 2 or len(fn) != 1:
        raise ValueError(f"not a PCI address: {bdf!r}")
    return dom, int(bus, 16), int(dev, 16), int(fn, 16)


# --- OS data ---------------------------------------------------------------------------------

OS_RELEASES = {
    ("debian", "12"): (
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
        'NAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\n'
        'VERSION="12 (bookworm)"\n'
        "VERSION_CODENAME=bookworm\n"
        "ID=debian\n"
        'HOME_URL="https://www.debian.org/"\n'
        'SUPPORT_URL="https://www.debian.org/support"\n'
        'BUG_REPORT_URL="https://bugs.debian.org/"\n'
    ),
    ("debian", "13"): (
        'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n'
        'NAME="Debian GNU/Linux"\n'
        'VERSION_ID="13"\n'
        'VERSION="13 (trixie)"\n'
        "VERSION_CODENAME=trixie\n"
        "DEBIAN_VERSION_FULL=13.1\n"
        "ID=debian\n"
        'HOME_URL="https://www.debian.org/"\n'
        'SUPPORT_URL="https://www.debian.org/support"\n'
        'BUG_REPORT_URL="https://bugs.debian.org/"\n'
    ),
    ("ubuntu", "24.04"): (
        'PRETTY_NAME="Ubuntu 24.04.3 LTS"\n'
        'NAME="Ubuntu"\n'
        'VERSION_ID="24.04"\n'
        'VERSION="24.04.3 LTS (Noble Numbat)"\n'
        "VERSION_CODENAME=noble\n"
        "ID=ubuntu\n"
        "ID_LIKE=debian\n"
        'HOME_URL="https://www.ubuntu.com/"\n'
        'SUPPORT_URL="https://help.ubuntu.com/"\n'
        'BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"\n'
        'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"\n'
        "UBUNTU_CODENAME=noble\n"
        "LOGO=ubuntu-logo\n"
    ),
    ("ubuntu", "22.04"): (
        'PRETTY_NAME="Ubuntu 22.04.5 LTS"\n'
        'NAME="Ubuntu"\n'
        'VERSION_ID="22.04"\n'
        'VERSION="22.04.5 LTS (Jammy Jellyfish)"\n'
        "VERSION_CODENAME=jammy\n"
        "ID=ubuntu\n"
        "ID_LIKE=debian\n"
        'HOME_URL="https://www.ubuntu.com/"\n'
        'SUPPORT_URL="https://help.ubuntu.com/"\n'
        'BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"\n'
        'PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"\n'
        "UBUNTU_CODENAME=jammy\n"
    ),
}
DEBIAN_VERSION = {
    ("debian", "12"): "12.8",
    ("debian", "13"): "13.1",
    ("ubuntu", "24.04"): "trixie/sid",
    ("ubuntu", "22.04"): "bookworm/sid",
}

PROC_VERSION = {
    "debian": (
        "Linux version {rel} (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, "
        "GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)\n"
    ),
    "ubuntu": (
        "Linux version {rel} (buildd@lcy02-amd64-054) "
        "(x86_64-linux-gnu-gcc-13 (Ubuntu 13.3.0-6ubuntu2~24.04) 13.3.0, "
        "GNU ld (GNU Binutils for Ubuntu) 2.42) #63-Ubuntu SMP PREEMPT_DYNAMIC "
        "Tue Apr 15 19:04:15 UTC 2025\n"
    ),
    "wsl": (
        "Linux version {rel} (root@f9c826d3017f) (gcc (GCC) 11.2.0, GNU ld (GNU Binutils) 2.37) "
        "#1 SMP Tue Nov 5 00:21:55 UTC 2024\n"
    ),
}

# Debian's static system groups (base-passwd) that matter here, and the dynamic ones.
BASE_GROUPS = [
    ("root", 0),
    ("daemon", 1),
    ("bin", 2),
    ("sys", 3),
    ("adm", 4),
    ("tty", 5),
    ("disk", 6),
    ("lp", 7),
    ("mail", 8),
    ("news", 9),
    ("uucp", 10),
    ("man", 12),
    ("proxy", 13),
    ("kmem", 15),
    ("dialout", 20),
    ("fax", 21),
    ("voice", 22),
    ("cdrom", 24),
    ("floppy", 25),
    ("tape", 26),
    ("sudo", 27),
    ("audio", 29),
    ("dip", 30),
    ("www-data", 33),
    ("backup", 34),
    ("operator", 37),
    ("list", 38),
    ("irc", 39),
    ("src", 40),
    ("shadow", 42),
    ("utmp", 43),
    ("video", 44),
    ("sasl", 45),
    ("plugdev", 46),
    ("staff", 50),
    ("games", 60),
    ("users", 100),
    ("nogroup", 65534),
]
BASE_USERS = [
    ("root", 0, 0, "root", "/root", "/bin/bash"),
    ("daemon", 1, 1, "daemon", "/usr/sbin", "/usr/sbin/nologin"),
    ("bin", 2, 2, "bin", "/bin", "/usr/sbin/nologin"),
    ("sys", 3, 3, "sys", "/dev", "/usr/sbin/nologin"),
    ("sync", 4, 65534, "sync", "/bin", "/bin/sync"),
    ("man", 6, 12, "man", "/var/cache/man", "/usr/sbin/nologin"),
    ("www-data", 33, 33, "www-data", "/var/www", "/usr/sbin/nologin"),
    ("_apt", 42, 65534, "", "/nonexistent", "/usr/sbin/nologin"),
    ("nobody", 65534, 65534, "nobody", "/nonexistent", "/usr/sbin/nologin"),
    ("systemd-network", 998, 998, "systemd Network Management", "/", "/usr/sbin/nologin"),
]

# Package metadata for dpkg stanzas: name -> (section, source, multi_arch, description)
PKG_META = {
    "libze1": (
        "libs",
        "level-zero",
        "same",
        "Intel(R) Graphics Compute Runtime for oneAPI Level Zero - loader",
    ),
    "libze-intel-gpu1": (
        "libs",
        "intel-compute-runtime",
        "same",
        "Intel(R) Graphics Compute Runtime for oneAPI Level Zero - GPU driver",
    ),
    "intel-opencl-icd": (
        "libs",
        "intel-compute-runtime",
        "same",
        "Intel graphics compute runtime for OpenCL",
    ),
    "libigdgmm12": ("libs", "gmmlib", "same", "Intel Graphics Memory Management Library -- shared library"),
    "clinfo": ("utils", None, None, "Query OpenCL system information"),
    "intel-i915-dkms": ("kernel", None, None, "Out of tree i915 driver."),
    "intel-fw-gpu": ("kernel", None, "foreign", "Firmware package for Intel integrated and discrete GPUs"),
    "firmware-misc-nonfree": (
        "non-free-firmware/kernel",
        "firmware-nonfree",
        "foreign",
        "Binary firmware for various drivers in the Linux kernel",
    ),
    "linux-firmware": ("misc", None, "foreign", "Firmware for Linux kernel drivers"),
    "base-files": ("admin", None, None, "Debian base system miscellaneous files"),
    "dpkg": ("admin", None, "foreign", "Debian package management system"),
    "xpumanager": ("utils", None, None, "Intel XPU Manager"),
}

DEFAULT_PCI_IDS = """\
#
#\tList of PCI ID's (excerpt, real format)
#
#\tVersion: 2025.01.01
#\tDate:    2025-01-01 03:15:01
#
1000  Broadcom / LSI
\tc030  PEX89000 PCIe Gen 5 Switch
10de  NVIDIA Corporation
\t2684  AD102 [GeForce RTX 4090]
\t22ba  AD102 High Definition Audio Controller
1234  Technical Corp.
\t1111  QEMU Virtual Video Controller
1414  Microsoft Corporation
\t008e  Basic Render Driver
8086  Intel Corporation
\t0bd5  Ponte Vecchio XT (2 Tile) [Data Center GPU Max 1550]
\t1237  440FX - 82441FX PMC [Natoma]
\t460d  12th Gen Core Processor PCI Express x16 Controller #1
\t4660  12th Gen Core Processor Host Bridge/DRAM Registers
\t46a6  Alder Lake-P GT2 [Iris Xe Graphics]
\t4f90  DG2 Audio Controller
\t4fa1  DG2 PCI Express Bridge
\t4fa4  DG2 PCI Express Bridge
\t56a0  DG2 [Arc A770]
\t\t8086 1020  Arc A770 Graphics 16GB
\t56c0  ATS-M [Data Center GPU Flex 170]
\t7000  82371SB PIIX3 ISA [Natoma/Triton II]
\te20b  Battlemage G21 [Arc B580]
\te2f0  Battlemage G21 PCI Express Bridge
\te2f7  Battlemage G21 Audio Controller
\te2ff  Battlemage G21 PCI Express Bridge
# List of known device classes, subclasses and programming interfaces
C 03  Display controller
\t00  VGA compatible controller
\t02  3D controller
\t80  Display controller
C 06  Bridge
\t00  Host bridge
\t04  PCI bridge
"""


class HostTree:
    """Builds a host tree under `root`. Every method returns the in-tree path it made (a Path).

    Paths given to methods are host-absolute ('/etc/group'); they are placed under `root`.
    ``merged_usr`` (default True, as on Debian 12+ and Ubuntu) makes /lib, /bin, /sbin, /lib64
    relative symlinks into /usr, so /lib/firmware/x really lives at /usr/lib/firmware/x.
    """

    def __init__(self, root: Path | str, merged_usr: bool = True):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.devices: dict[str, str] = {}  # bdf -> '/sys/devices/pci0000:00/.../<bdf>'
        self.bridges: set[str] = set()
        self.cards: dict[int, str] = {}  # card index -> bdf
        self.expect: dict = {}  # what a preset stands for (see the presets)
        self.os_id = "debian"
        self.kernel_release: str | None = None
        self._boot_vga_taken = False
        self._next_hwmon = 2  # hwmon0/1 are the platform's (acpitz, coretemp) on a real host
        if merged_usr:
            for d in ("lib", "bin", "sbin", "lib64"):
                (self.root / "usr" / d).mkdir(parents=True, exist_ok=True)
                link = self.root / d
                if not os.path.lexists(link):
                    os.symlink(f"usr/{d}", link)

    # --- primitives ------------------------------------------------------------------------

    def path(self, p: str) -> Path:
        """The in-tree path for host path `p` ('/sys/...' -> <root>/sys/...)."""
        return self.root / p.lstrip("/")

    def write(self, p: str, content: str | bytes = "", mode: int = 0o644) -> Path:
        """Write a file (parents made), replacing a file or symlink already there."""
        dest = self.path(p)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink():
            dest.unlink()
        if isinstance(content, str):
            content = content.encode()
        dest.write_bytes(content)
        os.chmod(dest, mode)
        return dest

    def mkdir(self, p: str) -> Path:
        dest = self.path(p)
        dest.mkdir(parents=True, exist_ok=True)
        return dest

    def link(self, link: str, target: str, relative: bool = True) -> Path:
        """Symlink host path `link` to host path `target`.

        relative=True (the kernel's way) stores the target relative to the link's directory, so
        it resolves inside the root; relative=False stores `target` verbatim (absolute).
        """
        dest = self.path(link)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(dest):
            if dest.is_dir() and not dest.is_symlink():
                raise FileExistsError(f"{link} is a directory")
            dest.unlink()
        stored = (
            kernfs_relpath(target, posixpath.dirname(link))
            if relative and link.startswith("/sys/")
            else posixpath.relpath(target, posixpath.dirname(link))
            if relative
            else target
        )
        os.symlink(stored, dest)
        return dest

    def chardev(self, p: str, major: int, minor: int, mode: int = 0o660, uid: int = 0, gid: int = 0) -> Path:
        """A real character device node (needs root)."""
        dest = self.path(p)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(dest):
            dest.unlink()
        os.mknod(dest, stat.S_IFCHR | mode, os.makedev(major, minor))
        os.chmod(dest, mode)  # mknod is subject to the umask
        os.chown(dest, uid, gid, follow_symlinks=False)
        return dest

    def _attr(self, d: str, name: str, value: str | bytes, mode: int = 0o444) -> Path:
        return self.write(f"{d}/{name}", value, mode)

    # --- OS, kernel, modules ---------------------------------------------------------------

    def os_release(
        self,
        id: str = "debian",
        version_id: str = "12",
        pretty: str | None = None,
        codename: str | None = None,
    ) -> Path:
        """/usr/lib/os-release and /etc/os-release -> ../usr/lib/os-release (as base-files ships them),
        plus /etc/debian_version."""
        self.os_id = id
        text = OS_RELEASES.get((id, version_id))
        if text is None or pretty or codename:
            pretty = pretty or f"{id.capitalize()} {version_id}"
            text = (
                f'PRETTY_NAME="{pretty}"\n'
                f'NAME="{id.capitalize()}"\nVERSION_ID="{version_id}"\n'
                + (f"VERSION_CODENAME={codename}\n" if codename else "")
                + f"ID={id}\n"
                + ("" if id == "debian" else "ID_LIKE=debian\n")
            )
        out = self.write("/usr/lib/os-release", text)
        self.link("/etc/os-release", "/usr/lib/os-release")
        if (id, version_id) in DEBIAN_VERSION:
            self.write("/etc/debian_version", DEBIAN_VERSION[(id, version_id)] + "\n")
        return out

    def kernel(self, release: str = "6.1.0-28-amd64", wsl: bool = False, cmdline: str | None = None) -> Path:
        """/proc/sys/kernel/osrelease, /proc/version, /proc/cmdline and /lib/modules/<release>/.

        wsl=True with the default release gives the WSL2 kernel, 5.15.167.4-microsoft-standard-WSL2.
        """
        if wsl and release == "6.1.0-28-amd64":
            release = "5.15.167.4-microsoft-standard-WSL2"
        self.kernel_release = release
        flavour = (
            "wsl" if "microsoft" in release else ("ubuntu" if release.endswith("-generic") else "debian")
        )
        self.write("/proc/version", PROC_VERSION[flavour].format(rel=release), 0o444)
        if cmdline is None:
            cmdline = (
                f"BOOT_IMAGE=/boot/vmlinuz-{release} root=UUID=5b2c3a1e-7f0e-4c1b-9d3e-2f1a0b9c8d7e ro quiet"
                if flavour != "wsl"
                else "initrd=\\initrd.img WSL_ROOT_INIT=1 panic=-1 nr_cpus=8"
            )
        self.write("/proc/cmdline", cmdline + "\n", 0o444)
        if flavour != "wsl":
            self.mkdir(f"/lib/modules/{release}/kernel/drivers/gpu/drm")
        return self.write("/proc/sys/kernel/osrelease", release + "\n", 0o444)

    def proc_modules(
        self, names: Iterable[str] | None, taints: Mapping[str, str] | None = None
    ) -> Path | None:
        """/proc/modules with one 'name size refcnt holders state offset [taint]' line per name
        (None: no /proc/modules at all, as on a kernel built without loadable modules)."""
        p = self.path("/proc/modules")
        if names is None:
            if p.exists():
                p.unlink()
            return None
        taints = dict(taints or {})
        lines = []
        for name in names:
            # agree with /sys/module/<name> where it exists (refcnt, coresize, taint)
            sysmod = self.path(f"/sys/module/{name}")
            size = refcnt = None
            if (sysmod / "coresize").is_file():
                size = int((sysmod / "coresize").read_text())
                refcnt = int((sysmod / "refcnt").read_text())
                if not taints.get(name) and (sysmod / "taint").is_file():
                    taints[name] = (sysmod / "taint").read_text().strip()
            size = size or 4096 * (97 + 31 * len(name))
            refcnt = 1 if refcnt is None else refcnt
            taint = f" ({taints[name]})" if taints.get(name) else ""
            lines.append(f"{name} {size} {refcnt} - Live 0x0000000000000000{taint}\n")
        return self.write("/proc/modules", "".join(lines), 0o444)

    def module(
        self,
        name: str,
        version: str | None = None,
        refcnt: int = 1,
        srcversion: str | None = None,
        builtin: bool = False,
        taint: str = "",
        parameters: Mapping[str, str] | None = None,
    ) -> Path:
        """/sys/module/<name>/: a loaded module (initstate 'live', refcnt, coresize, taint, holders/,
        parameters/, srcversion, optional version) or, builtin=True, what a built-in one shows
        (parameters/ and version only: no initstate, no refcnt)."""
        d = f"/sys/module/{name}"
        self.mkdir(f"{d}/parameters")
        for k, v in (parameters or {}).items():
            self._attr(f"{d}/parameters", k, f"{v}\n", 0o644)
        self._attr(d, "uevent", "", 0o200)
        if version is not None:
            self._attr(d, "version", version + "\n")
        if builtin:
            return self.path(d)
        self.mkdir(f"{d}/holders")
        self.mkdir(f"{d}/sections")
        self._attr(d, "initstate", "live\n")
        self._attr(d, "refcnt", f"{refcnt}\n")
        self._attr(d, "coresize", f"{4096 * (900 + 13 * len(name))}\n")
        self._attr(d, "initsize", "0\n")
        self._attr(d, "taint", f"{taint}\n")
        if srcversion is None:
            srcversion = hashlib.md5(name.encode()).hexdigest().upper()[:23]
        self._attr(d, "srcversion", srcversion + "\n")
        return self.path(d)

    def dkms_module(self, kernel_release: str, name: str, compress: str | None = None) -> Path:
        """/lib/modules/<rel>/updates/dkms/<name>.ko[.zst|.xz], where DKMS installs (depmod searches
        updates/ before the kernel's own modules)."""
        suffix = {None: "", "zst": ".zst", "xz": ".xz"}[compress]
        return self.write(
            f"/lib/modules/{kernel_release}/updates/dkms/{name}.ko{suffix}",
            b"\x7fELF\x02\x01\x01" + b"\0" * 57,
        )

    def loaded(
        self, names: Iterable[str], taints: Mapping[str, str] | None = None, builtin: Iterable[str] = ()
    ) -> None:
        """Convenience: /sys/module/<name> for each loaded (and built-in) module, and /proc/modules
        listing the loaded ones."""
        names = list(names)
        taints = dict(taints or {})
        for n in names:
            if not self.path(f"/sys/module/{n}/initstate").exists():
                self.module(n, taint=taints.get(n, ""))
            elif taints.get(n):
                self._attr(f"/sys/module/{n}", "taint", taints[n] + "\n")
        for n in builtin:
            self.module(n, builtin=True)
        self.proc_modules(names, taints)

    # --- PCI ---------------------------------------------------------------------------------

    def _pci_driver(self, name: str, module: str | None) -> str:
        d = f"/sys/bus/pci/drivers/{name}"
        if not self.path(d).is_dir():
            self.mkdir(d)
            for a, m in (
                ("bind", 0o200),
                ("unbind", 0o200),
                ("new_id", 0o200),
                ("remove_id", 0o200),
                ("uevent", 0o200),
            ):
                self._attr(d, a, "", m)
        if module and not self.path(f"{d}/module").is_symlink():
            if not self.path(f"/sys/module/{module}").is_dir():
                self.module(module)
            self.link(f"{d}/module", f"/sys/module/{module}")
            self.link(f"/sys/module/{module}/drivers/pci:{name}", d)
        return d

    def pci_device(
        self,
        bdf: str,
        vendor: int = INTEL,
        device: int = 0x56A0,
        klass: int = CLASS_VGA,
        driver: str | None = None,
        subsystem_vendor: int | None = None,
        subsystem_device: int = 0,
        revision: int = 0,
        link: Link | None = None,
        bars: Sequence[Bar] | Mapping[int, Bar] | None = None,
        parent: str | None = None,
        *,
        driver_module: str | bool | None = True,
        numa_node: int = -1,
        boot_vga: bool | None = None,
        irq: int | None = None,
        sriov_totalvfs: int | None = None,
        bus_root: str = "/sys/devices",
    ) -> Path:
        """A PCI function: real dir <bus_root>/pci<dom>:<bus>/<parents...>/<bdf>, and
        /sys/bus/pci/devices/<bdf> -> ../../../devices/.../<bdf>.

        link: (cur_speed, cur_width, max_speed, max_width); speeds as GT/s numbers (16 -> '16.0 GT/s
        PCIe') or the kernel's strings ('Unknown'); None = a conventional PCI function, no link files.
        bars: [(start, end, flags), ...] by index (see :func:`bar`), or {index: (...)}; index 6 is
        the ROM. driver: bind it (driver link, /sys/bus/pci/drivers/<driver> with its `module` link
        to /sys/module/<module>; driver_module=True means module = driver name, a string names
        another module (bochs-drm -> bochs), False/None a built-in driver with no module).
        """
        parse_bdf(bdf)
        if parent is not None:
            if parent not in self.devices:
                raise KeyError(f"parent {parent} not created yet")
            d = f"{self.devices[parent]}/{bdf}"
        else:
            dom, busno, _, _ = parse_bdf(bdf)
            busdir = f"{bus_root}/pci{dom}:{busno:02x}"
            self.mkdir(busdir)
            self._attr(busdir, "uevent", "", 0o644)
            self.mkdir(f"{busdir}/power")
            d = f"{busdir}/{bdf}"
        if self.path(d).exists():
            raise FileExistsError(f"PCI device {bdf} exists")
        self.mkdir(d)
        self.devices[bdf] = d
        is_bridge = (klass >> 8) == 0x0604
        if is_bridge:
            self.bridges.add(bdf)
        sv = vendor if subsystem_vendor is None else subsystem_vendor
        enabled = driver is not None

        self._attr(d, "vendor", f"0x{vendor:04x}\n")
        self._attr(d, "device", f"0x{device:04x}\n")
        self._attr(d, "class", f"0x{klass:06x}\n")
        self._attr(d, "subsystem_vendor", f"0x{sv:04x}\n")
        self._attr(d, "subsystem_device", f"0x{subsystem_device:04x}\n")
        self._attr(d, "revision", f"0x{revision:02x}\n")
        self._attr(
            d, "irq", f"{irq if irq is not None else (16 + len(self.devices) % 16) if enabled else 0}\n"
        )
        self._attr(d, "numa_node", f"{numa_node}\n", 0o644)
        self._attr(d, "local_cpulist", "0-15\n")
        self._attr(d, "local_cpus", "ffff\n")
        self._attr(d, "enable", "1\n" if enabled else "0\n", 0o644)
        self._attr(d, "broken_parity_status", "0\n", 0o644)
        self._attr(d, "msi_bus", "1\n", 0o644)
        self._attr(d, "d3cold_allowed", "1\n", 0o644)
        self._attr(d, "power_state", "D0\n")
        self._attr(d, "dma_mask_bits", "64\n")
        self._attr(d, "consistent_dma_mask_bits", "64\n")
        self._attr(d, "driver_override", "(null)\n", 0o644)
        self._attr(d, "ari_enabled", "0\n")
        self._attr(d, "modalias", self._modalias(vendor, device, sv, subsystem_device, klass) + "\n")
        for a in ("remove", "rescan", "reset"):
            self._attr(d, a, "", 0o200)
        self.mkdir(f"{d}/power")
        self._attr(f"{d}/power", "control", "on\n" if is_bridge else "auto\n", 0o644)
        self._attr(f"{d}/power", "runtime_status", "active\n")
        self.link(f"{d}/subsystem", "/sys/bus/pci")
        if (klass >> 8) == 0x0300:  # vga_attr is visible only for VGA-class devices
            if boot_vga is None:
                boot_vga = not self._boot_vga_taken
            self._boot_vga_taken = self._boot_vga_taken or bool(boot_vga)
            self._attr(d, "boot_vga", "1\n" if boot_vga else "0\n")
        if link is not None:
            cur_s, cur_w, max_s, max_w = link
            self._attr(d, "current_link_speed", speed_string(cur_s) + "\n")
            self._attr(d, "current_link_width", f"{int(cur_w)}\n")
            self._attr(d, "max_link_speed", speed_string(max_s) + "\n")
            self._attr(d, "max_link_width", f"{int(max_w)}\n")
        if sriov_totalvfs is not None:
            self._attr(d, "sriov_totalvfs", f"{sriov_totalvfs}\n")
            self._attr(d, "sriov_numvfs", "0\n", 0o644)
            self._attr(d, "sriov_drivers_autoprobe", "1\n", 0o644)

        # resources
        nres = BRIDGE_RESOURCES if is_bridge else ENDPOINT_RESOURCES
        res: dict[int, Bar] = dict(bars) if isinstance(bars, Mapping) else dict(enumerate(bars or []))
        lines = []
        for i in range(nres):
            s, e, f = res.get(i, (0, 0, 0))
            lines.append(f"0x{s:016x} 0x{e:016x} 0x{f:016x}\n")
            if f and i < 6:
                self._attr(d, f"resource{i}", "", 0o600)
                if f & IORESOURCE_PREFETCH:
                    self._attr(d, f"resource{i}_wc", "", 0o600)
            if f and i == 6:
                self._attr(d, "rom", "", 0o600)
        self._attr(d, "resource", "".join(lines))
        self._attr(
            d,
            "config",
            self._config_space(
                vendor,
                device,
                klass,
                revision,
                sv,
                subsystem_device,
                res,
                is_bridge,
                enabled,
                bdf,
                link is not None,
            ),
            0o644,
        )
        if is_bridge:
            sec = parse_bdf(bdf)[1] + 1
            self._attr(d, "secondary_bus_number", f"{sec}\n")
            self._attr(d, "subordinate_bus_number", f"{sec}\n")

        uevent = [f"DRIVER={driver}"] if driver else []
        uevent += [
            f"PCI_CLASS={klass:X}",
            f"PCI_ID={vendor:04X}:{device:04X}",
            f"PCI_SUBSYS_ID={sv:04X}:{subsystem_device:04X}",
            f"PCI_SLOT_NAME={bdf}",
            f"MODALIAS={self._modalias(vendor, device, sv, subsystem_device, klass)}",
        ]
        self._attr(d, "uevent", "\n".join(uevent) + "\n", 0o644)

        self.link(f"/sys/bus/pci/devices/{bdf}", d)
        self._attr("/sys/bus/pci", "drivers_autoprobe", "1\n", 0o644)
        if driver:
            self.bind(bdf, driver, driver_module)
        return self.path(d)

    def bind(self, bdf: str, driver: str, module: str | bool | None = True) -> Path:
        """Bind `bdf` to `driver`: <dev>/driver -> ../../.../bus/pci/drivers/<driver> and the driver's
        back link /sys/bus/pci/drivers/<driver>/<bdf> -> the device."""
        d = self.devices[bdf]
        mod = driver if module is True else (module or None)
        drv = self._pci_driver(driver, mod)
        self.link(f"{d}/driver", drv)
        self.link(f"{drv}/{bdf}", d)
        self._attr(d, "enable", "1\n", 0o644)
        return self.path(f"{d}/driver")

    @staticmethod
    def _modalias(v: int, d: int, sv: int, sd: int, klass: int) -> str:
        return (
            f"pci:v{v:08X}d{d:08X}sv{sv:08X}sd{sd:08X}"
            f"bc{klass >> 16:02X}sc{(klass >> 8) & 0xFF:02X}i{klass & 0xFF:02X}"
        )

    @staticmethod
    def _config_space(vendor, device, klass, revision, sv, sd, res, is_bridge, enabled, bdf, pcie) -> bytes:
        cfg = bytearray(4096 if pcie else 256)

        def put(off: int, val: int, n: int) -> None:
            cfg[off : off + n] = val.to_bytes(n, "little")

        put(0x00, vendor, 2)
        put(0x02, device, 2)
        put(0x04, 0x0406 if enabled else 0x0000, 2)  # memory space, bus master, INTx disable
        put(0x06, 0x0010, 2)  # capabilities list
        put(0x08, revision, 1)
        put(0x09, klass, 3)
        put(0x0E, 0x01 if is_bridge else 0x00, 1)
        if is_bridge:
            bus = parse_bdf(bdf)[1]
            put(0x18, bus, 1)
            put(0x19, bus + 1, 1)
            put(0x1A, bus + 1, 1)
        else:
            put(0x2C, sv, 2)
            put(0x2E, sd, 2)
            i = 0
            while i < 6:
                s, _, f = res.get(i, (0, 0, 0))
                if f & IORESOURCE_IO:
                    put(0x10 + 4 * i, (s & ~0x3) | 0x1, 4)
                elif f & IORESOURCE_MEM:
                    low = (s & 0xFFFFFFF0) | (f & 0x0F)
                    put(0x10 + 4 * i, low, 4)
                    if f & 0x04 and i < 5:
                        put(0x14 + 4 * i, s >> 32, 4)
                        i += 1
                i += 1
        put(0x34, 0x40, 1)
        return bytes(cfg)

    def host_bridge(
        self,
        bdf: str = "0000:00:00.0",
        vendor: int = INTEL,
        device: int = 0x4660,
        link: Link | None = None,
        **kw,
    ) -> Path:
        """A host bridge (class 0x060000), e.g. Intel's at 0000:00:00.0: vendor 0x8086 and not a GPU."""
        kw.setdefault("revision", 0x02)
        kw.setdefault("driver_module", None)
        return self.pci_device(bdf, vendor=vendor, device=device, klass=CLASS_HOST_BRIDGE, link=link, **kw)

    def pci_bridge(
        self,
        bdf: str,
        vendor: int = INTEL,
        device: int = 0x460D,
        parent: str | None = None,
        link: Link | None = (16, 16, 32, 16),
        driver: str | None = "pcieport",
        **kw,
    ) -> Path:
        """A PCI-to-PCI bridge (class 0x060400): a root port, or a switch's upstream/downstream port,
        bound to the built-in `pcieport` driver (no module) by default."""
        kw.setdefault("driver_module", None if driver == "pcieport" else True)
        return self.pci_device(
            bdf,
            vendor=vendor,
            device=device,
            klass=CLASS_PCI_BRIDGE,
            link=link,
            parent=parent,
            driver=driver,
            **kw,
        )

    def intel_discrete_card(
        self,
        root_port: str = "0000:00:01.0",
        bus: int = 3,
        gpu_device: int = 0x56A0,
        klass: int = CLASS_VGA,
        driver: str | None = "i915",
        switch: tuple[int, int, int] = (0x4FA1, 0x4FA4, 0x4F90),
        upstream_link: Link = (16, 16, 16, 16),
        gpu_bars: Sequence[Bar] | None = None,
        subsystem: tuple[int, int] = (INTEL, 0x1020),
        revision: int = 0x08,
        with_audio: bool = True,
        **gpu_kw,
    ) -> str:
        """An Intel discrete card as the kernel sees it: the card's own PCIe switch under `root_port`
        (upstream port <bus-2>:00.0, downstream port <bus-1>:01.0, the GPU at <bus>:00.0; the audio
        function behind a second downstream port <bus-1>:04.0 at <bus+1>:00.0).

        The real link to the slot is the one of the upstream port (`upstream_link`, also shown by
        the root port's current speed/width). The GPU and its downstream port sit on the card's
        internal link, which reports 2.5 GT/s x1 on a healthy card. Returns the GPU's BDF.
        """
        dom = root_port.split(":")[0]
        up, down, gpu = f"{dom}:{bus - 2:02x}:00.0", f"{dom}:{bus - 1:02x}:01.0", f"{dom}:{bus:02x}:00.0"
        up_id, down_id, audio_id = switch
        if gpu_bars is None:
            gpu_bars = {
                0: bar(0xFB000000, 16 * MiB, FLAGS_MEM64),
                2: bar(0x6000000000, 16 * GiB),
                6: bar(0xFC000000, 2 * MiB, FLAGS_ROM),
            }
        gb = dict(gpu_bars) if isinstance(gpu_bars, Mapping) else dict(enumerate(gpu_bars))
        mem = [r for i, r in gb.items() if r[2] and not r[2] & IORESOURCE_PREFETCH or i == 6 and r[2]]
        pref = [r for i, r in gb.items() if r[2] & IORESOURCE_PREFETCH and i != 6]
        down_win: dict[int, Bar] = {}
        if mem:
            down_win[WINDOW_MEM] = (
                min(r[0] for r in mem),
                max(r[1] for r in mem) | 0xFFFFF,
                FLAGS_WINDOW_MEM,
            )
        if pref:
            down_win[WINDOW_PREF] = (
                min(r[0] for r in pref),
                max(r[1] for r in pref) | 0xFFFFF,
                FLAGS_WINDOW_PREF64,
            )
        up_res = dict(down_win)
        up_res[0] = bar(0x6400000000 if gb.get(2, (0,))[0] < 0x6400000000 else 0x4000000000, 8 * MiB)
        if with_audio and WINDOW_MEM in up_res:  # the audio function's 16 KiB sits above the GPU's MMIO
            s0, e0, f0 = up_res[WINDOW_MEM]
            up_res[WINDOW_MEM] = (s0, e0 + MiB, f0)
        self.pci_bridge(
            up, device=up_id, parent=root_port, link=tuple(upstream_link), revision=0x01, bars=up_res
        )
        self.pci_bridge(down, device=down_id, parent=up, link=(2.5, 1, 2.5, 1), revision=0x01, bars=down_win)
        self.pci_device(
            gpu,
            vendor=INTEL,
            device=gpu_device,
            klass=klass,
            driver=driver,
            subsystem_vendor=subsystem[0],
            subsystem_device=subsystem[1],
            revision=revision,
            link=(2.5, 1, 2.5, 1),
            bars=gpu_bars,
            parent=down,
            **gpu_kw,
        )
        if with_audio:
            adown, audio = f"{dom}:{bus - 1:02x}:04.0", f"{dom}:{bus + 1:02x}:00.0"
            astart = (up_res[WINDOW_MEM][1] + 1 - MiB) if WINDOW_MEM in up_res else 0xFC200000
            self.pci_bridge(
                adown,
                device=down_id,
                parent=up,
                link=(2.5, 1, 2.5, 1),
                revision=0x01,
                bars={WINDOW_MEM: (astart, astart + MiB - 1, FLAGS_WINDOW_MEM)},
            )
            self.pci_device(
                audio,
                vendor=INTEL,
                device=audio_id,
                klass=CLASS_AUDIO_HDA,
                driver="snd_hda_intel",
                subsystem_vendor=subsystem[0],
                subsystem_device=subsystem[1],
                link=(2.5, 1, 2.5, 1),
                bars={0: bar(astart, 16 * KiB, FLAGS_MEM64)},
                parent=adown,
            )
        return gpu

    # --- DRM ---------------------------------------------------------------------------------

    def drm(
        self,
        bdf: str,
        card_index: int = 0,
        driver: str | None = None,
        render: bool = True,
        connectors: Sequence[str] = (),
        gt: bool = True,
        hwmon: bool | None = None,
        max_mhz: int = 2400,
    ) -> Path:
        """DRM minors of a bound device: real dirs <pci dev>/drm/cardN and renderD(128+N) (dev
        '226:N', uevent MAJOR/MINOR/DEVNAME=dri/cardN/DEVTYPE=drm_minor, device -> ../../../<bdf>,
        subsystem -> class/drm), /sys/class/drm/cardN -> ../../devices/.../drm/cardN,
        /sys/dev/char/226:N -> the same, and /sys/class/drm/version.

        driver, when given, must be the device's bound driver (the kernel makes DRM minors only
        from a bound driver). connectors: names like 'DP-1' -> cardN-DP-1 (status disconnected).
        gt (driver i915 or xe): the driver's frequency files, see :meth:`gt_sysfs`. hwmon (None:
        for a discrete device, one behind a bridge): <pci dev>/hwmon/hwmonN named after the driver.
        """
        d = self.devices[bdf]
        if driver is not None:
            bound = self.path(f"{d}/driver")
            if not bound.is_symlink() or os.path.basename(os.readlink(bound)) != driver:
                raise ValueError(f"{bdf} is not bound to {driver}")
        self._attr("/sys/class/drm", "version", "drm 1.1.0 20060810\n")
        minors = [(f"card{card_index}", card_index)]
        if render:
            minors.append((f"renderD{128 + card_index}", 128 + card_index))
        for name, minor in minors:
            m = f"{d}/drm/{name}"
            self.mkdir(m)
            self._attr(m, "dev", f"{DRM_MAJOR}:{minor}\n")
            self._attr(
                m,
                "uevent",
                f"MAJOR={DRM_MAJOR}\nMINOR={minor}\nDEVNAME=dri/{name}\nDEVTYPE=drm_minor\n",
                0o644,
            )
            self.mkdir(f"{m}/power")
            self._attr(f"{m}/power", "control", "auto\n", 0o644)
            self.link(f"{m}/device", d)
            self.link(f"{m}/subsystem", "/sys/class/drm")
            self.link(f"/sys/class/drm/{name}", m)
            self.link(f"/sys/dev/char/{DRM_MAJOR}:{minor}", m)
        card = f"{d}/drm/card{card_index}"
        for c in connectors:
            cd = f"{card}/card{card_index}-{c}"
            self.mkdir(cd)
            self._attr(cd, "status", "disconnected\n", 0o644)
            self._attr(cd, "enabled", "disabled\n")
            self.link(f"{cd}/device", card)
            self.link(f"/sys/class/drm/card{card_index}-{c}", cd)
        self.cards[card_index] = bdf
        if gt and driver in ("i915", "xe"):
            self.gt_sysfs(bdf, card_index, driver, max_mhz)
        if hwmon is None:
            hwmon = driver in ("i915", "xe") and d.count("/") > 4  # /sys/devices/pciDDDD:BB/<bdf> is 4
        if hwmon:
            self.hwmon(bdf, driver or "drm")
        return self.path(card)

    def gt_sysfs(
        self, bdf: str, card_index: int, driver: str, max_mhz: int = 2400, min_mhz: int = 300
    ) -> None:
        """The GT frequency files each driver has: i915 cardN/gt_{act,cur,min,max,boost,RP0,RP1,RPn}_freq_mhz
        and cardN/gt/gt0/rps_*_freq_mhz; xe <pci dev>/tile0/gt0/freq0/{act,cur,min,max,rp0,rpe,rpn}_freq
        and freq0/throttle/status (MHz, idle: act 0)."""
        d = self.devices[bdf]
        rpe = (min_mhz + max_mhz) // 2
        if driver == "i915":
            card = f"{d}/drm/card{card_index}"
            vals = {
                "act": 0,
                "cur": min_mhz,
                "min": min_mhz,
                "max": max_mhz,
                "boost": max_mhz,
                "RP0": max_mhz,
                "RP1": rpe,
                "RPn": min_mhz,
            }
            for k, v in vals.items():
                mode = 0o644 if k in ("min", "max", "boost") else 0o444
                self._attr(card, f"gt_{k}_freq_mhz", f"{v}\n", mode)
                self._attr(f"{card}/gt/gt0", f"rps_{k}_freq_mhz", f"{v}\n", mode)
            self._attr(f"{card}/gt/gt0", "id", "0\n")
        elif driver == "xe":
            f0 = f"{d}/tile0/gt0/freq0"
            vals = {
                "act": 0,
                "cur": min_mhz,
                "min": min_mhz,
                "max": max_mhz,
                "rp0": max_mhz,
                "rpe": rpe,
                "rpn": min_mhz,
            }
            for k, v in vals.items():
                self._attr(f0, f"{k}_freq", f"{v}\n", 0o644 if k in ("min", "max") else 0o444)
            self._attr(f"{f0}/throttle", "status", "0\n")
            self._attr(f"{d}/tile0/gt0", "uevent", "", 0o644)
        else:
            raise ValueError(f"no GT files for driver {driver!r}")

    def vram(self, bdf: str, driver: str, sizes: Sequence[int], card_index: int = 0) -> list[Path]:
        """The VRAM size as the driver publishes it. xe: <pci dev>/tileN/physical_vram_size_bytes, one per
        tile, decimal (drivers/gpu/drm/xe/xe_tile_sysfs.c: sysfs_emit("%llu\\n"), the tile kobject under the
        PCI device). Intel's out-of-tree i915: <pci dev>/drm/cardN/lmem_total_bytes (the DRM minor's
        directory; mainline i915 has no such file)."""
        d = self.devices[bdf]
        if driver == "xe":
            return [self._attr(f"{d}/tile{i}", "physical_vram_size_bytes", f"{n}\n") for i, n in enumerate(sizes)]
        if driver == "i915":
            return [self._attr(f"{d}/drm/card{card_index}", "lmem_total_bytes", f"{sum(sizes)}\n")]
        raise ValueError(f"driver: 'xe' or 'i915', not {driver!r}")

    def hwmon(self, bdf: str, name: str) -> Path:
        """<pci dev>/hwmon/hwmonN (name, energy1_input, power1_max, power1_rated_max, device -> the PCI
        device) and /sys/class/hwmon/hwmonN -> it, as i915/xe register one for a discrete card."""
        d = self.devices[bdf]
        n = self._next_hwmon
        self._next_hwmon += 1
        h = f"{d}/hwmon/hwmon{n}"
        self._attr(h, "name", f"{name}\n")
        self._attr(h, "energy1_input", "123456789\n")
        self._attr(h, "power1_max", "190000000\n", 0o644)
        self._attr(h, "power1_rated_max", "225000000\n")
        self.link(f"{h}/device", d)
        self.link(f"{h}/subsystem", "/sys/class/hwmon")
        self.link(f"/sys/class/hwmon/hwmon{n}", h)
        return self.path(h)

    def group_gid(self, name: str) -> int:
        """The gid of group `name` in the tree's /etc/group (KeyError if absent)."""
        p = self.path("/etc/group")
        if p.exists():
            for line in p.read_text().splitlines():
                f = line.split(":")
                if len(f) >= 3 and f[0] == name:
                    return int(f[2])
        raise KeyError(f"group {name!r} not in {p} (call users() first)")

    def dev_dri(
        self,
        card_index: int = 0,
        mode: int = 0o660,
        group: str = "video",
        render_group: str = "render",
        with_render: bool = True,
        by_path: bool = True,
        wrong_rdev: bool = False,
        bdf: str | None = None,
        render_mode: int | None = None,
    ) -> Path:
        """Real character devices /dev/dri/cardN (226:N, root:video) and renderD(128+N) (226:128+N,
        root:render), mode 0660 as udev makes them on Debian, gids from the tree's /etc/group;
        /dev/dri/by-path/pci-<bdf>-card and -render -> ../cardN / ../renderDM.

        wrong_rdev=True gives renderD(128+N) the card's numbers 226:N (a node whose name does not
        match its device, as a stale bind mount can leave). bdf defaults to the one given to drm().
        """
        card, render = f"card{card_index}", f"renderD{128 + card_index}"
        self.mkdir("/dev/dri")
        os.chmod(self.path("/dev/dri"), 0o755)
        self.chardev(f"/dev/dri/{card}", DRM_MAJOR, card_index, mode, 0, self.group_gid(group))
        if with_render:
            minor = card_index if wrong_rdev else 128 + card_index
            self.chardev(
                f"/dev/dri/{render}",
                DRM_MAJOR,
                minor,
                mode if render_mode is None else render_mode,
                0,
                self.group_gid(render_group),
            )
        if by_path:
            bdf = bdf or self.cards.get(card_index)
            if bdf is None:
                raise ValueError("by_path needs the card's PCI address: call drm() first or pass bdf")
            self.link(f"/dev/dri/by-path/pci-{bdf}-card", f"/dev/dri/{card}")
            if with_render:
                self.link(f"/dev/dri/by-path/pci-{bdf}-render", f"/dev/dri/{render}")
        return self.path(f"/dev/dri/{card}")

    # --- users, packages, files ---------------------------------------------------------------

    def users(
        self,
        accounts: Mapping[str, Sequence[str]] | None = None,
        render_gid: int = 105,
        video_gid: int = 44,
        first_uid: int = 1000,
    ) -> Path:
        """/etc/passwd and /etc/group as on Debian: base-passwd's static groups (video 44), `render`
        a dynamic system group (`render_gid`: Debian 12 about 105, Ubuntu 24.04 992), and for each
        account (default {'alice': ['video', 'render']}) uid/gid from 1000 with its own group and the
        given supplementary groups."""
        if accounts is None:
            accounts = {"alice": ["video", "render"]}
        groups = [(n, video_gid if n == "video" else g) for n, g in BASE_GROUPS]
        groups += [("systemd-journal", 999), ("systemd-network", 998), ("render", render_gid)]
        members: dict[str, list[str]] = {}
        for user, supp in accounts.items():
            for g in supp:
                members.setdefault(g, []).append(user)
        passwd = [f"{n}:x:{u}:{g}:{gecos}:{home}:{sh}" for n, u, g, gecos, home, sh in BASE_USERS]
        for i, user in enumerate(accounts):
            uid = first_uid + i
            passwd.append(f"{user}:x:{uid}:{uid}:{user.capitalize()},,,:/home/{user}:/bin/bash")
            groups.append((user, uid))
        known = {n for n, _ in groups}
        missing = sorted(set(members) - known)
        if missing:
            raise KeyError(f"unknown supplementary groups {missing}")
        group_lines = [f"{n}:x:{g}:{','.join(members.get(n, []))}" for n, g in groups]
        self.write("/etc/passwd", "\n".join(passwd) + "\n")
        return self.write("/etc/group", "\n".join(group_lines) + "\n")

    def firmware(
        self, paths: Iterable[str], compress: str | None = None, base: str = "/lib/firmware"
    ) -> list[Path]:
        """Blobs under /lib/firmware ('i915/dg2_guc_70.bin'); compress='zst' (Ubuntu 24.04, Debian 13)
        or 'xz' stores them as the kernel finds compressed firmware: name + '.zst' / '.xz', a real
        compressed stream. base='/lib/firmware/updates' is where intel-fw-gpu puts its blobs."""
        out = []
        for p in paths:
            data = f"fake firmware {p}\n".encode() + bytes(range(32))
            if compress == "zst":
                out.append(self.write(f"{base}/{p}.zst", zstd_frame(data)))
            elif compress == "xz":
                out.append(self.write(f"{base}/{p}.xz", lzma.compress(data, check=lzma.CHECK_CRC32)))
            elif compress is None:
                out.append(self.write(f"{base}/{p}", data))
            else:
                raise ValueError(f"compress: None, 'zst' or 'xz', not {compress!r}")
        return out

    def dpkg_status(self, packages: Mapping[str, str | Mapping[str, str]], base: bool = True) -> Path:
        """/var/lib/dpkg/status in dpkg's format: one stanza per package (Package, Status 'install ok
        installed', Priority, Section, Installed-Size, Maintainer, Architecture, Multi-Arch, Source,
        Version, Depends, multi-line Description), stanzas separated by a blank line.

        A value is the version, or a dict with 'version' and any of 'status' (e.g. 'deinstall ok
        config-files' for a removed package), 'architecture', 'source', 'depends'. base=True adds
        base-files and dpkg first, as every real status file has them.
        """
        pkgs: dict[str, Mapping[str, str]] = {}
        if base:
            bf = "13ubuntu10.3" if self.os_id == "ubuntu" else "12.4+deb12u8"
            pkgs["base-files"] = {"version": bf, "essential": "yes"}
            pkgs["dpkg"] = {
                "version": "1.22.6ubuntu6.1" if self.os_id == "ubuntu" else "1.21.22",
                "essential": "yes",
            }
        for name, v in packages.items():
            pkgs[name] = {"version": v} if isinstance(v, str) else v
        stanzas = []
        for name, info in pkgs.items():
            section, source, multi, desc = PKG_META.get(name, ("misc", None, None, f"{name} package"))
            arch = info.get("architecture", "all" if name.startswith("firmware-") else "amd64")
            lines = [f"Package: {name}"]
            if info.get("essential"):
                lines.append("Essential: yes")
            lines += [
                f"Status: {info.get('status', 'install ok installed')}",
                "Priority: optional",
                f"Section: {section}",
                f"Installed-Size: {64 + 17 * len(name)}",
                "Maintainer: Debian Maintainers <maintainers@example.org>",
                f"Architecture: {arch}",
            ]
            if multi:
                lines.append(f"Multi-Arch: {multi}")
            src = info.get("source", source)
            if src:
                lines.append(f"Source: {src}")
            lines.append(f"Version: {info['version']}")
            if info.get("depends"):
                lines.append(f"Depends: {info['depends']}")
            if name == "base-files":
                lines += [
                    "Conffiles:",
                    " /etc/debian_version 2e4f5a1b0c3d9e8f7a6b5c4d3e2f1a0b",
                    " /etc/issue 3f6e6c0d9a8b7c6d5e4f3a2b1c0d9e8f",
                ]
            lines += [
                f"Description: {desc}",
                f" This is the {name} package.",
                " .",
                " Second paragraph of the long description.",
            ]
            stanzas.append("\n".join(lines) + "\n")
        return self.write("/var/lib/dpkg/status", "\n".join(stanzas) + "\n")

    def opencl_icd(
        self,
        name: str = "intel.icd",
        lib: str = "/usr/lib/x86_64-linux-gnu/intel-opencl/libigdrcl.so",
        with_lib: bool = True,
    ) -> Path:
        """/etc/OpenCL/vendors/<name> holding the library path (Debian's intel-opencl-icd writes the
        full path); with_lib also installs a stub of that library when the path is absolute."""
        if with_lib and lib.startswith("/"):
            self.shared_lib(lib)
        return self.write(f"/etc/OpenCL/vendors/{name}", lib + "\n")

    def shared_lib(self, path: str) -> Path:
        """A stub ELF shared object; a bare name goes to /usr/lib/x86_64-linux-gnu/."""
        if not path.startswith("/"):
            path = f"/usr/lib/x86_64-linux-gnu/{path}"
        return self.write(path, b"\x7fELF\x02\x01\x01\x00" + b"\0" * 56)

    def binary(self, path: str, content: str = "#!/bin/sh\nexit 0\n") -> Path:
        """An executable stub (mode 0755), e.g. /usr/bin/xpumd."""
        return self.write(path, content, 0o755)

    def systemd_unit(
        self,
        name: str,
        enabled: bool = True,
        content: str | None = None,
        wanted_by: str = "multi-user.target",
        unit_dir: str = "/lib/systemd/system",
        relative: bool = False,
    ) -> Path:
        """<unit_dir>/<name>, and when enabled /etc/systemd/system/<wanted_by>.wants/<name> -> the
        unit. systemctl writes that link ABSOLUTE ('/lib/systemd/system/<name>'); so does this unless
        relative=True. Do not follow it from a check running under --root."""
        if content is None:
            content = (
                f"[Unit]\nDescription={name}\n\n[Service]\nExecStart=/usr/bin/{name.split('.')[0]}\n\n"
                f"[Install]\nWantedBy={wanted_by}\n"
            )
        unit = self.write(f"{unit_dir}/{name}", content)
        if enabled:
            self.link(
                f"/etc/systemd/system/{wanted_by}.wants/{name}", f"{unit_dir}/{name}", relative=relative
            )
        return unit

    def pci_ids(self, text: str | None = None) -> Path:
        """/usr/share/misc/pci.ids (default: a small excerpt in the real format)."""
        return self.write("/usr/share/misc/pci.ids", DEFAULT_PCI_IDS if text is None else text)

    def kern_log(self, lines: Iterable[str], host: str = "gpuhost") -> Path:
        """/var/log/kern.log (rsyslog's format) with the given kernel messages; a line that already
        starts with a timestamp is kept as is."""
        out = []
        for i, line in enumerate(lines):
            if line[:4].isdigit() and "kernel:" in line:
                out.append(line)
            else:
                out.append(f"2025-05-06T09:14:{i % 60:02d}.{i:06d}+00:00 {host} kernel: {line}")
        return self.write("/var/log/kern.log", "\n".join(out) + "\n", 0o640)

    kmsg = kern_log  # the kernel ring buffer is not a file; its lines land in kern.log

    def container(self, kind: str = "docker") -> Path:
        """Mark the tree as a container's root: /.dockerenv (docker) or /run/.containerenv (podman)."""
        self.write("/proc/1/cgroup", "0::/\n", 0o444)
        if kind == "docker":
            return self.write("/.dockerenv", "", 0o755)
        if kind == "podman":
            return self.write(
                "/run/.containerenv",
                'engine="podman-4.9.3"\nname="xpu-ops-test"\n'
                'id="3b0f5e6a1c2d"\nimage="docker.io/library/debian:12"\n'
                'imageid="1a2b3c4d5e6f"\nrootless=0\n',
                0o644,
            )
        raise ValueError(f"kind: docker or podman, not {kind!r}")

    def wsl2(
        self, release: str = "5.15.167.4-microsoft-standard-WSL2", dxg_minor: int = 125, vpci_gpu: bool = True
    ) -> Path:
        """A WSL2 guest: osrelease '...-microsoft-standard-WSL2', /dev/dxg a real char device 10:<minor>
        (0666, the misc device dxgkrnl registers: /sys/devices/virtual/misc/dxg), the host's user-mode
        libraries in /usr/lib/wsl/lib. No /dev/dri, no /sys/class/drm, no i915/xe.

        vpci_gpu: the GPU-PV function Hyper-V exposes on a vPCI bus, as lspci shows it in WSL2:
        vendor 0x1414 (Microsoft) device 0x008e 'Basic Render Driver', class 0x030200, no driver.
        """
        self.kernel(release)
        misc = "/sys/devices/virtual/misc/dxg"
        self._attr(misc, "dev", f"{MISC_MAJOR}:{dxg_minor}\n")
        self._attr(misc, "uevent", f"MAJOR={MISC_MAJOR}\nMINOR={dxg_minor}\nDEVNAME=dxg\n", 0o644)
        self.link("/sys/class/misc/dxg", misc)
        self.link(f"/sys/dev/char/{MISC_MAJOR}:{dxg_minor}", misc)
        for lib in ("libdxcore.so", "libd3d12.so", "libd3d12core.so"):
            self.shared_lib(f"/usr/lib/wsl/lib/{lib}")
        if vpci_gpu:
            self.pci_device(
                "5582:00:00.0",
                vendor=MICROSOFT,
                device=0x008E,
                klass=CLASS_3D,
                subsystem_vendor=0,
                link=None,
                bus_root="/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00/"
                "5582a1f4-7d0e-4b32-9a61-2c1d0e3f4a5b",
            )
        return self.chardev("/dev/dxg", MISC_MAJOR, dxg_minor, 0o666, 0, 0)

    # --- bad input -----------------------------------------------------------------------------

    def garbage(self, path: str, content: str | bytes) -> Path:
        """Overwrite `path` (host-absolute, or relative to the first GPU's sysfs dir, e.g. 'vendor')
        with `content`, for bad-input tests."""
        if not path.startswith("/"):
            gpu = (self.expect.get("gpus") or list(self.devices))[0]
            path = f"{self.devices[gpu]}/{path}"
        return self.write(path, content)

    def dangling_driver(self, bdf: str, name: str = "i915") -> Path:
        """Make <dev>/driver point at ../../.../bus/pci/drivers/<name> that does not exist (the
        driver went away under the link): the link stays relative, its target is removed."""
        d = self.devices[bdf]
        target = f"/sys/bus/pci/drivers/{name}"
        remove(self.path(target))
        self._attr(
            d,
            "uevent",
            "".join(
                line + "\n"
                for line in self.path(f"{d}/uevent").read_text().splitlines()
                if not line.startswith("DRIVER=")
            ),
            0o644,
        )
        return self.link(f"{d}/driver", target)


# --- scenario presets --------------------------------------------------------------------------

UBUNTU_2404_COMPUTE = {
    "libigdgmm12": "22.7.2-1~24.04~ppa1",
    "libze1": "1.21.9.0-1~24.04~ppa1",
    "libze-intel-gpu1": "25.18.33578.15-1~24.04~ppa1",
    "intel-opencl-icd": "25.18.33578.15-1~24.04~ppa1",
    "clinfo": "3.0.23.01.25-1build1",
    "linux-firmware": "20240318.git3b128b60-0ubuntu2.13",
}
DEBIAN_12_COMPUTE = {
    "libigdgmm12": "22.3.3+ds1-1",
    "libze1": "1.8.8-1",
    "intel-opencl-icd": "22.43.24595.41-1",  # in bookworm it also ships libze_intel_gpu.so.1
    "clinfo": "3.0.21.02.21-1",
    "firmware-misc-nonfree": "20230210-5",
}
FW_ARC_A = ["i915/dg2_guc_70.bin", "i915/dg2_huc_gsc.bin", "i915/dg2_dmc_ver2_08.bin"]
FW_ARC_B = ["xe/bmg_guc_70.bin", "xe/bmg_huc.bin", "i915/bmg_dmc.bin"]
# The out-of-tree i915 (DKMS) loads full-version names (intel-gpu-i915-backports
# drivers/gpu/drm/i915/gt/uc/intel_uc_fw.c @02652ac: guc_mmp(pvc|dg2, 70, 9, 1), huc_gsc(dg2, 7, 10, 3),
# huc_mmp(pvc, 7, 8, 7)), which intel-fw-gpu puts in /lib/firmware/updates/i915/ (intel-gpu-firmware README).
FW_DKMS_DIR = "/lib/firmware/updates"
FW_MAX = ["i915/pvc_guc_70.9.1.bin", "i915/pvc_huc_7.8.7.bin"]
FW_FLEX = ["i915/dg2_guc_70.9.1.bin", "i915/dg2_huc_7.10.3_gsc.bin"]
FW_ADL = ["i915/adlp_guc_70.bin", "i915/tgl_huc.bin", "i915/adlp_dmc_ver2_16.bin"]

I915_STACK = [
    "i915",
    "drm_buddy",
    "ttm",
    "i2c_algo_bit",
    "drm_display_helper",
    "cec",
    "drm_kms_helper",
    "video",
    "drm",
]
XE_STACK = [
    "xe",
    "drm_gpuvm",
    "drm_exec",
    "gpu_sched",
    "drm_buddy",
    "ttm",
    "i2c_algo_bit",
    "drm_display_helper",
    "cec",
    "drm_kms_helper",
    "video",
    "drm",
]


def _base(
    root: Path | str,
    os_id: str,
    kernel_release: str,
    render_gid: int | None = None,
    accounts: Mapping[str, Sequence[str]] | None = None,
) -> HostTree:
    t = HostTree(root)
    version = "24.04" if os_id == "ubuntu" else "12"
    t.os_release(os_id, version)
    t.kernel(kernel_release)
    t.users(accounts, render_gid=render_gid or (992 if os_id == "ubuntu" else 105))
    t.pci_ids()
    return t


def _userspace(t: HostTree, packages: Mapping[str, str | Mapping[str, str]]) -> None:
    t.dpkg_status(packages)
    t.opencl_icd()
    t.shared_lib("libze_loader.so.1")
    t.shared_lib("libigdgmm.so.12")
    if "libze-intel-gpu1" in packages or "intel-opencl-icd" in packages:
        t.shared_lib("libze_intel_gpu.so.1")


def _gpu_nodes(t: HostTree, bdf: str, index: int, driver: str, render: bool = True) -> None:
    t.drm(bdf, index, driver, render=render)
    t.dev_dri(index, with_render=render)


def _intel_desktop(t: HostTree) -> None:
    t.host_bridge("0000:00:00.0", device=0x4660)
    t.pci_bridge("0000:00:01.0", device=0x460D, link=(16, 16, 32, 16), revision=0x02)


def arc_a_i915(
    root: Path | str,
    *,
    upstream_link: Link = (16, 16, 16, 16),
    root_port_link: Link = (16, 16, 32, 16),
    bar2: Bar | None = None,
) -> HostTree:
    """Arc A770 16GB (8086:56a0, subsystem 8086:1020, rev 08) on i915, Ubuntu 24.04, kernel
    6.8.0-60-generic, in an Alder Lake desktop: host bridge 0000:00:00.0 (8086:4660), root port
    0000:00:01.0 (8086:460d, Gen5 x16, running 16.0 GT/s x16) -> card switch upstream 0000:01:00.0
    (8086:4fa1, 16.0 GT/s x16) -> downstream 0000:02:01.0 (8086:4fa4) -> GPU 0000:03:00.0 (2.5 GT/s
    x1 internal link); audio 0000:04:00.0 (8086:4f90, snd_hda_intel) behind 0000:02:04.0.
    BAR0 16 MiB, BAR2 16 GiB (Resizable BAR on). card0 / renderD128, /dev/dri 0660 root:video /
    root:render (render gid 992), alice (1000) in video and render. Firmware (.zst), i915 loaded,
    libze1, libze-intel-gpu1, intel-opencl-icd, intel.icd."""
    t = _base(root, "ubuntu", "6.8.0-60-generic")
    t.host_bridge("0000:00:00.0", device=0x4660)
    t.pci_bridge("0000:00:01.0", device=0x460D, link=tuple(root_port_link), revision=0x02)
    bars = {
        0: bar(0xFB000000, 16 * MiB, FLAGS_MEM64),
        2: bar2 or bar(0x6000000000, 16 * GiB),
        6: bar(0xFC000000, 2 * MiB, FLAGS_ROM),
    }
    gpu = t.intel_discrete_card(
        "0000:00:01.0", 3, 0x56A0, driver="i915", upstream_link=upstream_link, gpu_bars=bars
    )
    _gpu_nodes(t, gpu, 0, "i915")
    t.loaded(I915_STACK + ["snd_hda_intel"])
    t.firmware(FW_ARC_A, compress="zst")
    _userspace(t, UBUNTU_2404_COMPUTE)
    t.expect.update(
        gpus=[gpu],
        family="arc-a",
        driver="i915",
        cards={0: gpu},
        render_nodes=["renderD128"],
        upstream_port="0000:01:00.0",
        user="alice",
        healthy=True,
    )
    return t


def arc_b_xe(root: Path | str, *, bar2: Bar | None = None, bound: bool = True) -> HostTree:
    """Arc B580 (8086:e20b, subsystem 8086:1100) on xe, Ubuntu 24.04 HWE kernel 6.14.0-33-generic:
    root port 0000:00:01.0 -> switch upstream 0000:01:00.0 (8086:e2ff, 16.0 GT/s x8 = the card's
    PCIe 4.0 x8) -> downstream 0000:02:01.0 (8086:e2f0) -> GPU 0000:03:00.0; audio 0000:04:00.0
    (8086:e2f7). BAR2 16 GiB (ReBAR on). card0 / renderD128, alice in video+render, xe firmware
    (.zst), libze-intel-gpu1 etc."""
    t = _base(root, "ubuntu", "6.14.0-33-generic")
    _intel_desktop(t)
    bars = {
        0: bar(0xFB000000, 16 * MiB, FLAGS_MEM64),
        2: bar2 or bar(0x6000000000, 16 * GiB),
        6: bar(0xFC000000, 2 * MiB, FLAGS_ROM),
    }
    gpu = t.intel_discrete_card(
        "0000:00:01.0",
        3,
        0xE20B,
        driver="xe" if bound else None,
        switch=(0xE2FF, 0xE2F0, 0xE2F7),
        upstream_link=(16, 8, 16, 8),
        subsystem=(INTEL, 0x1100),
        revision=0x00,
        gpu_bars=bars,
    )
    if bound:
        _gpu_nodes(t, gpu, 0, "xe")
        t.vram(gpu, "xe", [12 * GiB])  # B580: 12 GB
    t.loaded(XE_STACK + ["snd_hda_intel"])
    t.firmware(FW_ARC_B, compress="zst")
    _userspace(t, UBUNTU_2404_COMPUTE)
    t.expect.update(
        gpus=[gpu],
        family="arc-b",
        driver="xe",
        cards={0: gpu} if bound else {},
        render_nodes=["renderD128"] if bound else [],
        upstream_port="0000:01:00.0",
        user="alice",
        healthy=bound,
    )
    return t


def max_i915(root: Path | str) -> HostTree:
    """Two Data Center GPU Max 1550 (8086:0bd5, class 0x038000) on the out-of-tree i915 (DKMS) on
    Ubuntu 24.04 (kernel 6.8.0-60-generic): root port 0000:00:01.0 (8086:352a) -> Broadcom switch
    upstream 0000:01:00.0 (1000:c030) -> downstream 0000:02:00.0 and 0000:02:01.0 -> GPUs
    0000:03:00.0 (card0/renderD128) and 0000:04:00.0 (card1/renderD129), 32.0 GT/s x16 each.
    /lib/modules/<rel>/updates/dkms/i915.ko, i915 taint 'OE', intel-i915-dkms + intel-fw-gpu in
    dpkg, i915/pvc_guc_70.9.1.bin in /lib/firmware/updates."""
    rel = "6.8.0-60-generic"
    t = _base(root, "ubuntu", rel)
    t.host_bridge("0000:00:00.0", device=0x09A2)
    t.pci_bridge("0000:00:01.0", device=0x352A, link=(32, 16, 32, 16), revision=0x04)
    t.pci_bridge("0000:01:00.0", vendor=BROADCOM, device=0xC030, parent="0000:00:01.0", link=(32, 16, 32, 16))
    gpus = []
    for i, (down, gpu) in enumerate((("0000:02:00.0", "0000:03:00.0"), ("0000:02:01.0", "0000:04:00.0"))):
        t.pci_bridge(down, vendor=BROADCOM, device=0xC030, parent="0000:01:00.0", link=(32, 16, 32, 16))
        base = 0x200000000000 + i * 0x4000000000
        t.pci_device(
            gpu,
            device=0x0BD5,
            klass=CLASS_DISPLAY_OTHER,
            driver="i915",
            subsystem_device=0x0000,
            revision=0x2F,
            link=(32, 16, 32, 16),
            parent=down,
            numa_node=0,
            bars={0: bar(0xA0000000 + i * 0x4000000, 64 * MiB, FLAGS_MEM64), 2: bar(base, 128 * GiB)},
        )
        _gpu_nodes(t, gpu, i, "i915")
        gpus.append(gpu)
    t.loaded(I915_STACK, taints={"i915": "OE"})
    t.dkms_module(rel, "i915")
    t.firmware(FW_MAX, compress=None, base=FW_DKMS_DIR)  # intel-fw-gpu installs them uncompressed
    pkgs = dict(UBUNTU_2404_COMPUTE)
    pkgs.update({"intel-i915-dkms": "1.24.7.12.240531.18+i33-1", "intel-fw-gpu": "2024.24.5-337~24.04"})
    _userspace(t, pkgs)
    t.expect.update(
        gpus=gpus,
        family="max",
        driver="i915",
        dkms=True,
        cards={0: gpus[0], 1: gpus[1]},
        render_nodes=["renderD128", "renderD129"],
        user="alice",
        healthy=True,
    )
    return t


def flex_i915(root: Path | str) -> HostTree:
    """Data Center GPU Flex 170 (8086:56c0, class 0x038000: a display controller, not VGA, so no
    boot_vga) on i915 DKMS, Ubuntu 24.04: root port 0000:00:01.0 (8086:352a) -> switch 0000:01:00.0
    (8086:4fa1) -> 0000:02:01.0 (8086:4fa4) -> GPU 0000:03:00.0, 16.0 GT/s x16 upstream, SR-IOV
    capable (sriov_totalvfs 31). card0/renderD128, alice in video+render."""
    rel = "6.8.0-60-generic"
    t = _base(root, "ubuntu", rel)
    t.host_bridge("0000:00:00.0", device=0x09A2)
    t.pci_bridge("0000:00:01.0", device=0x352A, link=(16, 16, 32, 16), revision=0x04)
    gpu = t.intel_discrete_card(
        "0000:00:01.0",
        3,
        0x56C0,
        klass=CLASS_DISPLAY_OTHER,
        driver="i915",
        subsystem=(INTEL, 0x4905),
        with_audio=False,
        sriov_totalvfs=31,
        numa_node=0,
    )
    _gpu_nodes(t, gpu, 0, "i915")
    t.loaded(I915_STACK, taints={"i915": "OE"})
    t.dkms_module(rel, "i915")
    t.firmware(FW_FLEX, compress=None, base=FW_DKMS_DIR)
    pkgs = dict(UBUNTU_2404_COMPUTE)
    pkgs.update({"intel-i915-dkms": "1.24.7.12.240531.18+i33-1", "intel-fw-gpu": "2024.24.5-337~24.04"})
    _userspace(t, pkgs)
    t.expect.update(
        gpus=[gpu],
        family="flex",
        driver="i915",
        dkms=True,
        cards={0: gpu},
        render_nodes=["renderD128"],
        user="alice",
        healthy=True,
    )
    return t


def integrated_adl(root: Path | str) -> HostTree:
    """Alder Lake-P integrated Iris Xe (8086:46a6, rev 0c) at 0000:00:02.0 on i915, Debian 12
    (kernel 6.1.0-28-amd64): directly on bus 0 (no bridge), link attributes as the kernel shows them
    for a Root Complex Integrated Endpoint ('Unknown', 0), boot_vga 1, BAR0 16 MiB, BAR2 256 MiB,
    BAR4 I/O. Host bridge 0000:00:00.0 (8086:4621). Debian 12 packages: libze1 1.8.8 and
    intel-opencl-icd 22.43 (which ships the Level Zero GPU driver itself; there is no
    libze-intel-gpu1 in bookworm), firmware-misc-nonfree, uncompressed adlp firmware.
    render gid 105; alice in video+render."""
    t = _base(root, "debian", "6.1.0-28-amd64")
    t.host_bridge("0000:00:00.0", device=0x4621)
    gpu = "0000:00:02.0"
    t.pci_device(
        gpu,
        device=0x46A6,
        klass=CLASS_VGA,
        driver="i915",
        subsystem_vendor=0x17AA,
        subsystem_device=0x22E4,
        revision=0x0C,
        link=LINK_RCIEP,
        bars={
            0: bar(0x6000000000, 16 * MiB, FLAGS_MEM64),
            2: bar(0x4000000000, 256 * MiB),
            4: bar(0x3000, 64, FLAGS_IO),
        },
        sriov_totalvfs=7,
    )
    _gpu_nodes(t, gpu, 0, "i915")
    t.loaded(I915_STACK)
    t.firmware(FW_ADL)
    _userspace(t, DEBIAN_12_COMPUTE)
    t.expect.update(
        gpus=[gpu],
        family="xe-lp",
        driver="i915",
        cards={0: gpu},
        render_nodes=["renderD128"],
        user="alice",
        healthy=True,
    )
    return t


def integrated_gpu(
    root: Path | str,
    device: int,
    *,
    driver: str = "xe",
    kernel: str = "6.17.0-6-generic",
    os_id: str = "ubuntu",
    bound: bool = True,
    firmware: Iterable[str] = (),
    packages: Mapping[str, str | Mapping[str, str]] | None = None,
    compress: str | None = "zst",
) -> HostTree:
    """Any integrated Intel GPU (8086:`device`, VGA class) at 0000:00:02.0, a Root Complex Integrated Endpoint
    (no link, BAR0 16 MiB, BAR2 256 MiB) under host bridge 8086:4621, with `driver` loaded and, when `bound`,
    bound with card0/renderD128; `firmware` blobs under /lib/firmware; Ubuntu 24.04's PPA user space unless
    `packages` says otherwise. For the facts of one platform (tests/unit/test_hardware_truth.py)."""
    t = _base(root, os_id, kernel)
    t.host_bridge("0000:00:00.0", device=0x4621)
    gpu = "0000:00:02.0"
    t.pci_device(
        gpu,
        device=device,
        klass=CLASS_VGA,
        driver=driver if bound else None,
        revision=0x04,
        link=LINK_RCIEP,
        bars={0: bar(0x6000000000, 16 * MiB, FLAGS_MEM64), 2: bar(0x4000000000, 256 * MiB)},
    )
    if bound:
        _gpu_nodes(t, gpu, 0, driver)
    t.loaded(XE_STACK if driver == "xe" else I915_STACK)
    t.firmware(list(firmware), compress=compress)
    _userspace(t, packages or UBUNTU_2404_COMPUTE)
    t.expect.update(gpus=[gpu], driver=driver if bound else None, cards={0: gpu} if bound else {}, user="alice")
    return t


def gpu_no_driver(root: Path | str) -> HostTree:
    """Arc A770 as in arc_a_i915 but no driver bound: no driver link, enable 0, no DRM nodes, no
    /dev/dri, i915 not loaded (not in /sys/module nor /proc/modules); firmware and packages present."""
    t = _base(root, "ubuntu", "6.8.0-60-generic")
    _intel_desktop(t)
    gpu = t.intel_discrete_card("0000:00:01.0", 3, 0x56A0, driver=None)
    t.loaded(["snd_hda_intel"])
    t.firmware(FW_ARC_A, compress="zst")
    _userspace(t, UBUNTU_2404_COMPUTE)
    t.expect.update(
        gpus=[gpu], family="arc-a", driver=None, cards={}, render_nodes=[], user="alice", healthy=False
    )
    return t


def bound_no_render(root: Path | str) -> HostTree:
    """Arc A770 bound to i915 with card0 but no renderD128, neither in sysfs nor in /dev/dri."""
    t = arc_a_i915(root)
    gpu = t.expect["gpus"][0]
    d = t.devices[gpu]
    for p in (
        f"{d}/drm/renderD128",
        "/sys/class/drm/renderD128",
        "/sys/dev/char/226:128",
        "/dev/dri/renderD128",
        f"/dev/dri/by-path/pci-{gpu}-render",
    ):
        remove(t.path(p))
    t.expect.update(render_nodes=[], healthy=False)
    return t


def render_not_accessible(root: Path | str) -> HostTree:
    """Arc A770 on i915, healthy, except that alice is in `video` only: /dev/dri/renderD128 is
    0660 root:render (gid 992) and alice is not a member."""
    t = arc_a_i915(root)
    t.users({"alice": ["video"]}, render_gid=992)
    t.expect.update(user_in_render=False, healthy=False)
    return t


def wsl2(root: Path | str) -> HostTree:
    """WSL2 Ubuntu 24.04: kernel 5.15.167.4-microsoft-standard-WSL2, /dev/dxg (char 10:125, 0666),
    /usr/lib/wsl/lib/{libdxcore,libd3d12,libd3d12core}.so, a Microsoft 'Basic Render Driver' vPCI
    function 5582:00:00.0 (1414:008e, class 0x030200, no driver). No /dev/dri, no /sys/class/drm,
    no i915/xe, no firmware. /proc/modules lists nothing GPU. User space: libze1, libze-intel-gpu1,
    intel-opencl-icd."""
    t = HostTree(root)
    t.os_release("ubuntu", "24.04")
    t.users()
    t.wsl2()
    t.proc_modules([])
    _userspace(t, {k: v for k, v in UBUNTU_2404_COMPUTE.items() if k != "linux-firmware"})
    t.expect.update(gpus=[], wsl=True, cards={}, render_nodes=[], user="alice", healthy=True)
    return t


def nvidia_only(root: Path | str) -> HostTree:
    """An NVIDIA RTX 4090 (10de:2684, class 0x030000, driver nvidia, taint POE) at 0000:01:00.0
    behind Intel root port 0000:00:01.0, its audio 0000:01:00.1 (10de:22ba), an Intel host bridge,
    and nvidia-drm's card0 / renderD128 (so a render node exists that is not Intel's), plus
    /dev/nvidia0 (195:0) and /dev/nvidiactl (195:255). Ubuntu 24.04. No Intel GPU."""
    t = _base(root, "ubuntu", "6.8.0-60-generic")
    _intel_desktop(t)
    gpu = "0000:01:00.0"
    t.pci_device(
        gpu,
        vendor=NVIDIA,
        device=0x2684,
        klass=CLASS_VGA,
        driver="nvidia",
        subsystem_vendor=0x10DE,
        subsystem_device=0x167C,
        revision=0xA1,
        link=(16, 16, 16, 16),
        parent="0000:00:01.0",
        bars={
            0: bar(0xFA000000, 16 * MiB, FLAGS_MEM32),
            1: bar(0x6000000000, 32 * GiB),
            3: bar(0x6800000000, 32 * MiB),
            5: bar(0xF000, 128, FLAGS_IO),
            6: bar(0xFB000000, 512 * KiB, FLAGS_ROM),
        },
    )
    t.pci_device(
        "0000:01:00.1",
        vendor=NVIDIA,
        device=0x22BA,
        klass=CLASS_AUDIO_HDA,
        driver="snd_hda_intel",
        subsystem_vendor=0x10DE,
        subsystem_device=0x167C,
        revision=0xA1,
        link=(16, 16, 16, 16),
        parent="0000:00:01.0",
        bars=[bar(0xFB080000, 16 * KiB, FLAGS_MEM32)],
    )
    _gpu_nodes(t, gpu, 0, "nvidia")
    for n in ("nvidia", "nvidia_modeset", "nvidia_drm", "nvidia_uvm"):
        t.module(n, version="550.144.03", taint="POE")
    t.loaded(
        ["nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nvidia", "snd_hda_intel", "drm_kms_helper", "drm"],
        taints={n: "POE" for n in ("nvidia", "nvidia_modeset", "nvidia_drm", "nvidia_uvm")},
    )
    t.chardev("/dev/nvidia0", 195, 0, 0o666)
    t.chardev("/dev/nvidiactl", 195, 255, 0o666)
    t.dpkg_status({"nvidia-driver-550": "550.144.03-0ubuntu0.24.04.1"})
    t.expect.update(gpus=[], other_gpus=[gpu], cards={0: gpu}, user="alice", healthy=False)
    return t


def intel_host_bridge_only(root: Path | str) -> HostTree:
    """A QEMU/KVM VM (i440FX, Debian 12): Intel host bridge 0000:00:00.0 (8086:1237, class 0x060000),
    Intel ISA bridge 0000:00:01.0 (8086:7000, class 0x060100), the emulated VGA 0000:00:02.0
    (1234:1111, driver bochs-drm from module bochs, card0 only: bochs has no render node).
    Conventional PCI: no link attributes. No Intel GPU."""
    t = _base(root, "debian", "6.1.0-28-amd64")
    t.host_bridge(
        "0000:00:00.0", vendor=INTEL, device=0x1237, subsystem_vendor=0x1AF4, subsystem_device=0x1100
    )
    t.pci_device(
        "0000:00:01.0",
        vendor=INTEL,
        device=0x7000,
        klass=CLASS_ISA_BRIDGE,
        subsystem_vendor=0x1AF4,
        subsystem_device=0x1100,
    )
    vga = "0000:00:02.0"
    t.pci_device(
        vga,
        vendor=0x1234,
        device=0x1111,
        klass=CLASS_VGA,
        driver="bochs-drm",
        driver_module="bochs",
        subsystem_vendor=0x1AF4,
        subsystem_device=0x1100,
        revision=0x02,
        bars={
            0: bar(0xFD000000, 16 * MiB, FLAGS_MEM32 | IORESOURCE_PREFETCH | 0x08),
            2: bar(0xFEBF0000, 4 * KiB, FLAGS_MEM32),
            6: bar(0xC0000, 128 * KiB, 0x00000212),
        },
    )
    t.drm(vga, 0, "bochs-drm", render=False)
    t.dev_dri(0, with_render=False)
    t.loaded(["bochs", "drm_vram_helper", "drm_ttm_helper", "ttm", "drm_kms_helper", "drm"])
    t.dpkg_status({})
    t.expect.update(
        gpus=[], other_gpus=[vga], cards={0: vga}, render_nodes=[], vm=True, user="alice", healthy=False
    )
    return t


def no_proc_modules(root: Path | str) -> HostTree:
    """Arc A770 as in arc_a_i915 on a kernel without loadable modules: no /proc/modules (lsmod
    fails); i915 and the DRM stack are built in, so /sys/module/i915 has parameters/ (and the
    driver's `module` link) but no initstate/refcnt."""
    t = arc_a_i915(root)
    t.proc_modules(None)
    for n in I915_STACK + ["snd_hda_intel"]:
        d = t.path(f"/sys/module/{n}")
        for a in ("initstate", "refcnt", "coresize", "initsize", "taint", "srcversion"):
            if (d / a).exists():
                (d / a).unlink()
        for sub in ("holders", "sections"):
            if (d / sub).is_dir():
                (d / sub).rmdir()
    t.expect.update(builtin_driver=True)
    return t


def degraded_link(root: Path | str) -> HostTree:
    """Arc A770 as in arc_a_i915, but the slot link trained at 2.5 GT/s x1: the card's upstream
    port 0000:01:00.0 (and the root port 0000:00:01.0 on the same link) show current 2.5 GT/s x1
    against max 16.0 GT/s x16 (root port max 32.0 GT/s x16)."""
    t = arc_a_i915(root, upstream_link=(2.5, 1, 16, 16), root_port_link=(2.5, 1, 32, 16))
    t.expect.update(degraded_link=True, healthy=False)
    return t


def rebar_off(root: Path | str, bound: bool = True) -> HostTree:
    """Arc B580 as in arc_b_xe with Resizable BAR off: BAR2 is 256 MiB (0x00000000d0000000-
    0x00000000dfffffff) against 12 GiB of VRAM. xe binds anyway and logs "Small BAR device"
    (drivers/gpu/drm/xe/xe_vram.c); the compute runtime is what refuses it (bound=False: the GPU is
    left unbound, no DRM node, no /dev/dri, no VRAM size in sysfs)."""
    t = arc_b_xe(root, bar2=bar(0xD0000000, 256 * MiB), bound=bound)
    if bound:
        t.kern_log(["xe 0000:03:00.0: [drm] Small BAR device"])
    t.expect.update(rebar=False, bar2_size=256 * MiB, healthy=False)
    return t


PRESETS = {
    f.__name__: f
    for f in (
        arc_a_i915,
        arc_b_xe,
        max_i915,
        flex_i915,
        integrated_adl,
        gpu_no_driver,
        bound_no_render,
        render_not_accessible,
        wsl2,
        nvidia_only,
        intel_host_bridge_only,
        no_proc_modules,
        degraded_link,
        rebar_off,
    )
}
