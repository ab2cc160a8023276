"""Stand-ins for what bin/setup calls on a fresh Debian machine: dpkg-query (nothing installed), apt-get and
sudo (record their argv), and a python3 whose `-m venv DIR` makes DIR/bin/python (the same stand-in) and whose
`-m pip` / `-m compileall` record their argv. Every call is one line in the log: the program, then its argv.
Written for bin/setup's own calls (`dpkg-query -W -f=... PKG`, `apt-get update|install ...`, `PY -m venv .venv`,
`.venv/bin/python -m pip install ...`)."""
import os
import stat
from pathlib import Path

_LOG = 'printf "%%s" "%s" >> "$STANDIN_LOG"; for a in "$@"; do printf " %%s" "$a" >> "$STANDIN_LOG"; done; ' \
       'echo >> "$STANDIN_LOG"\n'

SCRIPTS = {
    "dpkg-query": "#!/bin/sh\n" + _LOG % "dpkg-query" + "exit 1\n",          # no package installed
    "apt-get": "#!/bin/sh\n" + _LOG % "apt-get" + "exit 0\n",
    "sudo": "#!/bin/sh\n" + _LOG % "sudo" + 'exec "$@"\n',
    "python3": "#!/bin/sh\n" + _LOG % "python" + (
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi\nexit 0\n'),
}


def install(bindir: Path, log: Path) -> dict:
    """Write the stand-ins into bindir; returns the environment that puts them first on PATH."""
    bindir.mkdir(parents=True, exist_ok=True)
    for name, text in SCRIPTS.items():
        p = bindir / name
        p.write_text(text)
        p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), STANDIN_LOG=str(log),
                PYTHON=str(bindir / "python3"))
