"""Invoke tasks: a thin face over the checks, ansible-playbook and the HTTP service.

Each task turns options into one call; the logic lives in the `checks` package,
the roles and the playbooks, where tests reach it directly.
"""
import os
import sys

from invoke import task

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable


def _q(s):
    import shlex
    return shlex.quote(str(s))


def _parse_errors_exit_2():
    """invoke ends its own parse errors (an unknown option, a missing value, an unknown task) with exit 1, which
    for verify means "a check failed": here they are usage errors, one line and exit 2 as for every entry point.
    invoke's core parser leaves options it does not know (`invoke --bogus verify`) to the task parser, so those
    end here too. What invoke itself does before this file loads stays invoke's (exit 1): a collection it cannot
    find (`-c NAME`, run outside the checkout) or a config file it cannot read (`-f FILE`)."""
    from invoke import Exit, ParseError
    from invoke.program import Program

    def exits_2(parse):
        def wrapped(self, *args, **kwargs):
            try:
                return parse(self, *args, **kwargs)
            except ParseError as e:
                import re
                m = re.match(r"Flag <Argument: (\w+)\b.*needed value", str(e))
                why = "--%s needs a value" % m.group(1).replace("_", "-") if m else str(e)
                raise Exit("invoke: error: %s (see invoke --help TASK)" % why, code=2) from None
        wrapped.xpu_ops_exit_2 = True
        return wrapped

    for name in ("parse_tasks", "parse_cleanup"):
        if not getattr(getattr(Program, name), "xpu_ops_exit_2", False):
            setattr(Program, name, exits_2(getattr(Program, name)))


_parse_errors_exit_2()


@task(
    help={
        "root": "read /sys, /dev, /proc, /etc, /lib, /usr under this directory (default /)",
        "json": "print the report as one JSON object",
        "junit": "also write a JUnit XML report to this file",
        "user": "whose access to check (default: the invoking user)",
        "xpum_url": "XPU Manager URL (else $XPU_MANAGER_URL, else the upstream defaults)",
        "ca_file": "CA certificate to verify the XPU Manager's TLS certificate",
        "insecure": "do not verify the XPU Manager's TLS certificate",
        "credentials_file": "file with XPU Manager credentials (user:password or KEY=VALUE lines)",
        "python": "interpreter whose PyTorch to probe (default: this one)",
        "only": "comma-separated check ids to run",
        "skip": "comma-separated check ids to skip",
        "timeout": "seconds for each slow probe (HTTP, torch child); over SSH also the limit for each host",
        "host": "verify this host over SSH: [user@]host[:port], or with --inventory a name, group or pattern",
        "inventory": "Ansible inventory file of the hosts to verify over SSH",
        "key": "SSH private key for --host",
        "no_host_key_check": "do not check the SSH host key (throw-away test hosts only)",
        "limit": "with --inventory: only the hosts that also match this Ansible pattern",
        "forks": "with --inventory: hosts verified at once (default 8)",
        "host_timeout": "over SSH: seconds for each host as a whole (default --timeout if given, else 300)",
        "prometheus": "over SSH: also write node_exporter textfile collector metrics to this file (atomically)",
        "list": "list the check ids and titles, and exit",
        "torch_timeout": "seconds for the PyTorch probe (default 60)",
    },
)
def verify(c, root=None, json=False, junit=None, user=None, xpum_url=None, ca_file=None, insecure=False,
           credentials_file=None, python=None, only=None, skip=None, timeout=None, host=None, inventory=None,
           key=None, no_host_key_check=False, limit=None, forks=None, host_timeout=None, prometheus=None,
           kernel_log=None, list=False, torch_timeout=None):
    """Check this machine's (or over SSH other hosts') Intel GPU stack, say what to fix (exit 0/1/2)."""
    args = [PY, "-m", "checks"]
    if not (host or inventory) and (limit or forks or host_timeout or prometheus):
        print("xpu-ops verify: error: --limit, --forks, --host-timeout and --prometheus need --host or --inventory",
              file=sys.stderr)
        sys.exit(2)
    if host or inventory:  # xpu_ops.remote: the same checks, shipped to the host(s) as a zipapp
        args = [PY, "-m", "xpu_ops.remote"]
        for flag, val in (("--host", host), ("--inventory", inventory), ("--key", key), ("--limit", limit),
                          ("--forks", forks), ("--host-timeout", host_timeout), ("--prometheus", prometheus)):
            if val is not None:
                args += [flag, str(val)]
        if no_host_key_check:
            args.append("--no-host-key-check")
    for flag, val in (("--root", root), ("--junit", junit), ("--user", user), ("--xpum-url", xpum_url),
                      ("--ca-file", ca_file), ("--credentials-file", credentials_file),
                      ("--python", python), ("--only", only), ("--skip", skip), ("--timeout", timeout),
                      ("--kernel-log", kernel_log), ("--torch-timeout", torch_timeout)):
        if val is not None:
            args += [flag, str(val)]
    if list:
        args = [PY, "-m", "checks", "--list"]   # the checks are the same here and on every host
    if json:
        args.append("--json")
    if insecure:
        args.append("--insecure")
    r = c.run(" ".join(_q(a) for a in args), warn=True, pty=False, env={"PYTHONPATH": HERE})
    sys.exit(r.exited)


@task(help={"hosts": "also run the tests that build real test hosts (default: yes)"})
def test(c, hosts=True):
    """Run the test suite: lint, fast unit tests first, then tests on real test hosts."""
    with c.cd(HERE):
        c.run(f"{_q(PY)} -m ruff check checks xpu_ops bench tests tasks.py tools plugins")
        c.run(f"{_q(PY)} -m pytest -q -m 'not hosts'")
        if hosts:
            r = c.run(f"{_q(PY)} -m pytest -q -m hosts", warn=True)
            if r.exited not in (0, 5):  # 5 = no test collected
                sys.exit(r.exited)


_XPUM_HELP = {
    "json": "print the JSON the HTTP API answers",
    "xpum_url": "XPU Manager URL (else $XPU_MANAGER_URL, else the upstream defaults)",
    "ca_file": "CA certificate to verify the XPU Manager's TLS certificate",
    "insecure": "do not verify the XPU Manager's TLS certificate",
    "credentials_file": "file with XPU Manager credentials (user:password or KEY=VALUE lines)",
    "timeout": "seconds per XPU Manager request",
    "source": "telemetry source: auto (XPU Manager when it answers, else sysfs), xpum, sysfs",
    "root": "host tree the sysfs source reads (default /)",
}


def _xpu_ops(c, command, *args, **opts):
    """One call of `python -m xpu_ops COMMAND` (logic and exit codes live in xpu_ops.cli)."""
    cmd = [PY, "-m", "xpu_ops", command, *args]
    for name, val in opts.items():
        if val is True:
            cmd.append("--" + name.replace("_", "-"))
        elif val not in (None, False):
            cmd += ["--" + name.replace("_", "-"), str(val)]
    r = c.run(" ".join(_q(a) for a in cmd), warn=True, pty=False, env={"PYTHONPATH": HERE})
    sys.exit(r.exited)


@task(help=dict(_XPUM_HELP, python="interpreter whose PyTorch to probe (default: this one)"))
def status(c, json=False, xpum_url=None, ca_file=None, insecure=False, credentials_file=None, timeout=None,
           python=None, source=None, root=None):
    """PyTorch and every GPU's readings (exit 0; 1 no telemetry source answers; 2 usage/config error)."""
    _xpu_ops(c, "status", json=json, xpum_url=xpum_url, ca_file=ca_file, insecure=insecure,
             credentials_file=credentials_file, timeout=timeout, python=python, source=source, root=root)


@task(help=dict(_XPUM_HELP, device_id="XPU Manager's GPU id (default 0)"))
def metrics(c, device_id="0", json=False, xpum_url=None, ca_file=None, insecure=False, credentials_file=None,
            timeout=None, source=None, root=None):
    """Health and metrics of one GPU (exit 0; 1 XPU Manager unavailable; 2 no such GPU or usage/config error)."""
    _xpu_ops(c, "metrics", device_id=device_id, json=json, xpum_url=xpum_url, ca_file=ca_file,
             insecure=insecure, credentials_file=credentials_file, timeout=timeout, source=source, root=root)


@task(help={"host": "address to bind (default 127.0.0.1)", "port": "port (default 12788)",
            "log_level": "uvicorn log level (default info)", "source": _XPUM_HELP["source"],
            "root": _XPUM_HELP["root"]})
def serve(c, host="127.0.0.1", port="12788", log_level=None, source=None, root=None):
    """Run the GPU status and metrics HTTP API (uvicorn, /metrics too); XPU Manager settings from the environment."""
    _xpu_ops(c, "serve", host=host, port=port, log_level=log_level, source=source, root=root)


@task(help={"seconds": "length of the cached-polling run (default 10)"})
def bench_api(c, seconds="10"):
    """Benchmark the status API against a 1.x stand-in with 20 ms latency: concurrency and caching."""
    c.run(" ".join(_q(a) for a in (PY, os.path.join(HERE, "bench", "api_bench.py"), "--seconds", seconds)),
          pty=False, env={"PYTHONPATH": HERE})


@task(help={"runs": "interleaved runs per side (default 31)"})
def bench_telemetry(c, runs="31"):
    """Benchmark the sysfs telemetry source against XPU Manager: one status round for 1 and 8 GPUs, CPU per scrape."""
    c.run(" ".join(_q(a) for a in (PY, os.path.join(HERE, "bench", "telemetry_bench.py"), "--runs", runs)),
          pty=False, env={"PYTHONPATH": HERE})


@task(help={"runs": "runs per side (interleaved)", "url": "XPU Manager URL the shell sequence curls (/healtz)",
            "torch": "also verify with the torch probe against `import torch` (default: yes)"})
def bench(c, runs="21", url=None, torch=True):
    """Benchmark local verify against the manual shell sequence (ratio, target <= 1.5x) and against `import torch`."""
    cmd = [PY, os.path.join(HERE, "bench", "verify_bench.py"), "--runs", str(runs)]
    if url:
        cmd += ["--url", url]
    if not torch:
        cmd.append("--no-torch")
    c.run(" ".join(_q(a) for a in cmd), pty=False)


@task(help={"runs": "runs per size and side (interleaved)", "forks": "hosts at once, every side (default 8)",
            "sizes": "fleet sizes (default 1,10,50)", "phases": "also time the pieces of one host's run",
            "no_ansible": "leave out the Ansible baseline", "before": "another checkout's verify, timed side by side"})
def bench_fleet(c, runs="3", forks="8", sizes="1,10,50", phases=False, no_ansible=False, before=None):
    """Benchmark fleet verify over N loopback hosts of one test host against its floor (N x `ssh host python3 -c
    pass`) and `ansible all -m shell` (needs root)."""
    cmd = [PY, os.path.join(HERE, "bench", "fleet_bench.py"), "--runs", runs, "--forks", forks, "--sizes", sizes]
    if phases:
        cmd.append("--phases")
    if no_ansible:
        cmd.append("--no-ansible")
    if before:
        cmd += ["--before", before]
    c.run(" ".join(_q(a) for a in cmd), pty=False, env={"PYTHONPATH": HERE})


def _usage(msg):
    """A usage error: one line on stderr, exit 2 (the documented code), no traceback."""
    print(msg, file=sys.stderr)
    sys.exit(2)


def _adhoc_inventory(spec, key=None, no_host_key_check=False):
    """`[user@]host[:port]` (or `localhost`) -> INI inventory text for that one host."""
    # The spec becomes a line of an INI inventory: read it as verify --host does (xpu_ops.inventory: no
    # whitespace, so no newline can add inventory lines), and no word may start with "-" (an ssh option).
    from xpu_ops.inventory import UsageError, parse_spec
    try:
        t = parse_spec(spec)
    except UsageError as e:
        _usage(f"provision: error: {e}")
    if any(w.startswith("-") for w in (t.user or "", t.host)) or not spec.isprintable():
        _usage(f"provision: error: cannot read host {spec!r} (use [user@]host[:port], or an inventory name with "
               f"--inventory)")
    if key and not (key.isprintable() and os.path.isfile(key)):
        _usage(f"provision: error: --key {key!r}: no such file")
    host = t.host
    hv = {"ansible_host": host}
    if host in ("localhost", "127.0.0.1") and t.port is None and not t.user:
        hv = {"ansible_connection": "local"}
    else:
        if t.user:
            hv["ansible_user"] = t.user
        if t.port is not None:
            hv["ansible_port"] = t.port
        if key:
            hv["ansible_ssh_private_key_file"] = os.path.abspath(key)
        if no_host_key_check:
            hv["ansible_ssh_common_args"] = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    return "[adhoc]\n%s %s\n" % (spec, " ".join(f"{k}={_q(v)}" for k, v in hv.items()))


@task(
    help={
        "host": "inventory name/pattern (with --inventory), or [user@]host[:port] (ad-hoc), or localhost",
        "inventory": "inventory file (see inventory.example)",
        "limit": "further limit the hosts (ansible --limit)",
        "playbook": "provision (default: then verify, as site does), site, verify, uninstall or xpumanager_container",
        "no_verify": "provision only: do not run verify on the provisioned hosts afterwards",
        "container": "run XPU Manager as a container instead (playbook xpumanager_container, compose v2/podman)",
        "check": "dry run (ansible --check)",
        "diff": "show file changes (ansible --diff)",
        "tags": "only tasks with these tags (comma-separated)",
        "skip_tags": "skip tasks with these tags",
        "extra_vars": "KEY=VALUE, JSON or @file; repeatable",
        "key": "SSH private key for the host(s)",
        "become": "become root on the host (default: yes)",
        "become_user": "become this user instead of root",
        "ask_become_pass": "prompt for the become password",
        "ask_vault_pass": "prompt for the vault password (for secrets given as -e @vault-file.yml)",
        "no_host_key_check": "do not check the SSH host key (throw-away test hosts only)",
        "verbose": "ansible verbosity (-v); repeatable",
    },
    iterable=["extra_vars"],
    incrementable=["verbose"],
)
def provision(c, host=None, inventory=None, limit=None, playbook="provision", check=False, diff=False, tags=None,
              skip_tags=None, extra_vars=None, key=None, become=True, become_user=None, ask_become_pass=False,
              no_host_key_check=False, verbose=0, container=False, no_verify=False, ask_vault_pass=False):
    """Provision Intel GPU hosts with Ansible, then verify them; ends with a per-host summary.

    Exit 0: every host provisioned (and verified); 1: provisioned, but verify found failing checks
    (or could not run them) on some host; else ansible-playbook's code (a host failed to provision: 2,
    unreachable: 4, ...). --check runs no verify (nothing was provisioned).
    """
    import tempfile
    if not host and not inventory:
        _usage("provision: error: give --host H or --inventory FILE")
    if inventory and not os.path.exists(inventory):
        _usage(f"provision: error: --inventory {inventory}: no such file")
    if container:
        playbook = "xpumanager_container"
    elif playbook == "provision" and not (check or no_verify):
        playbook = "site"          # provision.yml, then verify.yml on the hosts that provisioned
    if not os.path.isfile(os.path.join(HERE, "playbooks", f"{playbook}.yml")):
        _usage(f"provision: error: --playbook {playbook}: no such playbook in playbooks/")
    args = ["ansible-playbook", os.path.join(HERE, "playbooks", f"{playbook}.yml")]
    tmp = None
    if inventory:
        args += ["-i", inventory]
        if host:
            args += ["--limit", host]
    else:
        tmp = tempfile.NamedTemporaryFile("w", prefix="xpu-ops-inventory-", suffix=".ini", delete=False)
        tmp.write(_adhoc_inventory(host, key, no_host_key_check))
        tmp.close()
        args += ["-i", tmp.name]
    if key and inventory:
        args += ["--private-key", key]
    if limit:
        args += ["--limit", limit]
    for flag, on in (("--check", check), ("--diff", diff), ("--ask-become-pass", ask_become_pass),
                     ("--ask-vault-pass", ask_vault_pass)):
        if on:
            args.append(flag)
    if tags:
        args += ["--tags", tags]
    if skip_tags:
        args += ["--skip-tags", skip_tags]
    if become_user:
        args += ["--become-user", become_user]
    args += ["-e", "xpu_ops_become=%s" % ("true" if become else "false")]
    for ev in extra_vars or []:
        args += ["-e", ev]
    if verbose:
        args.append("-" + "v" * verbose)
    env = {"ANSIBLE_CONFIG": os.path.join(HERE, "ansible.cfg"), "ANSIBLE_FORCE_COLOR": os.environ.get(
        "ANSIBLE_FORCE_COLOR", "1" if sys.stdout.isatty() else "0")}
    bindir = os.path.dirname(PY)
    env["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    summary = os.environ.get("XPU_OPS_SUMMARY_JSON")
    own_summary = None
    if not summary and playbook in ("site", "verify"):
        fd, own_summary = tempfile.mkstemp(prefix="xpu-ops-summary-", suffix=".json")
        os.close(fd)
        summary = env["XPU_OPS_SUMMARY_JSON"] = own_summary
    try:
        r = c.run(" ".join(_q(a) for a in args), warn=True, pty=False, env=env)
        code = r.exited
        if "Host key verification failed" in r.stdout + r.stderr:
            from xpu_ops.inventory import parse_spec
            from xpu_ops.remote import host_key_hint
            t = parse_spec(host) if tmp else None
            print("xpu-ops: " + host_key_hint(t.host if t else "HOST", t.port if t else None), file=sys.stderr)
        if code and playbook in ("site", "verify"):
            code = _verify_exit(summary, code)
    finally:
        for path in (tmp and tmp.name, own_summary):
            if path and os.path.exists(path):
                os.unlink(path)
    sys.exit(code)


def _verify_exit(summary_path, code):
    """1 when every failed host got as far as verify (provisioned, checks fail), else ansible's code."""
    import json
    try:
        with open(summary_path) as f:
            hosts = json.load(f).get("hosts", {})
    except (OSError, ValueError):
        return code
    failed = {h: e for h, e in hosts.items() if e["stats"].get("failures") or e["stats"].get("unreachable")}
    if not failed or any(e["stats"].get("unreachable") or "verify" not in e.get("roles", {})
                         for e in failed.values()):
        return code
    print("xpu-ops: provisioned; verify found failing checks on %s (exit 1)" % ", ".join(sorted(failed)),
          file=sys.stderr)
    return 1


@task(help={"output": "where to write it (default: docker-compose.xpu-monitor.yml at the repository root)",
            "extra_vars": "KEY=VALUE, JSON or @file for the role (e.g. xpumanager_container_line=2); repeatable"},
      iterable=["extra_vars"])
def render_compose(c, output=None, extra_vars=None):
    """Write the standalone docker-compose.xpu-monitor.yml from the xpumanager_container role's template."""
    out = os.path.abspath(output or os.path.join(HERE, "docker-compose.xpu-monitor.yml"))
    args = ["ansible-playbook", os.path.join(HERE, "playbooks", "xpumanager_container.yml"), "-i", "localhost,",
            "-c", "local", "-e", "ansible_python_interpreter=" + PY, "-e", "xpu_ops_become=false",
            "-e", "xpumanager_container_render_to=" + out]
    for ev in extra_vars or []:
        args += ["-e", ev]
    env = {"ANSIBLE_CONFIG": os.path.join(HERE, "ansible.cfg"),
           "PATH": os.path.dirname(PY) + os.pathsep + os.environ.get("PATH", "")}
    r = c.run(" ".join(_q(a) for a in args), warn=True, hide="out", pty=False, env=env)
    if r.exited:
        print(r.stdout[-4000:], file=sys.stderr)
        sys.exit(r.exited)
    print(out)


# ---------------------------------------------------------------- operate through XPU Manager (issue #13)

_TARGET_HELP = {
    "host": "[user@]host[:port] over SSH (with --inventory: a name, group or pattern); default: this machine",
    "inventory": "Ansible inventory file of the hosts",
    "key": "SSH private key",
    "no_host_key_check": "do not check the SSH host key (throw-away test hosts only)",
}


def _module(c, module, args):
    r = c.run(" ".join(_q(a) for a in [PY, "-m", module, *args]), warn=True, pty=False, env={"PYTHONPATH": HERE})
    sys.exit(r.exited)


def _target_args(host, inventory, key, no_host_key_check):
    args = []
    for flag, val in (("--host", host), ("--inventory", inventory), ("--key", key)):
        if val is not None:
            args += [flag, str(val)]
    return args + (["--no-host-key-check"] if no_host_key_check else [])


@task(help=dict(_TARGET_HELP, level="1 quick, 2 medium (adds PyTorch/PCIe tests), 3 long (XPU Manager only)",
                json="print JSON", junit="also write JUnit XML to this file",
                python="interpreter (on the host) whose PyTorch to test", timeout="seconds for each GPU's test",
                xpum_url="without xpu-smi: XPU Manager 1.x REST URL (as the host reaches it)",
                credentials_file="XPU Manager credentials file (on the host)",
                ca_file="CA certificate for XPU Manager's TLS (on the host)",
                insecure="do not verify XPU Manager's TLS certificate"))
def diag(c, level="1", host=None, inventory=None, key=None, no_host_key_check=False, json=False, junit=None,
         python=None, timeout=None, xpum_url=None, credentials_file=None, ca_file=None, insecure=False):
    """GPU diagnostics: xpu-smi diag (or XPU Manager REST) on each GPU, else verify + a PyTorch test (exit 0/1/2)."""
    args = ["--level", str(level)] + _target_args(host, inventory, key, no_host_key_check)
    for flag, val in (("--junit", junit), ("--python", python), ("--timeout", timeout), ("--xpum-url", xpum_url),
                      ("--credentials-file", credentials_file), ("--ca-file", ca_file)):
        if val is not None:
            args += [flag, str(val)]
    _module(c, "xpu_ops.diag", args + (["--json"] if json else []) + (["--insecure"] if insecure else []))


@task(help=dict(_TARGET_HELP, output="the archive to write (FILE.tar.gz, mode 0600)",
                redact="replace host and user names in the archive"))
def bundle(c, output=None, host=None, inventory=None, key=None, no_host_key_check=False, redact=False):
    """One support archive of a host's GPU stack to attach to an issue (no secrets; --redact for names)."""
    if not output:
        _usage("xpu-ops bundle: error: give --output FILE.tar.gz")
    _module(c, "xpu_ops.bundle", ["--output", output] + _target_args(host, inventory, key, no_host_key_check)
            + (["--redact"] if redact else []))


@task(help=dict(_TARGET_HELP, check="show what would change, change nothing", diff="show before/after",
                extra_vars="KEY=VALUE, JSON or @file with the gpu_config_* settings; repeatable",
                limit="further limit the hosts"), iterable=["extra_vars"])
def configure(c, host=None, inventory=None, key=None, no_host_key_check=False, check=False, diff=False,
              extra_vars=None, limit=None):
    """Bring GPU settings (power, frequency, standby, scheduler, ECC) to the role gpu_config's variables."""
    if not host and not inventory:
        _usage("xpu-ops configure: error: give --host H or --inventory FILE")
    provision(c, host=host, inventory=inventory, key=key, no_host_key_check=no_host_key_check, check=check,
              diff=diff, extra_vars=extra_vars, limit=limit, playbook="configure")


@task(help=dict(_TARGET_HELP, image="the firmware image (on this machine)", type="GFX (default), GFX_DATA or AMC",
                yes="do not ask for confirmation", limit="further limit the hosts"))
def firmware(c, image=None, host=None, inventory=None, key=None, no_host_key_check=False, type="GFX", yes=False,
             limit=None):
    """Guarded firmware update, one host at a time: health OK and GPUs idle, current -> new, confirm, verify."""
    import json as _json
    if not image:
        _usage("xpu-ops firmware: error: give --image FILE")
    if not os.path.isfile(image) or not os.access(image, os.R_OK):
        _usage("xpu-ops firmware: error: --image %s: %s" % (
            image, "not readable" if os.path.exists(image) else "no such file"))
    if type not in ("GFX", "GFX_DATA", "AMC"):
        _usage("xpu-ops firmware: error: --type %s: use GFX, GFX_DATA or AMC" % type)
    if not host and not inventory:
        _usage("xpu-ops firmware: error: give --host H or --inventory FILE")
    if not yes and not sys.stdin.isatty():
        _usage("xpu-ops firmware: error: no terminal to confirm on: run it from a terminal, or give --yes")
    ev = {"xpu_ops_firmware_image": os.path.abspath(image), "xpu_ops_firmware_type": type}

    def run(plan_only):
        try:
            provision(c, host=host, inventory=inventory, key=key, no_host_key_check=no_host_key_check, limit=limit,
                      extra_vars=[_json.dumps(dict(ev, xpu_ops_firmware_plan_only=plan_only))], playbook="firmware")
        except SystemExit as e:          # provision ends with sys.exit(ansible-playbook's code)
            return e.code or 0
        return 0
    if not yes:                          # the checks and current -> new versions of every host, then one question
        code = run(True)
        if code:
            sys.exit(code)
        try:
            answer = input("Update the %s firmware on these hosts, one at a time? Type yes: " % type)
        except EOFError:
            answer = ""
        if answer.strip().lower() != "yes":
            print("xpu-ops firmware: not confirmed: nothing was changed", file=sys.stderr)
            sys.exit(1)
    sys.exit(run(False))
