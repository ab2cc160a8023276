"""Text and reports that come from elsewhere (a host's files, XPU Manager, a remote host): made safe to print.

``clean(text)``: control characters (C0 but tab and newline, DEL, C1), bidirectional overrides, and lone
surrogates (a name that was not UTF-8, as os.listdir gives it) are shown as ``\\xNN``/``\\uNNNN``: no
terminal escape reaches a terminal, and the text is valid XML 1.0 and encodable UTF-8.
``clean_tree(obj)``: the same for every string (and key) in a JSON-shaped value.
``report_problem(report)``: what makes a ``--json`` report unusable (None when it is one); a host's report
is checked before anything renders it.
"""
import re

STATUSES = ("pass", "warn", "fail", "skip")
_UNSAFE = None


def _escape(m):
    o = ord(m.group())
    if 0xDC80 <= o <= 0xDCFF:        # a byte that was not UTF-8 (surrogateescape): show the byte
        return "\\x%02x" % (o - 0xDC00)
    return "\\x%02x" % o if o < 0x100 else "\\u%04x" % o


def clean(text):
    """`text` (str) with every unsafe character escaped; other values unchanged."""
    global _UNSAFE
    if not isinstance(text, str) or (text.isascii() and text.isprintable()):
        return text
    if _UNSAFE is None:
        _UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
                             "\ud800-\udfff\ufffe\uffff]")
    return _UNSAFE.sub(_escape, text)


def clean_tree(obj):
    if isinstance(obj, str):
        return clean(obj)
    if isinstance(obj, dict):
        return {clean(k): clean_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clean_tree(v) for v in obj]
    return obj


def _check_problem(i, c):
    if not isinstance(c, dict):
        return "check %d is not an object" % i
    if not isinstance(c.get("id"), str) or not c["id"]:
        return "check %d has no id" % i
    if c.get("status") not in STATUSES:
        return "check %s has status %r (not one of %s)" % (c["id"], c.get("status"), "/".join(STATUSES))
    for k in ("title", "detail", "remedy"):
        if not isinstance(c.get(k, ""), str):
            return "check %s: %s is not a string" % (c["id"], k)
    if not isinstance(c.get("evidence", {}), dict):
        return "check %s: evidence is not an object" % c["id"]
    return None


def report_problem(report):
    """Why `report` is not a checks report (one line), or None when it is one."""
    if not isinstance(report, dict):
        return "the report is not a JSON object"
    if not isinstance(report.get("ok"), bool):
        return "'ok' is not true or false"
    checks = report.get("checks")
    if not isinstance(checks, list):
        return "'checks' is not a list"
    seen = set()
    for i, c in enumerate(checks):
        why = _check_problem(i, c)
        if why:
            return why
        if c["id"] in seen:
            return "check %s appears twice" % c["id"]
        seen.add(c["id"])
    summary = report.get("summary")
    if not isinstance(summary, dict) or any(type(summary.get(s)) is not int for s in STATUSES):
        return "'summary' does not count pass/warn/fail/skip"
    counted = {s: sum(c["status"] == s for c in checks) for s in STATUSES}
    if any(summary[s] != counted[s] for s in STATUSES):
        return "'summary' does not match the checks"
    if report["ok"] != (counted["fail"] == 0):
        return "'ok' does not match the checks"
    for k, kind in (("environment", dict), ("gpus", list)):
        if report.get(k) is not None and not isinstance(report[k], kind):
            return "'%s' is not a JSON %s" % (k, "object" if kind is dict else "list")
    if not isinstance((report.get("environment") or {}).get("hostname", ""), (str, type(None))):
        return "'environment.hostname' is not a string"
    return None
