"""Filters for the xpu-ops roles.

The GPU family table is read from checks/gpu_families.json through the checks
package (one source for the checks and the roles), and rest.conf is written by
the project's one generator, checks/restconf.py.  Nothing here copies either.
"""
import json
import os
import re
import sys

from ansible.errors import AnsibleFilterError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

_RESTCONF_SALT = re.compile(r"^\s*salt\s*=\s*(\S+)\s*$", re.M)


def _families():
    from checks import families  # noqa: PLC0415  (imported on use: the control host's checkout)

    return families


def intel_gpu_families(gpus):
    """The checks' GPUs (``pci.gpus`` of xpu_ops_host_facts) -> the roles' view, one item per GPU.

    Each item: {slot, device, family (id or None), name, driver, dkms, xpum_line, kind}. Which PCI
    functions are Intel GPUs, and their family, the checks decided (checks/facts.py pci_facts);
    this only adds the family table's fields the roles decide on.
    """
    fam = _families()
    out = []
    for g in gpus or []:
        try:
            device = int(g["device_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AnsibleFilterError("intel_gpu_families: not a GPU of xpu_ops_host_facts: %r (%s)" % (g, exc)) \
                from None
        f = fam.family_by_key(g.get("family")) if g.get("family") else None
        out.append({
            "slot": g.get("bdf"),
            "device": "0x%04x" % device,
            "family": f["id"] if f else None,
            "name": f["name"] if f else "unknown Intel display device 0x%04x" % device,
            "driver": f["driver"] if f else None,
            "dkms": bool(f and f.get("dkms")),
            "xpum_line": f.get("xpum_line") if f else None,
            "kind": f.get("kind") if f else None,
        })
    return out


def intel_gpu_family_ids(_unused=None):
    """Every family id the table knows (to validate a user's family override)."""
    return [f["id"] for f in _families().table()[0]]


def intel_gpu_family(family_id):
    """One family's entry by id (dict), or fail naming the known ids."""
    f = _families().family_by_key(family_id)
    if f is None:
        raise AnsibleFilterError("unknown GPU family %r; known: %s" % (family_id, ", ".join(intel_gpu_family_ids())))
    return f


def xpum_rest_conf(password, username="xpumadmin", existing=None):
    """rest.conf text from checks.restconf.make_rest_conf.

    `existing` is the current rest.conf text (or None): its salt is reused so a
    re-run with the same password yields the same file (idempotent), while a new
    file gets a random salt from the generator.
    """
    if not password:
        raise AnsibleFilterError("xpum_rest_conf: an empty password is not accepted")
    from checks.restconf import make_rest_conf  # noqa: PLC0415

    salt = None
    if existing:
        m = _RESTCONF_SALT.search(existing)
        if m:
            salt = m.group(1)
    return make_rest_conf(str(password), username=str(username), salt=salt)


def version_major_minor(version):
    """'2.8.10+xpu' -> '2.8'."""
    m = re.match(r"^\s*(\d+)\.(\d+)", str(version or ""))
    if not m:
        raise AnsibleFilterError("not a version: %r" % (version,))
    return "%s.%s" % (m.group(1), m.group(2))


def intel_gpu_resolve_renames(packages, installed, renames):
    """Survive package renames (old -> new, e.g. intel-level-zero-gpu -> libze-intel-gpu1).

    Returns {install: [...], remove: [...]}: an old name that is installed while its
    successor is wanted goes to `remove` (apt would otherwise refuse the file
    conflict); a wanted old name whose successor is already installed becomes the
    successor (never downgrade a host that moved on).
    """
    installed = set(installed or ())
    wanted = list(packages or ())
    install, remove = [], []
    for name in wanted:
        new = renames.get(name)
        install.append(new if new and new in installed else name)
    for old, new in renames.items():
        if new in install and old in installed and old not in install:
            remove.append(old)
    return {"install": install, "remove": remove}


def intel_gpu_pkg_spec(name, versions):
    """'pkg' -> 'pkg=VERSION' when `versions` pins it."""
    v = (versions or {}).get(name)
    return "%s=%s" % (name, v) if v else name


def xpu_ops_verify_line(result, host="", report_path=""):
    """One line on a host's verify outcome, for the fleet summary and the failure message.

    result: {rc, stdout, stderr} of the checks run (``--json``). A host whose checks could not
    run (exit 2, no JSON) gets the reason instead of a crash.
    """
    result = result or {}
    head = "%s: " % host if host else ""
    report = _report_of(result)
    if not report:
        why = (result.get("stderr") or result.get("msg") or "").strip().splitlines()
        return "%sNOT VERIFIED: the checks could not run (exit %s)%s" % (
            head, result.get("rc", "?"), ": " + why[-1] if why else "")
    s = report.get("summary", {})
    counts = "%d passed, %d failed, %d warning%s, %d skipped" % (
        s.get("pass", 0), s.get("fail", 0), s.get("warn", 0), "" if s.get("warn", 0) == 1 else "s", s.get("skip", 0))
    failed = ["%s (%s)" % (c["id"], _short(c.get("detail") or c.get("title") or ""))
              for c in report.get("checks", []) if c.get("status") == "fail"]
    line = "%s%s: %s" % (head, "OK" if report.get("ok") else "NOT OK", counts)
    if failed:
        line += "; failed: " + "; ".join(failed)
    if report_path:
        line += "; report: " + report_path
    return line


def _short(text, limit=90):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _report_of(result):
    """The checks' JSON report from a command result, or {} when there is none."""
    if (result or {}).get("rc") not in (0, 1):
        return {}
    try:
        report = json.loads(result.get("stdout") or "")
    except ValueError:
        return {}
    return report if isinstance(report, dict) and "checks" in report and "ok" in report else {}


def xpu_ops_verify_report(result):
    """The checks' JSON report (a dict) from the command result, {} when the checks printed none."""
    return _report_of(result)


class FilterModule:
    def filters(self):
        return {
            "intel_gpu_families": intel_gpu_families,
            "intel_gpu_family_ids": intel_gpu_family_ids,
            "intel_gpu_family": intel_gpu_family,
            "xpum_rest_conf": xpum_rest_conf,
            "version_major_minor": version_major_minor,
            "intel_gpu_resolve_renames": intel_gpu_resolve_renames,
            "intel_gpu_pkg_spec": intel_gpu_pkg_spec,
            "xpu_ops_verify_line": xpu_ops_verify_line,
            "xpu_ops_verify_report": xpu_ops_verify_report,
        }
