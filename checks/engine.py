"""One way through: gather facts -> evaluate checks -> a report dict (rendered by checks.report)."""
import os
import sys

from checks import facts as F
from checks.result import FAIL, PASS, REGISTRY, SKIP, WARN, Result  # noqa: F401
from checks.root import HostRoot

XPUM_CHECKS = {"xpum.api", "xpum.health"}


def all_ids():
    _load_rules()
    return list(REGISTRY)


def _load_rules():
    import checks.rules  # noqa: F401  (registers the checks)


class Options:
    """What the person asked for (the CLI flags), with the defaults of `python -m checks`."""

    def __init__(self, root="/", user=None, xpum_url=None, ca_file=None, insecure=None, credentials_file=None,
                 python=None, only=None, skip=None, timeout=None, torch_timeout=60.0, env=None,
                 host_name=None):
        self.root, self.user, self.xpum_url, self.ca_file = root, user, xpum_url, ca_file
        self.insecure, self.credentials_file = insecure, credentials_file
        self.python = python or sys.executable
        self.only, self.skip = only, list(skip or [])
        self.timeout, self.torch_timeout = timeout, torch_timeout
        self.env = dict(os.environ) if env is None else env
        self.host_name = host_name
        self.xpum = None  # checks.xpum.ConnectionSettings: the XPU Manager flags, else XPU_MANAGER_* (validate())


class UsageError(Exception):
    """Bad input from the person or their configuration: exit 2, one line."""


def selected(opts):
    ids = all_ids()
    unknown = [i for i in (opts.only or []) + opts.skip if i not in ids]
    if unknown:
        raise UsageError("unknown check id %s (known: %s)" % (", ".join(repr(u) for u in unknown), ", ".join(ids)))
    chosen = [i for i in ids if (not opts.only or i in opts.only) and i not in opts.skip]
    if not chosen:
        raise UsageError("--only/--skip leave no check to run")
    return chosen


def validate(opts):
    """Everything that is a usage/config error, decided before any slow work starts."""
    if not os.path.isdir(opts.root):
        raise UsageError("--root %s: %s" % (opts.root, "not a directory" if os.path.exists(opts.root)
                                            else "no such directory"))
    if not os.access(opts.root, os.R_OK | os.X_OK):
        raise UsageError("--root %s: not readable" % opts.root)
    if opts.ca_file and not os.path.isfile(opts.ca_file):
        raise UsageError("--ca-file %s: no such file" % opts.ca_file)
    if opts.torch_timeout <= 0:
        raise UsageError("--torch-timeout must be > 0")
    if opts.timeout is not None:
        from checks import xpum
        try:
            opts.timeout = xpum.settings.parse_seconds(opts.timeout, "--timeout %s" % opts.timeout)
        except xpum.XpumError as e:
            raise UsageError(str(e)) from None
    ids = selected(opts)
    if "torch.xpu" in ids:
        py = opts.python
        if os.sep not in py:
            import shutil
            py = shutil.which(py) or py
        if not (os.path.isfile(py) and os.access(py, os.X_OK)):
            raise UsageError("--python %s: no such executable" % opts.python)
    if XPUM_CHECKS & set(ids):
        opts.xpum = _xpum_settings(opts)
    return ids


def _xpum_settings(opts):
    """The one XPU Manager connection: each flag, else its XPU_MANAGER_* variable (UsageError naming it)."""
    from checks import xpum
    try:
        return xpum.ConnectionSettings.resolve(opts.env, url=opts.xpum_url, credentials_file=opts.credentials_file,
                                               ca_file=opts.ca_file, insecure=opts.insecure, timeout=opts.timeout)
    except xpum.XpumError as e:
        raise UsageError(str(e)) from None


def gather(opts, ids):
    """Read the host once. Slow probes start first and run while sysfs is read."""
    root = HostRoot(opts.root)
    torch_probe = xpum_bg = None
    if "torch.xpu" in ids:
        from checks.torch_run import TorchProbe
        torch_probe = TorchProbe(opts.python, opts.torch_timeout, opts.env)
    if XPUM_CHECKS & set(ids):
        from checks import xpum
        xpum_bg = F.Background(xpum.gather, settings=opts.xpum or _xpum_settings(opts))
    facts = {"root": opts.root, "host_name": opts.host_name}
    facts["platform"] = F.platform_facts(root)
    facts["platform"]["_root"] = root.base
    facts["pci"] = F.pci_facts(root)
    gpus = facts["pci"].get("gpus", [])
    facts["modules"] = F.module_facts(root)
    facts["drm"] = F.drm_facts(root, gpus)
    try:
        facts["user"] = F.user_facts(root, opts.user)
    except F.FactError as e:
        raise UsageError(str(e)) from None
    facts["firmware"] = F.firmware_facts(root, {g["family"] for g in gpus if g.get("family")})
    facts["userspace"] = F.userspace_facts(root)
    wait = min(opts.xpum.timeout if opts.xpum else opts.timeout or 3.0, 2.0)
    facts["services"] = F.service_facts(root, timeout=wait, env=opts.env) if "xpum.service" in ids \
        or XPUM_CHECKS & set(ids) else {"binaries": {}, "units": {}, "containers": None, "systemd": None}
    facts["xpum"] = xpum_bg.result() if xpum_bg else {}
    facts["torch"] = torch_probe.result() if torch_probe else {}
    if torch_probe:
        try:
            facts["torch"]["self"] = os.path.samefile(opts.python, sys.executable)
        except OSError:
            facts["torch"]["self"] = False
    return facts


def evaluate(facts, ids):
    results = []
    for cid in ids:
        fn, title, layer = REGISTRY[cid]
        try:
            status, detail, remedy, evidence = fn(facts)
        except Exception as e:  # a bug in one check must not hide the others
            status, detail, remedy, evidence = (FAIL, "internal error in check %s: %s: %s" % (
                cid, type(e).__name__, e), "report this as an xpu-ops bug with the --json output", {})
        results.append(Result(cid, status, title, detail, remedy, evidence))
    return results


def report(facts, results):
    summary = {PASS: 0, WARN: 0, FAIL: 0, SKIP: 0}
    for r in results:
        summary[r.status] += 1
    p = facts["platform"]
    gpus = []
    for g in facts["pci"].get("gpus", []):
        nodes = facts["drm"].get(g["bdf"], {}).get("nodes", [])
        gpus.append({
            "bdf": g["bdf"], "vendor_id": "0x%04x" % g["vendor_id"], "device_id": "0x%04x" % g["device_id"],
            "family": g["family"], "name": g["name"], "driver": g["driver"],
            "card": next((n["node"] for n in nodes if n["kind"] == "card"), None),
            "render": next((n["node"] for n in nodes if n["kind"] == "render"), None),
        })
    env = {k: p.get(k) for k in ("os_id", "os_version", "os_pretty", "kernel", "wsl2", "container")}
    env.update({"root": facts["root"], "user": facts["user"]["name"]})
    env["hostname"] = os.uname().nodename if facts["root"] in ("/", "") else None
    return {"ok": summary[FAIL] == 0, "summary": summary, "environment": env, "gpus": gpus,
            "checks": [r.as_dict() for r in results]}


def run(opts):
    """Validate, gather, evaluate: the report dict. Raises UsageError for exit 2."""
    ids = validate(opts)
    facts = gather(opts, ids)
    return report(facts, evaluate(facts, ids))
