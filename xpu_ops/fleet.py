"""One report for many hosts: what ``xpu_ops.remote`` gathered, as a table, causes, JSON, JUnit, Prometheus.

``fleet_report(outcomes, ...)`` turns the per-host Outcomes into one dict (the ``--json`` object,
schema in ``xpu_ops/fleet_report.schema.json``); every renderer below reads that dict only:

* ``render_fleet_text``: a table host x check (pass/warn/fail/skip, or the reason a host could
  not be verified), the failures and warnings grouped by cause with their hosts and remedy, and
  a summary line;
* ``render_fleet_junit``: one testsuite per host, one testcase per host x check (the per-host
  part is ``checks.report.render_junit``; a host that could not be verified gets an ``error``
  per check);
* ``render_prometheus`` / ``write_atomic``: the node_exporter textfile collector format.

Control-host only (not put into the zipapp).
"""
from __future__ import annotations

import re
import sys
import time

from checks.report import write_atomic  # noqa: F401  (the textfile, the JUnit: one atomic writer)

STATUSES = ("pass", "warn", "fail", "skip", "unreachable")
STATUS_VALUE = {s: i for i, s in enumerate(STATUSES)}      # xpu_ops_check_status: 0 pass .. 4 unreachable
# Why a host could not be verified (Outcome.kind); every one of them is "unreachable" in the table.
KINDS = {"refused": "connection refused or no route",
         "timeout": "no answer in time",
         "auth": "key refused",
         "host_key": "host key not trusted",
         "no_python": "no python3",
         "error": "could not run the checks"}
SCHEMA_VERSION = 1
CELL = {"pass": "pass", "warn": "WARN", "fail": "FAIL", "skip": "skip", "unreachable": "----"}
COLOR = {"pass": "\033[32m", "warn": "\033[33m", "fail": "\033[31;1m", "skip": "\033[2m",
         "unreachable": "\033[35;1m"}
RESET = "\033[0m"


# ------------------------------------------------------------------------------------ the report

def _normalize(text: str, host_words, collapse: bool = True) -> str:
    """A detail/remedy/error with what differs per host taken out, so equal causes group together."""
    out = text or ""
    for w in sorted({w for w in host_words if w}, key=len, reverse=True):
        out = re.sub(r"(?<![\w.-])%s(?![\w-])" % re.escape(w), "{host}", out)
    out = re.sub(r"\bport \d+\b", "port {port}", out)
    out = re.sub(r"(\{host\}):\d+\b", r"\1:{port}", out)
    return re.sub(r"[ \t]+", " ", out).strip() if collapse else out


def _host_words(o) -> list:
    t = o.target
    words = [t.name, t.host, t.label]
    env = (o.report or {}).get("environment", {})
    words.append(env.get("hostname"))
    return [w for w in words if w and len(w) > 2]


def fleet_report(outcomes, check_ids, started: float, finished: float) -> dict:
    """The fleet report (the ``--json`` object) from remote.Outcome objects, in their order.

    check_ids: the columns (the checks selected by --only/--skip), so a fleet where no host
    answered still has every cell. started/finished: time.time() of the run.
    """
    ids = list(check_ids)
    for o in outcomes:                          # a check the control host does not know (newer checkout)
        for c in (o.report or {}).get("checks", []):
            if c["id"] not in ids:
                ids.append(c["id"])
    hosts, causes, shown = {}, {}, {}
    counts = dict.fromkeys(STATUSES, 0)
    host_counts = {"ok": 0, "fail": 0, "unreachable": 0}
    kinds = {}
    for o in outcomes:
        t = o.target
        entry = {"address": t.label, "seconds": round(o.seconds, 3)}
        words = _host_words(o)
        if o.error is not None:
            kind = o.kind or "error"
            kinds[kind] = kinds.get(kind, 0) + 1
            entry.update(status="unreachable", ok=False, exit=2, error=o.error, error_kind=kind,
                         summary=None, environment=None, gpus=None,
                         results={cid: {"status": "unreachable", "title": "", "detail": o.error, "remedy": ""}
                                  for cid in ids})
            counts["unreachable"] += len(ids)
            key = ("", "unreachable", kind, _normalize(o.error, words), "")
            causes.setdefault(key, []).append(t.name)
            _remember(shown, key, o.error, "", words)
        else:
            rep = o.report
            entry.update(status="ok" if rep["ok"] else "fail", ok=bool(rep["ok"]), exit=o.exit, error=None,
                         error_kind=None, summary=rep.get("summary"), environment=rep.get("environment"),
                         gpus=rep.get("gpus"), results={})
            if rep.get("telemetry") is not None:
                entry["telemetry"] = rep["telemetry"]
            for c in rep["checks"]:
                entry["results"][c["id"]] = {k: c.get(k, "") for k in ("status", "title", "detail", "remedy")}
                entry["results"][c["id"]]["evidence"] = c.get("evidence", {})
                counts[c["status"]] += 1
                if c["status"] in ("fail", "warn"):
                    key = (c["id"], c["status"], "", _normalize(c["detail"], words),
                           _normalize(c.get("remedy") or "", words))
                    causes.setdefault(key, []).append(t.name)
                    _remember(shown, key, c["detail"], c.get("remedy") or "", words)
        host_counts[entry["status"]] += 1
        hosts[t.name] = entry
    rank = {"unreachable": 0, "fail": 1, "warn": 2}
    # A cause shows the words of its first host (the text says so where its hosts' words differ): never a
    # placeholder such as "{host}", which reads as a formatting slip.
    cause_list = []
    for key, names in causes.items():
        cid, status, kind, detail, remedy = key
        detail, remedy = shown[key]
        cause_list.append({"check": cid or None, "status": status, "error_kind": kind or None, "detail": detail,
                           "remedy": remedy, "count": len(names), "hosts": names})
    cause_list.sort(key=lambda c: (rank[c["status"]], -c["count"], c["check"] or "", c["detail"]))
    return {
        "schema_version": SCHEMA_VERSION,
        "ok": host_counts["ok"] == len(outcomes) and bool(outcomes),
        "started": _iso(started), "finished": _iso(finished),
        "timestamp": round(finished, 3), "duration_seconds": round(finished - started, 3),
        "summary": {"hosts": len(outcomes), **host_counts, "unreachable_by_kind": kinds, "checks": counts},
        "checks": ids,
        "hosts": hosts,
        "causes": cause_list,
    }


def _remember(shown, key, detail, remedy, words):
    """Per cause: the first host's own detail and remedy."""
    shown.setdefault(key, (detail, remedy))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def exit_code(fleet: dict) -> int:
    """0 when every host passed (warnings allowed), 1 when any host failed or could not be verified."""
    return 0 if fleet["ok"] else 1


# ------------------------------------------------------------------------------------ text

def _paint(text, status, color):
    return COLOR[status] + text + RESET if color else text


def _host_list(names, limit=8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (", ... (+%d more)" % (len(names) - limit) if len(names) > limit else "")


def summary_line(fleet: dict) -> str:
    s = fleet["summary"]
    c = s["checks"]
    unr = ""
    if s["unreachable"]:
        unr = " (%s)" % ", ".join("%s %d" % (k, n) for k, n in sorted(s["unreachable_by_kind"].items()))
    return ("%d host%s: %d ok, %d failed, %d unreachable%s; checks: %d pass, %d warn, %d fail, %d skip; "
            "%.1f s: %s" % (s["hosts"], "" if s["hosts"] == 1 else "s", s["ok"], s["fail"], s["unreachable"], unr,
                            c["pass"], c["warn"], c["fail"], c["skip"], fleet["duration_seconds"],
                            "OK" if fleet["ok"] else "NOT OK"))


def render_fleet_text(fleet: dict, color: bool = False) -> str:
    ids = fleet["checks"]
    names = list(fleet["hosts"])
    hw = max([len(n) for n in names] + [4])
    widths = [max(len(cid), 4) for cid in ids]
    out = ["xpu-ops fleet verify: %d host%s, %d check%s" % (len(names), "" if len(names) == 1 else "s",
                                                          len(ids), "" if len(ids) == 1 else "s"), ""]
    out.append("  ".join(["%-*s" % (hw, "host"), *("%-*s" % (w, cid) for w, cid in zip(widths, ids))]).rstrip())
    for name in names:
        h = fleet["hosts"][name]
        if h["status"] == "unreachable":
            label = "UNREACHABLE (%s): %s" % (h["error_kind"], h["error"])
            out.append("%-*s  %s" % (hw, name, _paint(label, "unreachable", color)))
            continue
        cells = []
        for w, cid in zip(widths, ids):
            st = h["results"].get(cid, {}).get("status")
            text = CELL.get(st, "")
            cells.append(_paint(text, st, color) + " " * (w - len(text)) if st else " " * w)
        out.append(("%-*s  " % (hw, name) + "  ".join(cells)).rstrip())
    for title, statuses in (("Failures by cause", ("unreachable", "fail")), ("Warnings by cause", ("warn",))):
        group = [c for c in fleet["causes"] if c["status"] in statuses]
        if not group:
            continue
        out += ["", title + ":"]
        for c in group:
            what = c["check"] or ("unreachable, " + KINDS.get(c["error_kind"], c["error_kind"]))
            head = "%d host%s: %s: %s" % (c["count"], "" if c["count"] == 1 else "s", what, c["detail"])
            if c["count"] > 1:
                head += "   (as on %s)" % c["hosts"][0]
            out.append("  " + _paint(head, c["status"], color))
            out.append("      hosts: " + _host_list(c["hosts"]))
            for line in (c["remedy"] or "").splitlines():
                out.append("      > " + line)
    out += ["", _paint(summary_line(fleet), "pass" if fleet["ok"] else "fail", color)]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------ JUnit

def render_fleet_junit(fleet: dict) -> str:
    """testsuites > one testsuite per host > one testcase per check (``checks.report.render_junit``)."""
    import xml.etree.ElementTree as ET
    from checks import report as R
    suites = ET.Element("testsuites", name="xpu-ops fleet verify", tests="0", failures="0", errors="0",
                        skipped="0", time="%.3f" % fleet["duration_seconds"], timestamp=fleet["started"])
    totals = dict(tests=0, failures=0, errors=0, skipped=0)
    for name, h in fleet["hosts"].items():
        if h["status"] != "unreachable":
            checks = [dict(r, id=cid) for cid, r in h["results"].items()]
            rep = {"summary": h["summary"], "checks": checks}
            suite = ET.fromstring(R.render_junit(rep, host=name).encode()).find("testsuite")
        else:
            suite = ET.Element("testsuite", name="xpu-ops verify", tests=str(len(h["results"])), failures="0",
                               errors=str(len(h["results"])), skipped="0", hostname=name)
            for cid in h["results"]:
                case = ET.SubElement(suite, "testcase", classname="xpu-ops.%s" % name, name=cid)
                ET.SubElement(case, "error", message=h["error"][:500], type=h["error_kind"])
        suite.set("time", "%.3f" % h["seconds"])
        for k in totals:
            totals[k] += int(suite.get(k, "0"))
        suites.append(suite)
    for k, v in totals.items():
        suites.set(k, str(v))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


# ------------------------------------------------------------------------------------ Prometheus

def render_prometheus(fleet: dict) -> str:
    """The node_exporter textfile collector format (``prometheus_client``'s exposition)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    class _Fleet:
        def collect(self):
            st = GaugeMetricFamily("xpu_ops_check_status", "xpu-ops check status per host and check: "
                                   "0 pass, 1 warn, 2 fail, 3 skip, 4 unreachable (host not verified)",
                                   labels=["host", "check"])
            up = GaugeMetricFamily("xpu_ops_host_up", "1 when verify could run on the host, 0 when not",
                                   labels=["host", "reason"])
            dur = GaugeMetricFamily("xpu_ops_host_verify_seconds", "Seconds verify took on the host, "
                                    "connection included", labels=["host"])
            for name, h in fleet["hosts"].items():
                for cid, r in h["results"].items():
                    st.add_metric([name, cid], STATUS_VALUE[r["status"]])
                up.add_metric([name, h["error_kind"] or ""], 0 if h["status"] == "unreachable" else 1)
                dur.add_metric([name], h["seconds"])
            yield st
            yield up
            yield dur
            yield _kernel_events(fleet)
            yield GaugeMetricFamily("xpu_ops_fleet_ok", "1 when every host passed (warnings allowed)",
                                    value=1 if fleet["ok"] else 0)
            yield GaugeMetricFamily("xpu_ops_last_run_timestamp_seconds", "Unix time the last fleet verify ended",
                                    value=fleet["timestamp"])
            yield GaugeMetricFamily("xpu_ops_last_run_duration_seconds", "Seconds the last fleet verify took",
                                    value=fleet["duration_seconds"])
            from xpu_ops.gpu_prometheus import fleet_families  # the GPUs' readings, as GET /metrics has them
            yield from fleet_families(fleet["hosts"])

    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Fleet())
    return generate_latest(reg).decode()


def _kernel_events(fleet: dict):
    """xpu_ops_gpu_kernel_events{host, kind}: the kernel.log check's counts since boot (hangs, engine resets, ...)."""
    from prometheus_client.core import GaugeMetricFamily
    from checks.kernel_log import KINDS
    fam = GaugeMetricFamily("xpu_ops_gpu_kernel_events", "GPU kernel log events since boot, per host and kind "
                            "(the kernel.log check: " + ", ".join(KINDS) + ")", labels=["host", "kind"])
    for name, h in fleet["hosts"].items():
        counts = ((h.get("results") or {}).get("kernel.log") or {}).get("evidence", {}).get("counts")
        for kind in KINDS if counts else ():
            fam.add_metric([name, kind], counts.get(kind, 0))
    return fam


# ------------------------------------------------------------------------------------ progress

class Progress:
    """``verify: 12/50 hosts done (1 failed, 2 unreachable)`` on one line of stderr, on a terminal only."""

    def __init__(self, total: int, stream=None, enabled=None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = (self.stream.isatty() if enabled is None else enabled) and total > 1
        self.total, self.done, self.failed, self.unreachable = total, 0, 0, 0
        self._width = 0
        if self.enabled:
            self._show()

    def __call__(self, outcome) -> None:
        self.done += 1
        if outcome.error is not None:
            self.unreachable += 1
        elif not outcome.report.get("ok"):
            self.failed += 1
        if self.enabled:
            self._show()

    def _show(self):
        text = "verify: %d/%d hosts done" % (self.done, self.total)
        if self.failed or self.unreachable:
            text += " (%d failed, %d unreachable)" % (self.failed, self.unreachable)
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self):
        if self.enabled:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
