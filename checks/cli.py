"""`python -m checks` / `invoke verify`: exit 0 ok, 1 a check failed, 2 usage or config error."""
import argparse
import json
import os
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(message)


class _Usage(Exception):
    pass


def _ids(text):
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def parser():
    p = _Parser(prog="xpu-ops verify", description="Check this host's Intel GPU stack and say what to fix.")
    p.add_argument("--root", default="/", help="read /sys, /dev, /proc, /etc, /lib, /usr under DIR (default /)")
    p.add_argument("--json", action="store_true", help="print one JSON object (schema in README)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    p.add_argument("--user", help="whose render-node access to check (default: the invoking user)")
    p.add_argument("--xpum-url", help="XPU Manager URL (else $XPU_MANAGER_URL, else the upstream defaults)")
    p.add_argument("--ca-file", help="CA certificate for XPU Manager's TLS (1.x uses a self-signed one; "
                   "else $XPU_MANAGER_CA_FILE)")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="do not verify XPU Manager's TLS certificate (else $XPU_MANAGER_INSECURE)")
    p.add_argument("--credentials-file", help="XPU Manager credentials: 'user:password' or KEY=VALUE lines "
                   "(else $XPU_MANAGER_CREDENTIALS_FILE, else $XPU_MANAGER_USER/$XPU_MANAGER_PASSWORD)")
    p.add_argument("--python", default=sys.executable, help="interpreter whose PyTorch to probe")
    p.add_argument("--only", type=_ids, help="comma-separated check ids to run")
    p.add_argument("--skip", type=_ids, default=[], help="comma-separated check ids to skip")
    p.add_argument("--timeout", help="seconds per XPU Manager request (else $XPU_MANAGER_TIMEOUT, else 3)")
    p.add_argument("--torch-timeout", type=float, default=60.0, help="seconds for the PyTorch probe (default 60)")
    p.add_argument("--host-name", help="this host's name on the control host, used in remedies (default localhost)")
    p.add_argument("--no-color", action="store_true", help="no colour even on a terminal")
    p.add_argument("--list", action="store_true", help="list the check ids and exit")
    return p


def main(argv=None):
    from checks import engine, report as R
    try:
        a = parser().parse_args(argv)
    except _Usage as e:
        print("xpu-ops verify: error: %s (see --help)" % e, file=sys.stderr)
        return EXIT_USAGE
    if a.list:
        engine.all_ids()
        for cid, (_, title, _layer) in engine.REGISTRY.items():
            print("%-14s %s" % (cid, title))
        return EXIT_OK
    opts = engine.Options(root=a.root, user=a.user, xpum_url=a.xpum_url, ca_file=a.ca_file, insecure=a.insecure,
                          credentials_file=a.credentials_file, python=a.python, only=a.only, skip=a.skip,
                          timeout=a.timeout, torch_timeout=a.torch_timeout,
                          host_name=a.host_name)
    try:
        rep = engine.run(opts)
    except engine.UsageError as e:
        print("xpu-ops verify: error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xpu-ops verify: interrupted", file=sys.stderr)
        return 130
    if a.junit:
        try:
            with open(a.junit, "w") as f:
                f.write(R.render_junit(rep))
        except OSError as e:
            print("xpu-ops verify: error: cannot write --junit %s: %s" % (a.junit, e.strerror), file=sys.stderr)
            return EXIT_USAGE
    if a.json:
        print(json.dumps(rep, indent=2, sort_keys=False, default=str))
    else:
        color = sys.stdout.isatty() and not a.no_color and "NO_COLOR" not in os.environ
        sys.stdout.write(R.render_text(rep, color=color))
    return EXIT_OK if rep["ok"] else EXIT_FAILED
