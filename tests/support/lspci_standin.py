"""Stand-in for pciutils' `lspci` over a host tree (tests/support/hosttree.py): reads the tree's
sys/bus/pci/devices/*/{vendor,device,class} and prints them as `lspci -nn` does, honouring
`-d [vendor]:[device][:class]` (pciutils' filter: each given field must match exactly; class is the 16-bit
class+subclass, as in `lspci -d 8086::0300`). Run as `python -m tests.support.lspci_standin ARGS` with
LSPCI_STANDIN_ROOT set to the tree. Line format from pciutils' lspci.c (show_device with -nn):
`BB:DD.F Class name [cccc]: Vendor name Device [vvvv:dddd]`; class names from pci.ids
(pciutils/pciids, pci.ids, commit df389f5c797d36012806c31ae44da38e0ee63703: C 03 Display controller,
00 VGA compatible controller, 02 3D controller, 80 Display controller; C 06 Bridge, 00 Host bridge, 04 PCI bridge).
"""
import os
import sys
from pathlib import Path

CLASS_NAMES = {0x0300: "VGA compatible controller", 0x0302: "3D controller", 0x0380: "Display controller",
               0x0600: "Host bridge", 0x0604: "PCI bridge"}
VENDOR_NAMES = {0x8086: "Intel Corporation", 0x10DE: "NVIDIA Corporation"}


def _hex(path):
    return int(path.read_text().strip(), 16)


def devices(root):
    base = Path(root) / "sys" / "bus" / "pci" / "devices"
    for d in sorted(base.iterdir()) if base.is_dir() else ():
        yield d.name, _hex(d / "vendor"), _hex(d / "device"), _hex(d / "class") >> 8


def main(argv):
    flt = None
    if "-d" in argv:
        parts = (argv[argv.index("-d") + 1].split(":") + ["", ""])[:3]
        flt = [int(p, 16) if p else None for p in parts]
    for bdf, ven, dev, cls in devices(os.environ["LSPCI_STANDIN_ROOT"]):
        if flt and any(want is not None and want != have for want, have in zip(flt, (ven, dev, cls))):
            continue
        short = bdf[5:] if bdf.startswith("0000:") else bdf
        print("%s %s [%04x]: %s Device [%04x:%04x]" % (short, CLASS_NAMES.get(cls, "Class %04x" % cls), cls,
                                                       VENDOR_NAMES.get(ven, "Vendor %04x" % ven), ven, dev))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
