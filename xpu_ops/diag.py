"""`invoke diag --level 1|2|3 [--host H | --inventory FILE]`: GPU diagnostics here or on hosts over SSH.

The diagnostics themselves are ``checks.diag`` (target side); over SSH it runs from the checks zipapp on
stdin and its JSON comes back. Text per host, --json (one host: its report; several: {"hosts": {name:
report}}), --junit FILE (one testsuite per host). Exit 0 every test passed, 1 a test failed or a host could
not be diagnosed, 2 usage error (and, for one host, a host that cannot be reached).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from checks import diag as D
from xpu_ops import hostrun

PROG = D.PROG


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise hostrun.UsageError("%s (see --help)" % message)


def parser():
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--level", type=int, default=1, help="1 quick, 2 medium, 3 long (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE (here)")
    p.add_argument("--python", help="interpreter on the host whose PyTorch to test")
    p.add_argument("--timeout", type=float, help="seconds for each GPU's xpu-smi diag")
    p.add_argument("--xpum-url", help="without xpu-smi: XPU Manager 1.x REST URL, as the host reaches it")
    p.add_argument("--credentials-file", help="XPU Manager credentials file (on the host)")
    p.add_argument("--ca-file", help="CA certificate for XPU Manager's TLS (on the host)")
    p.add_argument("--insecure", action="store_true", help="do not verify XPU Manager's TLS certificate")
    hostrun.add_target_options(p)
    return p


def _junit(reports):
    import xml.etree.ElementTree as ET
    from checks import report as R
    suites = ET.Element("testsuites")
    for host, rep in reports.items():
        suites.extend(ET.fromstring(R.render_junit(rep, host=host, suite="xpu-ops diag level %s" % rep.get("level"))
                                    .split("?>", 1)[1]))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def main(argv=None) -> int:
    try:
        a = parser().parse_args(argv)
        if a.level not in (1, 2, 3):
            raise hostrun.UsageError("--level must be 1, 2 or 3 (got %s)" % a.level)
        if a.junit and not os.path.isdir(os.path.dirname(os.path.abspath(a.junit))):
            raise hostrun.UsageError("--junit %s: no such folder" % a.junit)
        passed = ["--level", str(a.level)] + (["--insecure"] if a.insecure else [])
        for flag, v in (("--python", a.python), ("--timeout", a.timeout), ("--xpum-url", a.xpum_url),
                        ("--credentials-file", a.credentials_file), ("--ca-file", a.ca_file)):
            if v is not None:
                passed += [flag, str(v)]
        if not (a.host or a.inventory):
            return D.main(passed + (["--json"] if a.json else []) + (["--junit", a.junit] if a.junit else []))
        tgts = hostrun.targets(a)
        argv_t = ["diag", "--json"] + passed
        runs = hostrun.run_all(tgts, argv_t, a.host_timeout, a.forks)
    except hostrun.UsageError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 2
    reports, code = {}, 0
    for r in runs:
        t = r.target
        rep = None
        if r.error is None and r.code in (0, 1):
            try:
                rep = json.loads(r.stdout)
            except ValueError:
                r.error = "no JSON report came back (exit %d)" % r.code
        elif r.error is None:
            r.error = remote_last(r) or "exit %d" % r.code
        if rep is None:
            print("%s: error: %s: %s" % (PROG, t.label, r.error), file=sys.stderr)
            code = 2 if len(runs) == 1 else 1
            continue
        reports[t.name] = rep
        code = max(code, 0 if rep["ok"] else 1)
        if not a.json:
            sys.stdout.write(D.render_text(rep, host=t.label))
    if a.json and (reports or len(runs) > 1):
        print(json.dumps(next(iter(reports.values())) if len(runs) == 1 and reports else {"hosts": reports},
                         indent=2))
    if a.junit and reports:
        with open(a.junit, "w") as f:
            f.write(_junit(reports))
    return code


def remote_last(r):
    lines = [x.strip() for x in r.stderr.splitlines() if x.strip()]
    return lines[-1].removeprefix(PROG + ": error: ") if lines else ""


if __name__ == "__main__":
    sys.exit(main())
