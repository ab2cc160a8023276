"""Regenerate the device id lists of checks/gpu_families.json from the kernel's pciids.h.

    python -m tools.pciids snapshot PCIIDS_H --commit SHA   write tools/pciids_snapshot.json from a pciids.h
    python -m tools.pciids table                            rewrite device_ids in checks/gpu_families.json
                                                            from the committed snapshot
    python -m tools.pciids table --check                    exit 1 when the table differs from the snapshot
    python -m tools.pciids table --from PCIIDS_H            the same, straight from a pciids.h

pciids.h (torvalds/linux include/drm/intel/pciids.h) defines one macro per platform,
``#define INTEL_PTL_IDS(MACRO__, ...) MACRO__(0xB080, ## __VA_ARGS__), ...``, and macros that
list other macros (``INTEL_BMG_IDS`` = ``INTEL_BMG_G21_IDS`` + four ids). The snapshot keeps, per
macro, the ids it expands to (the facts, not the header's code), with the repository, path and
commit it was read from. Each family in gpu_families.json names its macros (``pciids``) and may add
ids that only an out-of-tree driver knows (``extra_ids``, with their own source).
Exit 0 ok, 1 the table is stale (--check), 2 unreadable input (one line).
"""
import argparse
import json
import re
import sys
from pathlib import Path

from tools._generated import write_or_check

REPO = Path(__file__).resolve().parent.parent
TABLE = REPO / "checks" / "gpu_families.json"
SNAPSHOT = REPO / "tools" / "pciids_snapshot.json"
UPSTREAM = {"repo": "torvalds/linux", "path": "include/drm/intel/pciids.h"}

_DEFINE = re.compile(r"#define\s+(INTEL_\w+_IDS)\s*\(\s*MACRO__\s*,\s*\.\.\.\s*\)")
_ID = re.compile(r"MACRO__\s*\(\s*0[xX]([0-9a-fA-F]{4})\b")
_REF = re.compile(r"\b(INTEL_\w+_IDS)\s*\(\s*MACRO__")


class InputError(Exception):
    """The pciids.h, snapshot or table cannot be used."""


def _logical_lines(text):
    """Join backslash-continued lines and drop C comments, as the preprocessor sees them."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return text.replace("\\\n", " ").splitlines()


def parse_header(text):
    """{macro: [ids as '0xABCD', in order]} for every INTEL_*_IDS(MACRO__, ...) macro, nested ones expanded."""
    direct = {}
    for line in _logical_lines(text):
        m = _DEFINE.match(line.strip())
        if not m:
            continue
        body = line.strip()[m.end():]
        items = []
        for part in re.finditer(r"MACRO__\s*\(\s*0[xX][0-9a-fA-F]{4}\b|\bINTEL_\w+_IDS\s*\(\s*MACRO__", body):
            tok = part.group(0)
            idm = _ID.match(tok)
            items.append(("id", "0x%s" % idm.group(1).upper()) if idm else ("ref", _REF.match(tok).group(1)))
        direct[m.group(1)] = items
    if not direct:
        raise InputError("no INTEL_*_IDS(MACRO__, ...) macro found: not a pciids.h")
    out = {}

    def expand(name, seen=()):
        if name in out:
            return out[name]
        if name in seen or name not in direct:
            raise InputError("macro %s is %s" % (name, "recursive" if name in seen else "undefined"))
        ids = []
        for kind, val in direct[name]:
            ids.extend([val] if kind == "id" else expand(val, seen + (name,)))
        out[name] = ids
        return ids

    for name in direct:
        expand(name)
    return out


def load_snapshot(path=SNAPSHOT):
    try:
        data = json.loads(Path(path).read_text())
        return data["source"], data["macros"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError("%s: not a pciids snapshot (%s)" % (path, e)) from None


def family_ids(fam, macros):
    """The family's device ids: its macros' ids, then its extra ids, without repeats."""
    ids = []
    for name in fam.get("pciids", []):
        if name not in macros:
            raise InputError("family %s names %s, which the pciids.h does not define" % (fam["id"], name))
        ids.extend(macros[name])
    ids.extend(x.upper().replace("0X", "0x") for x in fam.get("extra_ids", {}).get("ids", []))
    return list(dict.fromkeys(ids))


def regenerate(table, macros, source):
    """The table with every family's device_ids (and the recorded pciids source) from the macros."""
    out = json.loads(json.dumps(table))
    out["sources"]["pciids"] = dict(source)
    seen = {}
    for fam in out["families"]:
        fam["device_ids"] = family_ids(fam, macros)
        for dev in fam["device_ids"]:
            if dev in seen:
                raise InputError("%s is in both %s and %s" % (dev, seen[dev], fam["id"]))
            seen[dev] = fam["id"]
    return out


def dump_table(table):
    """gpu_families.json's layout: one source per line, one family per block with one key per line."""
    def one(v):
        return json.dumps(v, separators=(", ", ": "))

    lines = ["{", '  "_comment": %s,' % one(table["_comment"]), '  "sources": {']
    src = list(table["sources"].items())
    lines += ['    %s: %s%s' % (one(k), one(v), "," if i < len(src) - 1 else "") for i, (k, v) in enumerate(src)]
    lines += ["  },", '  "families": [']
    for i, fam in enumerate(table["families"]):
        items = list(fam.items())
        lines.append("    {")
        lines += ['      %s: %s%s' % (one(k), one(v), "," if j < len(items) - 1 else "")
                  for j, (k, v) in enumerate(items)]
        lines.append("    }%s" % ("," if i < len(table["families"]) - 1 else ""))
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def _read(path):
    try:
        return Path(path).read_text()
    except OSError as e:
        raise InputError("%s: %s" % (path, e.strerror or e)) from None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.pciids", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot", help="write the snapshot of ids from a pciids.h")
    s.add_argument("header")
    s.add_argument("--commit", required=True, help="the torvalds/linux commit the header was read at")
    s.add_argument("--out", default=str(SNAPSHOT))
    t = sub.add_parser("table", help="rewrite device_ids in checks/gpu_families.json")
    t.add_argument("--from", dest="header", help="a pciids.h instead of the committed snapshot")
    t.add_argument("--commit", default="", help="with --from: the commit it was read at")
    t.add_argument("--snapshot", default=str(SNAPSHOT))
    t.add_argument("--table", default=str(TABLE))
    t.add_argument("--check", action="store_true", help="exit 1 when the table is not what the ids say")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "snapshot":
            if not re.fullmatch(r"[0-9a-f]{7,40}", a.commit):
                raise InputError("--commit: a git commit id (hex), not %r" % a.commit)
            macros = parse_header(_read(a.header))
            data = {"source": dict(UPSTREAM, commit=a.commit), "macros": macros}
            Path(a.out).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            print("wrote %s: %d macros" % (a.out, len(macros)))
            return 0
        if a.header:
            source, macros = dict(UPSTREAM, commit=a.commit or "unknown"), parse_header(_read(a.header))
        else:
            source, macros = load_snapshot(a.snapshot)
        try:
            table = json.loads(_read(a.table))
        except ValueError as e:
            raise InputError("%s: not JSON (%s)" % (a.table, e)) from None
        new = dump_table(regenerate(table, macros, source))
        return write_or_check(a.table, new, dump_table(table), a.check,
                              "%s is stale: run python -m tools.pciids table" % a.table)
    except InputError as e:
        print("pciids: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
