"""Verify other hosts: the checks travel as a zipapp over one SSH connection per host.

The target needs python3 and nothing else. The zipapp (``xpu_ops.zipapp``) is streamed on
ssh's stdin and run from memory by the host's python3 (``xpu_ops.zipapp.LOADER``,
``checks/stdin_boot.py``: nothing is written there) as ``--json``; the JSON report comes back on
stdout and is rendered here with the same renderers as local verify (``checks.report``). Exit
codes are local verify's: 0 ok, 1 a check failed, 2 usage or config error -- and for a single
host, 2 with one line on stderr when the host cannot be verified at all (unreachable, refused,
timed out, no python3).

    python -m xpu_ops.remote --host [user@]host[:port] [--key FILE] [verify options]
    python -m xpu_ops.remote --inventory FILE [--host NAME|GROUP|PATTERN] [--limit PATTERN] [--forks N]
                            [--timeout S] [--prometheus FILE] [verify options]

With an inventory, Ansible's own view of it (``ansible-inventory --list``, ``xpu_ops.inventory``,
cached for a static inventory file) gives each host's address, port, user, key, ssh arguments and
python interpreter. Paths given to --root,
--ca-file, --credentials-file, --python and --kernel-log are paths on the target.

More than one host is a fleet: the hosts are verified concurrently (--forks at once), each
bounded by --host-timeout (or --timeout), and ``xpu_ops.fleet`` renders one report for all of
them (table, causes, --json, --junit, --prometheus); exit 0 every host ok, 1 any host failed
or could not be verified, 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

from checks.foreign import clean, clean_tree, report_problem
from xpu_ops.inventory import Target, UsageError, inventory_targets, parse_spec  # noqa: F401
from xpu_ops.zipapp import LOADER, PYTHON_FLAGS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "xpu-ops verify"
# Exit codes of the remote wrapper below (not of the checks): they carry the reason to us.
RC_NO_PYTHON, RC_SSH = 98, 255
# On the target: find python, then run the checks from what arrives on stdin, in memory
# (xpu_ops.zipapp.LOADER and checks/stdin_boot.py): no file is written there. Environment variables,
# the user site and the current directory do not decide what python imports (PYTHON_FLAGS, LOADER).
REMOTE_SH = r"""
py=$1; shift
command -v "$py" >/dev/null 2>&1 || { echo "no $py on the host" >&2; exit 98; }
exec "$py" %s -c %s "$@"
""" % (" ".join(PYTHON_FLAGS), shlex.quote(LOADER))
SSH_BASE = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=10",
            "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR")
NO_HOST_KEY_CHECK = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null")
DEFAULT_HOST_TIMEOUT = 300.0
# What we keep of a host's answer: a report is kilobytes; a host that sends more is cut off (and its own error).
MAX_STDOUT, MAX_STDERR = 16 << 20, 1 << 20


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError("%s (see --help)" % message)


@dataclass
class Outcome:
    target: Target
    report: Optional[dict] = None
    error: Optional[str] = None      # why the host could not be verified (one line)
    kind: Optional[str] = None       # and as a word: refused, timeout, auth, host_key, no_python, error
    exit: int = EXIT_USAGE           # the host's own exit code: 0, 1, or 2
    stderr: str = ""                 # what the remote checks printed on stderr (warnings)
    seconds: float = 0.0


# ------------------------------------------------------------------------------------ running

def ssh_command(t: Target, remote_argv: list) -> list:
    """The local argv that runs remote_argv on the target (over ssh, or through sh for local)."""
    if t.connection == "local":
        return ["sh", "-c", REMOTE_SH, "xpu-ops-verify", *remote_argv]
    cmd = ["ssh", *SSH_BASE]
    if t.port:
        cmd += ["-p", str(t.port)]
    if t.key:
        cmd += ["-i", t.key, "-o", "IdentitiesOnly=yes"]
    if t.user:
        cmd += ["-l", t.user]
    cmd += [*t.ssh_args, "--", t.host]
    # ssh hands one string to the login shell of the user: quote every word for it.
    cmd.append(" ".join(shlex.quote(w) for w in ["sh", "-c", REMOTE_SH, "xpu-ops-verify", *remote_argv]))
    return cmd


def _last_line(text: str) -> str:
    lines = [x.strip() for x in (text or "").splitlines() if x.strip()]
    return lines[-1] if lines else ""


def host_key_hint(host, port=None) -> str:
    """What to do when ssh does not know (or no longer trusts) a host's key."""
    scan = "ssh-keyscan %s%s >> ~/.ssh/known_hosts" % ("-p %s " % port if port and int(port) != 22 else "",
                                                        shlex.quote(host))
    return ("the host's SSH key is not in ~/.ssh/known_hosts: check its fingerprint, then add it: %s "
            "(or ssh to it once); for a throw-away test host only, --no-host-key-check" % scan)


def _ssh_hint(line: str, t: Target) -> str:
    low = line.lower()
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return " (%s)" % host_key_hint(t.host, t.port)
    if "permission denied" in low:
        return " (check the user and --key)"
    return ""


def _ssh_kind(line: str) -> str:
    low = line.lower()
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return "host_key"
    if "permission denied" in low or "too many authentication failures" in low:
        return "auth"
    if "timed out" in low or "timeout" in low:
        return "timeout"
    return "refused"      # refused, no route, name not known, closed by the remote: the host is not there


@dataclass
class _Ran:
    returncode: int
    stdout: bytes
    stderr: bytes
    cut: str = ""                    # "stdout"/"stderr" when that stream went over its limit (the process is killed)


def _run_capped(cmd: list, payload: bytes, timeout: float, max_stdout: int = 0, max_stderr: int = 0) -> _Ran:
    """subprocess.run(cmd, input=payload, capture_output=True, timeout=timeout), keeping at most max_stdout /
    max_stderr bytes (default MAX_STDOUT / MAX_STDERR): a stream over its limit ends the process. Raises
    TimeoutExpired and OSError as run does."""
    import threading
    max_stdout, max_stderr = max_stdout or MAX_STDOUT, max_stderr or MAX_STDERR
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got, cut = {}, []

    def feed():
        try:
            p.stdin.write(payload)
            p.stdin.close()
        except OSError:                  # the process ended before reading it all
            pass

    def drain(name, stream, limit):
        chunks, n = [], 0
        while True:
            b = stream.read1(1 << 16)
            if not b:
                break
            n += len(b)
            if n > limit:
                cut.append(name)
                p.kill()
                break
            chunks.append(b)
        got[name] = b"".join(chunks)

    threads = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=drain, args=("stdout", p.stdout, max_stdout), daemon=True),
               threading.Thread(target=drain, args=("stderr", p.stderr, max_stderr), daemon=True)]
    for th in threads:
        th.start()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise
    finally:
        for th in threads:
            th.join(5)
        for f in (p.stdout, p.stderr):
            f.close()
    return _Ran(p.returncode, got.get("stdout", b""), got.get("stderr", b""), cut[0] if cut else "")


def run_target(t: Target, payload: bytes, checks_argv: list,
               timeout: float = DEFAULT_HOST_TIMEOUT) -> Outcome:
    """Run the zipapp on one target; never raises for a host-side problem (the Outcome says it)."""
    out = Outcome(target=t)
    cmd = ssh_command(t, [t.python, "--json", "--host-name", t.name, *checks_argv])
    t0 = time.monotonic()
    try:
        r = _run_capped(cmd, payload, timeout)
    except subprocess.TimeoutExpired:
        out.seconds = time.monotonic() - t0
        out.error = "no answer within %g s (raise --host-timeout?)" % timeout
        out.kind = "timeout"
        return out
    except OSError as e:
        out.error = "cannot run %s: %s" % (cmd[0], e.strerror or e)
        out.kind = "error"
        return out
    out.seconds = time.monotonic() - t0
    if r.cut:
        out.error, out.kind = "the host sent more than %d MiB on %s: cut off" % (
            (MAX_STDOUT if r.cut == "stdout" else MAX_STDERR) >> 20, r.cut), "error"
        return out
    stdout = r.stdout.decode("utf-8", "replace")
    stderr = clean(r.stderr.decode("utf-8", "replace"))    # the host's words: no terminal escapes
    last = _last_line(stderr)
    if r.returncode in (EXIT_OK, EXIT_FAILED):
        try:
            report = json.loads(stdout)
            if not isinstance(report, dict) or "checks" not in report or "ok" not in report:
                raise ValueError("not a report")
        except (ValueError, RecursionError):
            out.error = "the checks printed no JSON report (exit %d)%s" % (
                r.returncode, ": " + last if last else "")
            out.kind = "error"
            return out
        why = report_problem(report)   # a broken or hostile host: its own error, never the whole fleet's
        if why:
            out.error, out.kind = "the checks' report is not valid: %s" % clean(why), "error"
            return out
        out.report, out.exit, out.stderr = clean_tree(report), r.returncode, stderr
        return out
    out.kind = "error"
    if r.returncode == RC_SSH and t.connection == "ssh":
        out.error = "ssh: %s%s" % (last.removeprefix("ssh: ") or "connection failed", _ssh_hint(last, t))
        out.kind = _ssh_kind(last)
    elif r.returncode == RC_NO_PYTHON:
        out.kind = "no_python"
        out.error = "%s (install python3 there, or give --interpreter / ansible_python_interpreter)" % (
            last or "no python3 on the host")
    elif r.returncode == EXIT_USAGE:
        out.error = last.removeprefix(PROG + ": error: ") or "usage or config error"
    else:
        out.error = "the checks ended with exit %d%s" % (r.returncode, ": " + last if last else "")
    return out


# ------------------------------------------------------------------------------------ CLI

def parser():
    p = _Parser(prog=PROG + " --host", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", help="[user@]host[:port], or with --inventory a host, group or pattern")
    p.add_argument("--inventory", help="Ansible inventory file")
    p.add_argument("--key", help="SSH private key (overrides the inventory's)")
    p.add_argument("--no-host-key-check", action="store_true",
                   help="do not check the SSH host key (throw-away test hosts only)")
    p.add_argument("--ssh-args", default="",
                   help="more ssh arguments, one string (like ansible_ssh_extra_args)")
    p.add_argument("--host-timeout", type=float,
                   help="seconds for each host, connection included (default --timeout if given, else %d)"
                   % DEFAULT_HOST_TIMEOUT)
    p.add_argument("--interpreter", help="python on the target that runs the checks (default python3; "
                   "an inventory's ansible_python_interpreter)")
    p.add_argument("--limit", help="with --inventory: only hosts matching this Ansible pattern too")
    p.add_argument("--forks", type=int, default=8, help="hosts verified at once (default 8)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE (here, not on the host)")
    p.add_argument("--prometheus", metavar="FILE", help="also write the node_exporter textfile collector "
                   "format to FILE (atomically)")
    p.add_argument("--no-color", action="store_true", help="no colour even on a terminal")
    # Passed to the checks on the target (paths are the target's).
    for flag in ("--root", "--user", "--xpum-url", "--ca-file", "--credentials-file", "--python", "--only",
                 "--skip", "--timeout", "--torch-timeout", "--kernel-log"):
        p.add_argument(flag)
    p.add_argument("--insecure", action="store_true")
    return p


def checks_argv(a) -> list:
    argv = []
    for flag in ("root", "user", "xpum_url", "ca_file", "credentials_file", "python", "only", "skip",
                 "timeout", "torch_timeout", "kernel_log"):
        v = getattr(a, flag)
        if v is not None:
            argv += ["--" + flag.replace("_", "-"), str(v)]
    if a.insecure:
        argv.append("--insecure")
    if getattr(a, "prometheus", None):  # the textfile carries the GPUs' readings (xpu_ops.gpu_prometheus)
        argv.append("--telemetry")
    return argv


def _pattern(a):
    if a.host and a.limit:
        return "%s:&%s" % (a.host, a.limit)
    return a.limit or a.host


def host_timeout(a) -> float:
    """--host-timeout, else --timeout (it then bounds the host as a whole too), else the default."""
    t = a.host_timeout if a.host_timeout is not None else (
        float(a.timeout) if a.timeout is not None else DEFAULT_HOST_TIMEOUT)
    if t <= 0:
        raise UsageError("the host timeout must be more than 0 s")
    return t


def targets_of(a) -> list:
    if a.forks < 1:
        raise UsageError("--forks must be 1 or more")
    if a.timeout is not None:
        try:
            float(a.timeout)
        except ValueError:
            raise UsageError("--timeout %r is not a number of seconds" % a.timeout) from None
    if a.limit and not a.inventory:
        raise UsageError("--limit needs --inventory")
    if a.inventory:
        targets = inventory_targets(a.inventory, _pattern(a))
    elif a.host:
        targets = [parse_spec(a.host)]
    else:
        raise UsageError("give --host [user@]host[:port], or --inventory FILE [--host PATTERN]")
    extra = shlex.split(a.ssh_args) if a.ssh_args else []
    for t in targets:
        if a.key:
            if not os.path.isfile(a.key):
                raise UsageError("--key %s: no such file" % a.key)
            t.key = os.path.abspath(a.key)
        if a.no_host_key_check:
            t.ssh_args = [*NO_HOST_KEY_CHECK, *t.ssh_args]
        t.ssh_args += extra
        if a.interpreter:
            t.python = a.interpreter
    return targets


def verify_targets(targets, checks_args, timeout=DEFAULT_HOST_TIMEOUT, forks=8, zipapp=None,
                   on_done=None) -> list:
    """Verify every target (at most forks at once); one Outcome each, in the targets' order.

    on_done(outcome) is called (from one thread at a time) as each host finishes.
    """
    import threading
    from xpu_ops import zipapp as Z
    payload = Z.stdin_bytes(zipapp or Z.build())
    lock = threading.Lock()

    def one(t):
        o = run_target(t, payload, checks_args, timeout)
        if on_done:
            with lock:
                on_done(o)
        return o
    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(targets)))) as pool:
        return list(pool.map(one, targets))


def selected_ids(a) -> list:
    """The check ids --only/--skip select (the fleet table's columns), decided here before any host runs."""
    from checks import engine
    ids = engine.all_ids()
    only = [x.strip() for x in (a.only or "").split(",") if x.strip()]
    skip = [x.strip() for x in (a.skip or "").split(",") if x.strip()]
    unknown = [i for i in only + skip if i not in ids]
    if unknown:
        raise UsageError("unknown check id %s (known: %s)" % (", ".join(repr(u) for u in unknown), ", ".join(ids)))
    chosen = [i for i in ids if (not only or i in only) and i not in skip]
    if not chosen:
        raise UsageError("--only/--skip leave no check to run")
    return chosen


def _write_file(flag, path, text):
    from xpu_ops import fleet as F
    try:
        F.write_atomic(path, text)
    except OSError as e:
        raise UsageError("cannot write %s %s: %s" % (flag, path, e.strerror or e)) from None


def _fleet_main(a, targets) -> int:
    """Several hosts: concurrently, with progress on a terminal; one fleet report."""
    from xpu_ops import fleet as F
    ids = selected_ids(a)
    for flag, path in (("--junit", a.junit), ("--prometheus", a.prometheus)):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            raise UsageError("%s %s: no such folder %s" % (flag, path, folder))
    progress = F.Progress(len(targets))
    started = time.time()
    try:
        outcomes = verify_targets(targets, checks_argv(a), host_timeout(a), a.forks, on_done=progress)
    finally:
        progress.close()
    fleet = F.fleet_report(outcomes, ids, started, time.time())
    for o in outcomes:
        for x in o.stderr.splitlines():
            if x.strip():
                print("%s: %s" % (o.target.name, x), file=sys.stderr)
        if o.error:
            print("%s: error: %s: %s" % (PROG, o.target.label, o.error), file=sys.stderr)
    if a.junit:
        _write_file("--junit", a.junit, F.render_fleet_junit(fleet))
    if a.prometheus:
        _write_file("--prometheus", a.prometheus, F.render_prometheus(fleet))
    if a.json:
        print(json.dumps(fleet, indent=2, default=str))
    else:
        color = sys.stdout.isatty() and not a.no_color and "NO_COLOR" not in os.environ
        sys.stdout.write(F.render_fleet_text(fleet, color=color))
    return F.exit_code(fleet)


def main(argv=None) -> int:
    from checks import report as R
    try:
        a = parser().parse_args(argv)
        targets = targets_of(a)
        # A fleet: more than one host, or a whole inventory (--limit included): the shape of the report
        # does not change with how many hosts an inventory or pattern happens to hold.
        if len(targets) > 1 or (a.inventory and not a.host):
            return _fleet_main(a, targets)
        ids = selected_ids(a) if a.prometheus else None
        started = time.time()
        (o,) = verify_targets(targets, checks_argv(a), host_timeout(a), a.forks)
        if o.stderr.strip():
            sys.stderr.write(o.stderr)
        if o.error:
            print("%s: error: %s: %s" % (PROG, o.target.label, o.error), file=sys.stderr)
        if a.json and o.report is not None:
            print(json.dumps(o.report, indent=2, default=str))
        elif o.report is not None:
            color = sys.stdout.isatty() and not a.no_color and "NO_COLOR" not in os.environ
            sys.stdout.write(R.render_text(o.report, color=color, host=o.target.label))
        if a.junit and o.report is not None:
            _write_file("--junit", a.junit, R.render_junit(o.report, host=o.target.name))
        if a.prometheus:       # one host is a fleet of one for the collector
            from xpu_ops import fleet as F
            _write_file("--prometheus", a.prometheus,
                        F.render_prometheus(F.fleet_report([o], ids, started, time.time())))
    except UsageError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("%s: interrupted" % PROG, file=sys.stderr)
        return 130
    return o.exit if o.error is None else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
