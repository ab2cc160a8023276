"""`invoke bundle [--host H] --output FILE.tar.gz [--redact]`: the support archive of this host or another.

The archive is made on the host by ``checks.bundle`` (over SSH from the checks zipapp on stdin; the archive
comes back on stdout and nothing is left on the host) and written here with mode 0600. Exit 0 written,
2 usage error or the host could not make it (one line on stderr).
"""
from __future__ import annotations

import argparse
import os
import sys

from xpu_ops import hostrun

PROG = "xpu-ops bundle"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise hostrun.UsageError("%s (see --help)" % message)


def parser():
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--output", required=True, help="where to write the archive (FILE.tar.gz)")
    p.add_argument("--redact", action="store_true", help="replace host and user names in the archive")
    p.add_argument("--python", help="interpreter on the host whose PyTorch to probe")
    hostrun.add_target_options(p)
    return p


def write_private(path, data):
    """Write data to path, readable by its owner only, through a temp name (no half-written archive)."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv=None) -> int:
    try:
        a = parser().parse_args(argv)
        out = os.path.abspath(a.output)
        if not os.path.isdir(os.path.dirname(out)):
            raise hostrun.UsageError("--output %s: no such folder" % a.output)
        if a.inventory and not a.host:
            raise hostrun.UsageError("a bundle is of one host: give --host NAME with --inventory")
        args = ["bundle"] + (["--redact"] if a.redact else []) + (["--python", a.python] if a.python else [])
        if not (a.host or a.inventory):
            from checks import bundle
            code = bundle.main(args[1:] + ["--output", out])
            if code == 0:
                print("%s: %s (%d kB)" % (PROG, a.output, (os.path.getsize(out) + 1023) // 1024))
            return code
        tgts = hostrun.targets(a)
        if len(tgts) != 1:
            raise hostrun.UsageError("--host %s names %d hosts; a bundle is of one host" % (a.host, len(tgts)))
    except hostrun.UsageError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return 2
    (r,) = hostrun.run_all(tgts, args, a.host_timeout)
    if r.error or r.code != 0 or not r.stdout.startswith(b"\x1f\x8b"):
        last = [x for x in r.stderr.splitlines() if x.strip()]
        print("%s: error: %s: %s" % (PROG, tgts[0].label, r.error or (last[-1] if last else "exit %d" % r.code)),
              file=sys.stderr)
        return 2
    write_private(out, r.stdout)
    print("%s: %s (%d kB, %.1f s)" % (PROG, a.output, (len(r.stdout) + 1023) // 1024, r.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
