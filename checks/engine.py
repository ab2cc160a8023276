"""One way through: gather facts -> evaluate checks -> a report dict (rendered by checks.report)."""
import os

from checks import facts as F
from checks.result import FAIL, PASS, SKIP, WARN, Result  # noqa: F401
from checks.root import HostRoot
from checks.rules import REGISTRY  # importing checks.rules registers the checks


def all_ids():
    return list(REGISTRY)


class Options:
    """What the person asked for (the CLI flags), with the defaults of `python -m checks`."""

    def __init__(self, root="/", user=None, xpum_url=None, ca_file=None, insecure=None, credentials_file=None,
                 python=None, only=None, skip=None, timeout=None, torch_timeout=60.0, env=None,
                 host_name=None, kernel_log=None):
        self.root, self.user, self.xpum_url, self.ca_file = root, user, xpum_url, ca_file
        self.insecure, self.credentials_file = insecure, credentials_file
        self.python = python  # None: the PyTorch the user runs (checks.torch_run.find_python)
        self.only, self.skip = only, list(skip or [])
        self.timeout, self.torch_timeout = timeout, torch_timeout
        self.env = dict(os.environ) if env is None else env
        self.host_name = host_name
        self.kernel_log = kernel_log  # a saved dmesg / journalctl -k to read instead of this host's
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
    if opts.kernel_log and not os.path.isfile(opts.kernel_log):
        raise UsageError("--kernel-log %s: %s" % (opts.kernel_log, "not a file" if os.path.exists(opts.kernel_log)
                                                  else "no such file"))
    if opts.kernel_log and not os.access(opts.kernel_log, os.R_OK):
        raise UsageError("--kernel-log %s: not readable" % opts.kernel_log)
    if opts.torch_timeout <= 0:
        raise UsageError("--torch-timeout must be > 0")
    if opts.timeout is not None:
        from checks import xpum
        try:
            opts.timeout = xpum.settings.parse_seconds(opts.timeout, "--timeout %s" % opts.timeout)
        except xpum.XpumError as e:
            raise UsageError(str(e)) from None
    ids = selected(opts)
    need = needed_facts(ids)
    if "torch" in need and opts.python:
        py = opts.python
        if os.sep not in py:
            import shutil
            py = shutil.which(py) or py
        if not (os.path.isfile(py) and os.access(py, os.X_OK)):
            raise UsageError("--python %s: no such executable" % opts.python)
    if "xpum" in need:
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


# ---------------------------------------------------------------- facts, by name
# Each takes (opts, root, facts so far). The slow ones (a thread, a child process) return a handle at once
# and are joined, with .result(), after the others are read.


def _platform(opts, root, facts):
    p = F.platform_facts(root)
    p["_root"] = root.base
    return p


def _gpus(facts):
    return facts["pci"].get("gpus", [])


def _user(opts, root, facts):
    try:
        return F.user_facts(root, opts.user)
    except F.FactError as e:
        raise UsageError(str(e)) from None


def _start_xpum(opts, root, facts):
    from checks import xpum
    return F.Background(xpum.gather, settings=opts.xpum or _xpum_settings(opts))


def _services(opts, root, facts):
    wait = min(opts.xpum.timeout if opts.xpum else opts.timeout or 3.0, 2.0)
    from checks.presence import service_facts
    return service_facts(root, timeout=wait, env=opts.env)


class _Torch:
    """The torch probe's child, of the interpreter the user runs; .result() adds how it was found and whether it
    is this very interpreter."""

    def __init__(self, opts):
        from checks.torch_run import TorchProbe, find_python
        self.python, self.found_by, self.looked = find_python(opts.python, opts.env)
        self.probe = TorchProbe(self.python, opts.torch_timeout, opts.env) if self.python else None

    def result(self):
        from checks.torch_run import _is_this_interpreter
        if self.probe is None:
            return {"python": None, "outcome": "none", "found_by": None, "looked": self.looked}
        out = self.probe.result()
        out.update(found_by=self.found_by, looked=self.looked, self=_is_this_interpreter(self.python))
        return out


def _wsl(opts, root, facts):
    if not facts["platform"]["wsl2"]:
        return {}              # every WSL2 check skips: nothing read, nothing imported
    from checks import wsl
    return wsl.wsl_facts(root, opts.env)


# name -> (function, the facts it reads first, slow). Gathered in this order, slow ones started first.
FACTS = {
    "xpum": (_start_xpum, (), True),
    "torch": (lambda opts, root, facts: _Torch(opts), (), True),
    "platform": (_platform, (), False),
    "pci": (lambda opts, root, facts: F.pci_facts(root), (), False),
    "modules": (lambda opts, root, facts: F.module_facts(root), (), False),
    "drm": (lambda opts, root, facts: F.drm_facts(root, _gpus(facts)), ("pci",), False),
    "user": (_user, (), False),
    "firmware": (lambda opts, root, facts: F.firmware_facts(root, {g["family"] for g in _gpus(facts)
                                                                    if g.get("family")}), ("pci",), False),
    "userspace": (lambda opts, root, facts: F.userspace_facts(root), (), False),
    "services": (_services, (), False),
    "wsl": (_wsl, ("platform",), False),
    "levelzero": (lambda opts, root, facts: _levelzero(opts, root, facts), ("pci",), False),
    "kernel_log": (lambda opts, root, facts: _kernel_log(opts, root, facts), ("pci",), False),
}


def _kernel_log(opts, root, facts):
    from checks.kernel_log import kernel_log_facts
    out = kernel_log_facts(root, _gpus(facts), opts.kernel_log)
    out["given"] = bool(opts.kernel_log)
    return out


def _levelzero(opts, root, facts):
    if not _gpus(facts) and root.is_real:
        return {"skipped": "no Intel GPU (see pci.gpu)"}  # nothing for Level Zero to find: no child, no import
    from checks import levelzero_run
    return levelzero_run.start(opts, root, facts)
REPORT_NEEDS = ("platform", "pci", "drm", "user")  # the report's environment and gpus sections


def needed_facts(ids):
    """The facts the checks `ids` and the report read, with what those facts read first, in FACTS order."""
    want = set(REPORT_NEEDS)
    for cid in ids:
        want.update(REGISTRY[cid].needs)
    for name in list(want):
        want.update(FACTS[name][1])
    return [name for name in FACTS if name in want]


def gather(opts, ids):
    """Read the host once: exactly the facts the selected checks need. Slow probes run while sysfs is read."""
    root = HostRoot(opts.root)
    facts = {"root": opts.root, "host_name": opts.host_name}
    names = needed_facts(ids)
    slow = {name: FACTS[name][0](opts, root, facts) for name in names if FACTS[name][2]}
    for name in names:
        if not FACTS[name][2]:
            facts[name] = FACTS[name][0](opts, root, facts)
    for name, handle in slow.items():
        facts[name] = handle.result()
    return facts


def evaluate(facts, ids):
    results = []
    for cid in ids:
        c = REGISTRY[cid]
        try:
            status, detail, remedy, evidence = c.fn(facts)
        except Exception as e:  # a bug in one check must not hide the others
            status, detail, remedy, evidence = (FAIL, "internal error in check %s: %s: %s" % (
                cid, type(e).__name__, e), "report this as an xpu-ops bug with the --json output", {})
        results.append(Result(cid, status, c.title, detail, remedy, evidence, c.layer))
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
