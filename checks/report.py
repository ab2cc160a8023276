"""Render a report dict (the --json shape) as text or JUnit XML. Local and remote verify share these.

Every string of a report may come from elsewhere (a host's files, XPU Manager, a remote host): it goes
through ``checks.foreign.clean`` on its way out (no terminal escapes, valid XML, encodable UTF-8)."""
from checks.foreign import clean
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
    out.append(clean(title))
    width = max([len(clean(c["id"])) for c in report["checks"]] + [8])
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
        out.append("  %s  %-*s  %s" % (label, width, clean(c["id"]), clean(c["detail"] or c["title"])))
        if c["status"] in ("fail", "warn") and c.get("remedy"):
            for line in clean(c["remedy"]).splitlines():
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
    host = clean(host or (report.get("environment") or {}).get("hostname") or "localhost")
    s = report["summary"]
    suite = ET.Element("testsuite", name=suite, tests=str(len(report["checks"])),
                       failures=str(s["fail"]), errors="0", skipped=str(s["skip"]), hostname=host)
    for c in report["checks"]:
        detail, remedy = clean(c["detail"] or ""), clean(c.get("remedy") or "")
        case = ET.SubElement(suite, "testcase", classname="xpu-ops.%s" % host, name=clean(c["id"]))
        if c["status"] == "fail":
            el = ET.SubElement(case, "failure", message=detail[:500], type="fail")
            el.text = remedy
        elif c["status"] == "skip":
            ET.SubElement(case, "skipped", message=detail[:500])
        else:
            out = ET.SubElement(case, "system-out")
            out.text = ("WARNING: %s\nremedy: %s" % (detail, remedy)) if c["status"] == "warn" else detail
    suites = ET.Element("testsuites")
    suites.append(suite)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    """Write text to path through a temp file in the same folder and a rename: a reader (node_exporter, CI)
    sees the old file or the new one, never half of one or an empty one. The temp name does not end in
    .prom or .xml."""
    import os
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
