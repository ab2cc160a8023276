"""Render a report dict (the --json shape) as text or JUnit XML. Local and remote verify share these."""
from checks.rules import LAYERS, REGISTRY

LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}
COLOR = {"pass": "\033[32m", "warn": "\033[33m", "fail": "\033[31;1m", "skip": "\033[2m"}
RESET = "\033[0m"


def _layer_of(c):
    """A check's layer heading: the report's own "layer", else the registry's (a report without one)."""
    layer = c.get("layer") or getattr(REGISTRY.get(c["id"]), "layer", None)
    return layer if layer in LAYERS else "Other"


def render_text(report, color=False, host=None):
    out = []
    env = report.get("environment", {})
    title = "xpu-ops verify: %s" % (host or env.get("hostname") or env.get("root") or "this host")
    out.append(title)
    width = max([len(c["id"]) for c in report["checks"]] + [8])
    current = None
    order = {name: i for i, name in enumerate(LAYERS)}
    for c in sorted(report["checks"], key=lambda c: order.get(_layer_of(c), len(LAYERS))):
        layer = _layer_of(c)
        if layer != current:
            out.append("")
            out.append(layer)
            current = layer
        label = LABEL[c["status"]]
        if color:
            label = COLOR[c["status"]] + label + RESET
        out.append("  %s  %-*s  %s" % (label, width, c["id"], c["detail"] or c["title"]))
        if c["status"] in ("fail", "warn") and c.get("remedy"):
            for line in c["remedy"].splitlines():
                out.append("  %s  %*s  > %s" % (" " * 4, width, "", line))
    s = report["summary"]
    verdict = "OK" if report["ok"] else "NOT OK"
    if color:
        verdict = (COLOR["pass"] if report["ok"] else COLOR["fail"]) + verdict + RESET
    out.append("")
    out.append("%d passed, %d failed, %d warning%s, %d skipped: %s" % (
        s["pass"], s["fail"], s["warn"], "" if s["warn"] == 1 else "s", s["skip"], verdict))
    return "\n".join(out) + "\n"


def render_junit(report, host=None, suite="xpu-ops verify"):
    import xml.etree.ElementTree as ET
    host = host or report.get("environment", {}).get("hostname") or "localhost"
    s = report["summary"]
    suite = ET.Element("testsuite", name=suite, tests=str(len(report["checks"])),
                       failures=str(s["fail"]), errors="0", skipped=str(s["skip"]), hostname=host)
    for c in report["checks"]:
        case = ET.SubElement(suite, "testcase", classname="xpu-ops.%s" % host, name=c["id"])
        if c["status"] == "fail":
            el = ET.SubElement(case, "failure", message=c["detail"][:500], type="fail")
            el.text = c.get("remedy") or ""
        elif c["status"] == "skip":
            ET.SubElement(case, "skipped", message=c["detail"][:500])
        else:
            out = ET.SubElement(case, "system-out")
            out.text = ("WARNING: %s\nremedy: %s" % (c["detail"], c.get("remedy"))) if c["status"] == "warn" \
                else c["detail"]
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
