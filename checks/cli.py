"""`python -m checks` / `invoke verify`: exit 0 ok, 1 a check failed, 2 usage or config error."""
import os
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Usage(Exception):
    pass


def _ids(text):
    return [x.strip() for x in (text or "").split(",") if x.strip()]


# The options, once: argparse (help, errors) and the plain-input fast path below both read this table.
OPTIONS = (
    ("--root", dict(default="/", help="read /sys, /dev, /proc, /etc, /lib, /usr under DIR (default /)")),
    ("--json", dict(action="store_true", help="print one JSON object (schema in README)")),
    ("--junit", dict(metavar="FILE", help="also write JUnit XML to FILE")),
    ("--user", dict(help="whose render-node access to check (default: the invoking user)")),
    ("--xpum-url", dict(help="XPU Manager URL (else $XPU_MANAGER_URL, else the upstream defaults)")),
    ("--ca-file", dict(help="CA certificate for XPU Manager's TLS (1.x uses a self-signed one; "
                       "else $XPU_MANAGER_CA_FILE)")),
    ("--insecure", dict(action="store_true", default=None,
                        help="do not verify XPU Manager's TLS certificate (else $XPU_MANAGER_INSECURE)")),
    ("--credentials-file", dict(help="XPU Manager credentials: 'user:password' or KEY=VALUE lines "
                                "(else $XPU_MANAGER_CREDENTIALS_FILE, else $XPU_MANAGER_USER/$XPU_MANAGER_PASSWORD)")),
    ("--python", dict(help="interpreter whose PyTorch to probe (default: the active VIRTUAL_ENV's, else python3 "
                      "on PATH)")),
    ("--only", dict(type=_ids, help="comma-separated check ids to run")),
    ("--skip", dict(type=_ids, default=[], help="comma-separated check ids to skip")),
    ("--timeout", dict(help="seconds per XPU Manager request (else $XPU_MANAGER_TIMEOUT, else 3)")),
    ("--torch-timeout", dict(type=float, default=60.0, help="seconds for the PyTorch probe (default 60)")),
    ("--host-name", dict(help="this host's name on the control host, used in remedies (default localhost)")),
    ("--no-color", dict(action="store_true", help="no colour even on a terminal")),
    ("--telemetry", dict(action="store_true", help="also put the GPUs' readings from sysfs (hwmon, GT frequency, "
                         "DRM fdinfo) into the JSON report's \"telemetry\"")),
    ("--list", dict(action="store_true", help="list the check ids and exit")),
    ("--kernel-log", dict(metavar="FILE", help="read this saved kernel log (dmesg, journalctl -k) instead of this "
                          "host's")),
    ("--facts", dict(action="store_true", help="print the host facts the Ansible roles decide on (JSON) and exit; "
                     "honours --root")),
    ("--facts-state", dict(metavar="JSON", help="with --facts: also read the state the roles manage, as "
                           "{\"users\": [...], \"groups\": [...], \"files\": [...], \"dpkg\": true}")),
)


def parser():
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message):
            raise _Usage(message)

    p = _Parser(prog="xpu-ops verify", description="Check this host's Intel GPU stack and say what to fix.")
    for flag, kw in OPTIONS:
        p.add_argument(flag, **kw)
    return p


class _Args:
    def __init__(self, values):
        self.__dict__.update(values)


def _facts(root, query=None):
    import json

    from checks import role_facts
    from checks.root import HostRoot
    if not os.path.isdir(root):
        print("xpu-ops verify: error: --root %s: no such directory" % root, file=sys.stderr)
        return EXIT_USAGE
    if query is not None:
        try:
            query = json.loads(query)
        except ValueError:
            query = None
        if not isinstance(query, dict):
            print("xpu-ops verify: error: --facts-state: not a JSON object", file=sys.stderr)
            return EXIT_USAGE
    print(json.dumps(role_facts.gather(HostRoot(root), query), sort_keys=True, default=str))
    return EXIT_OK


def fast_parse(argv):
    """The options of plain input (exact long options, `--opt value` or `--opt=value`, no value starting
    with '-'), as argparse reads them; None for anything else (help, abbreviations, errors), which argparse
    then decides. Spares an interpreter start argparse's import and set-up (a few ms of a ~35 ms run)."""
    spec = dict(OPTIONS)
    values = {f[2:].replace("-", "_"): kw.get("default", False if kw.get("action") else None) for f, kw in OPTIONS}
    args = list(argv)
    while args:
        flag, eq, value = args.pop(0).partition("=")
        kw = spec.get(flag)
        if kw is None:
            return None
        if kw.get("action") == "store_true":
            if eq:
                return None
            values[flag[2:].replace("-", "_")] = True
            continue
        if not eq:
            if not args:
                return None
            value = args.pop(0)
        if value.startswith("-"):
            return None
        try:
            values[flag[2:].replace("-", "_")] = kw.get("type", str)(value)
        except (TypeError, ValueError):
            return None
    return _Args(values)


def main(argv=None):
    from checks import engine, report as R
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("diag", "bundle"):  # the operate commands (checks/diag.py, checks/bundle.py)
        import importlib
        return importlib.import_module("checks." + argv[0]).main(argv[1:])
    try:
        a = fast_parse(argv) or parser().parse_args(argv)
    except _Usage as e:
        print("xpu-ops verify: error: %s (see --help)" % e, file=sys.stderr)
        return EXIT_USAGE
    if a.facts:
        return _facts(a.root, a.facts_state)
    if a.list:
        for c in engine.REGISTRY.values():
            print("%-14s %s" % (c.id, c.title))
        return EXIT_OK
    opts = engine.Options(root=a.root, user=a.user, xpum_url=a.xpum_url, ca_file=a.ca_file, insecure=a.insecure,
                          credentials_file=a.credentials_file, python=a.python, only=a.only, skip=a.skip,
                          timeout=a.timeout, torch_timeout=a.torch_timeout,
                          host_name=a.host_name, kernel_log=a.kernel_log)
    try:
        rep = engine.run(opts)
        if a.telemetry:
            from checks.telemetry.sampler import telemetry_report
            rep["telemetry"] = telemetry_report(a.root)
    except engine.UsageError as e:
        print("xpu-ops verify: error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xpu-ops verify: interrupted", file=sys.stderr)
        return 130
    from checks.foreign import clean_tree
    rep = clean_tree(rep)     # names and text from the host: no terminal escapes, no undecodable bytes
    if a.junit:
        try:
            R.write_atomic(a.junit, R.render_junit(rep))
        except OSError as e:
            print("xpu-ops verify: error: cannot write --junit %s: %s" % (a.junit, e.strerror), file=sys.stderr)
            return EXIT_USAGE
    if a.json:
        import json
        print(json.dumps(rep, indent=2, sort_keys=False, default=str))
    else:
        color = sys.stdout.isatty() and not a.no_color and "NO_COLOR" not in os.environ
        sys.stdout.write(R.render_text(rep, color=color))
    return EXIT_OK if rep["ok"] else EXIT_FAILED
