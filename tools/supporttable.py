"""Write the README's support table from checks/gpu_families.json.

    python -m tools.supporttable            rewrite the table between the markers in README.md
    python -m tools.supporttable --check    exit 1 when README.md's table is not what the family table says

One row per family: where its ids come from, the driver (and whether it needs force_probe or Intel's
out-of-tree i915), the first kernel that drives it without force_probe, the firmware per driver
variant, the compute runtime it needs, the XPU Manager line. Exit 0 ok, 1 stale, 2 unreadable input.
"""
import argparse
import json
import sys
from pathlib import Path

from tools._generated import write_or_check

REPO = Path(__file__).resolve().parent.parent
TABLE = REPO / "checks" / "gpu_families.json"
README = REPO / "README.md"
START, END = "<!-- support-table:start (python -m tools.supporttable) -->", "<!-- support-table:end -->"


def _source(sources, key):
    s = sources.get(key)
    if not s:
        return key
    at = " @" + s["commit"][:7] if s.get("commit") else ""
    return "%s %s%s" % (s["repo"], s.get("path", "").rsplit("/", 1)[-1], at)


def _ids(fam, sources):
    src = ", ".join("`%s`" % m for m in fam["pciids"]) + " (pciids.h @%s)" % sources["pciids"]["commit"][:12]
    extra = fam.get("extra_ids")
    if extra:
        src += "; + %s (%s)" % (", ".join(x.lower() for x in extra["ids"]), _source(sources, extra["source"]))
    return src


def _driver(fam):
    if fam["force_probe"]:
        return "%s, force_probe only" % fam["driver"]
    if fam["dkms"]:
        return "%s (Intel's out-of-tree i915, DKMS)" % fam["driver"]
    return fam["driver"]


def _firmware(fam):
    parts = []
    for variant, kinds in fam["firmware"].items():
        if kinds:
            parts.append("%s: %s" % (variant, ", ".join("`%s`" % names[0] for names in kinds.values())))
    return "; ".join(parts) or "none checked"


def _runtime(fam):
    if fam["legacy"]:
        api = "OpenCL" if not fam["level_zero"] else "OpenCL, Level Zero"
        return "%s: compute-runtime < 24.35 or its legacy1 packages" % api
    if fam["min_runtime"]:
        text = "≥ %s%s" % (fam["min_runtime"], "" if fam.get("min_runtime_exact", True) else " (known good)")
        by_id = fam.get("min_runtime_by_id") or {}
        earlier = sorted({v for v in by_id.values() if v})
        none = sorted(k for k, v in by_id.items() if v is None)
        notes = ["%d ids from %s" % (sum(1 for v in by_id.values() if v == e), e) for e in earlier]
        notes += ["%s: no release yet" % ", ".join(none)] if none else []
        return text + (" (%s)" % "; ".join(notes) if notes else "")
    return "any current"


def render(table):
    rows = ["| family | ids | driver | first kernel | firmware | compute runtime | XPU Manager |",
            "|---|---|---|---|---|---|---|"]
    for fam in table["families"]:
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            fam["name"], _ids(fam, table["sources"]), _driver(fam),
            fam["min_kernel"] or "none yet", _firmware(fam), _runtime(fam), fam["xpum_line"] or "-"))
    return "\n".join([START, ""] + rows + ["", END])


def updated(readme_text, table):
    if START in readme_text and END in readme_text:
        head, rest = readme_text.split(START, 1)
        tail = rest.split(END, 1)[1]
        return head + render(table) + tail
    raise ValueError("README.md has no support-table markers")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.supporttable", description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--readme", default=str(README))
    ap.add_argument("--table", default=str(TABLE))
    a = ap.parse_args(argv)
    try:
        table = json.loads(Path(a.table).read_text())
        text = Path(a.readme).read_text()
        new = updated(text, table)
    except (OSError, ValueError, KeyError) as e:
        print("supporttable: %s" % e, file=sys.stderr)
        return 2
    return write_or_check(a.readme, new, text, a.check,
                          "%s: the support table is stale: run python -m tools.supporttable" % a.readme)


if __name__ == "__main__":
    sys.exit(main())
