"""The GPU family table (gpu_families.json, one source for checks and roles) and pci.ids names."""
import os
import re

PCI_IDS_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")
INTEL = 0x8086

_table = None


def table():
    global _table
    if _table is None:
        import json
        data = json.loads(package_data("gpu_families.json").decode())
        by_id = {}
        for fam in data["families"]:
            for dev in fam["device_ids"]:
                by_id[int(dev, 16)] = fam
        _table = (data["families"], by_id)
    return _table


def package_data(name):
    """A data file of the checks package, from a checkout or from inside the zipapp alike."""
    here = os.path.dirname(os.path.abspath(__file__))
    return __loader__.get_data(os.path.join(here, name))


def family_of(device_id):
    """Family dict for an Intel PCI device id, or None when the table does not know it."""
    return table()[1].get(device_id)


def version_tuple(text):
    """'6.12' / '1:24.48.31907.7-1' -> (6, 12) / (24, 48, 31907, 7); None for None or junk."""
    m = re.match(r"\s*(\d+(?:\.\d+)*)", str(text or "").split(":", 1)[-1])
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def firmware_variant(fam, dkms_i915):
    """Which of the family's firmware lists applies: the out-of-tree i915's when it is installed and
    the family has one, else the in-tree driver's (the family's default driver)."""
    fw = fam["firmware"]
    if dkms_i915 and "i915-dkms" in fw:
        return "i915-dkms"
    if fam["driver"] in fw:
        return fam["driver"]
    return next(iter(fw), None)


def family_by_key(key):
    for fam in table()[0]:
        if fam["id"] == key:
            return fam
    return None


def pci_names(root, device_ids, vendor=INTEL):
    """Names from the host's pci.ids for the given device ids of one vendor: {id: name}."""
    want = set(device_ids)
    if not want:
        return {}
    for p in PCI_IDS_PATHS:
        text = root.read(p, limit=8 << 20)
        if text:
            return _scan_pci_ids(text, vendor, want)
    return {}


def _scan_pci_ids(text, vendor, want):
    out = {}
    vhex = "%04x" % vendor
    in_vendor = False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line[0] != "\t":
            if in_vendor:
                break
            in_vendor = line[:4].lower() == vhex
            continue
        if in_vendor and not line.startswith("\t\t"):
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                try:
                    did = int(parts[0], 16)
                except ValueError:
                    continue
                if did in want:
                    out[did] = parts[1].strip()
    return out
