"""`python -m checks bundle [--output FILE] [--redact]`: one support archive (tar.gz) of this host's GPU stack.

What goes in (each member a text file; a command's file starts with the command and its exit code):
verify.json (verify's report), torch-probe.json, kernel-gpu.log (the kernel log since boot: GPU lines with two
lines of context), lspci/<bdf>.txt (`lspci -vvv` of each GPU and its upstream ports), sysfs.txt (the PCI and DRM
attributes verify reads), dkms-status.txt, modinfo-i915.txt / modinfo-xe.txt, packages.txt (Intel GPU packages),
clinfo.txt, sycl-ls.txt, xpu-smi-discovery.json (when present), commands.txt (what ran, how long, exit codes).

No secret goes in: nothing is read from /etc except what verify reads, no environment is written, and every
member passes `scrub` (passwords, tokens, keys, Basic auth, URL credentials, PEM keys, and the values of this
process's secret-named environment variables). --redact also replaces this host's names and its users' names.
Without --output the archive goes to stdout (how xpu_ops.bundle fetches it over SSH).
"""
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import time

PROG = "xpu-ops bundle"
GPU_LINE = re.compile(r"i915|\bxe\b|\[drm|drm:|\bgpu\b|guc|huc|\bdmc\b|gsc|intel_vsec|pmt|level.?zero|mei_",
                      re.IGNORECASE)
SECRET_ENV = re.compile(r"PASS|TOKEN|SECRET|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
SCRUB = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
     "[private key removed]"),
    (re.compile(r"(?i)\b(authorization\s*:\s*(?:basic|bearer|token))\s+\S+"), r"\1 [removed]"),
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1[removed]@"),
    (re.compile(r"(?i)\b([\w.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key|"
                r"salt|credentials?))\b(\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|\S+)"), r"\1\2[removed]"),
    (re.compile(r"(?i)(--?[\w-]*(?:password|passwd|token|secret|api-key)[\w-]*)(\s+|=)(\S+)"), r"\1\2[removed]"),
]


def scrub(text, extra=()):
    for pat, rep in SCRUB:
        text = pat.sub(rep, text)
    for value in extra:
        if value:
            text = text.replace(value, "[removed]")
    return text


def secret_values(env):
    return sorted({v for k, v in env.items() if SECRET_ENV.search(k) and len(v) >= 4}, key=len, reverse=True)


def names_to_redact():
    """This host's names and its people's user names (uid >= 1000, the invoking and sudo user)."""
    hosts = {socket.gethostname(), os.uname().nodename}
    try:
        hosts.add(socket.getfqdn())
    except OSError:
        pass
    users = {os.environ.get("SUDO_USER"), os.environ.get("USER"), os.environ.get("LOGNAME")}
    try:
        with open("/etc/passwd") as f:
            for line in f:
                p = line.split(":")
                if len(p) > 3 and p[2].isdigit() and 1000 <= int(p[2]) < 65534:
                    users.add(p[0])
    except OSError:
        pass
    hosts = {h for h in hosts if h and h not in ("localhost", "localhost.localdomain")}
    users = {u for u in users if u and u != "root"}
    return sorted(hosts, key=len, reverse=True), sorted(users, key=len, reverse=True)


def redact(text, hosts, users):
    for h in hosts:
        text = re.sub(r"(?<![\w.-])%s(?![\w-])" % re.escape(h), "host-redacted", text)
    for u in users:
        text = re.sub(r"(?<![\w-])%s(?![\w-])" % re.escape(u), "user-redacted", text)
    return text


def run(argv, timeout=30.0):
    """(exit code, output text, seconds) of a command; 127 when it is not installed."""
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=dict(os.environ, LC_ALL="C"))
        return r.returncode, r.stdout.decode("utf-8", "replace"), time.monotonic() - t0
    except FileNotFoundError:
        return 127, "%s: not installed\n" % argv[0], 0.0
    except subprocess.TimeoutExpired:
        return 124, "%s: no answer within %g s\n" % (argv[0], timeout), time.monotonic() - t0
    except OSError as e:
        return 126, "%s: %s\n" % (argv[0], e.strerror or e), 0.0


def kernel_gpu_lines(log, context=2):
    """The GPU lines of a kernel log with `context` lines around each (gaps marked by `--`)."""
    lines = log.splitlines()
    keep = set()
    for i, line in enumerate(lines):
        if GPU_LINE.search(line):
            keep.update(range(max(0, i - context), min(len(lines), i + context + 1)))
    out, last = [], None
    for i in sorted(keep):
        if last is not None and i != last + 1:
            out.append("--")
        out.append(lines[i])
        last = i
    return "\n".join(out) + ("\n" if out else "")


def _sysfs(rep_pci):
    out = []
    bdfs = []
    for g in rep_pci.get("gpus", []):      # each GPU, then the bridges above it (the card's switch, the root port)
        bdfs += [b for b in [g["bdf"]] + list(reversed(g.get("ancestors", []))) if b not in bdfs]
    for bdf in bdfs:
        base = "/sys/bus/pci/devices/" + bdf
        for name in ("vendor", "device", "subsystem_vendor", "subsystem_device", "class", "revision",
                     "current_link_speed", "current_link_width", "max_link_speed", "max_link_width", "boot_vga",
                     "enable", "numa_node", "driver_override", "resource"):
            try:
                with open(os.path.join(base, name)) as f:
                    out.append("%s/%s: %s" % (base, name, f.read(4096).strip().replace("\n", "\n    ")))
            except OSError as e:
                out.append("%s/%s: (%s)" % (base, name, e.strerror))
        for link in ("driver",):
            p = os.path.join(base, link)
            out.append("%s: -> %s" % (p, os.readlink(p) if os.path.islink(p) else "(none)"))
    drm = "/sys/class/drm"
    if os.path.isdir(drm):
        for n in sorted(os.listdir(drm)):
            p = os.path.join(drm, n, "device")
            out.append("%s/%s/device -> %s" % (drm, n, os.path.realpath(p) if os.path.exists(p) else "(none)"))
    for d in ("/dev/dri", "/dev/dri/by-path"):
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                try:
                    st = os.stat(os.path.join(d, n))
                    out.append("%s/%s: mode %o uid %d gid %d" % (d, n, st.st_mode & 0o7777, st.st_uid, st.st_gid))
                except OSError:
                    pass
    return "\n".join(out) + "\n"


def collect(python=None, torch_timeout=60.0):
    """{member name: text} of this host, unscrubbed; and the command log."""
    from checks import engine
    files, log = {}, []

    def cmd(name, argv, timeout=30.0):
        code, text, secs = run(argv, timeout)
        log.append("%-28s exit %3d  %5.2f s  %s" % (name, code, secs, " ".join(argv)))
        if code != 127:
            files[name] = "$ %s\n# exit %d\n%s" % (" ".join(argv), code, text)
        return code, text

    rep = engine.run(engine.Options(python=python or sys.executable, torch_timeout=torch_timeout))
    files["verify.json"] = json.dumps(rep, indent=2, default=str) + "\n"
    torch = next((c for c in rep["checks"] if c["id"] == "torch.xpu"), {})
    files["torch-probe.json"] = json.dumps(torch.get("evidence") or {"skipped": torch.get("detail")}, indent=2,
                                           default=str) + "\n"
    code, text = cmd("kernel-all", ["journalctl", "-k", "-b", "--no-pager", "-o", "short-monotonic"], 60.0)
    if code != 0:
        code, text = cmd("kernel-all", ["dmesg"])
    files.pop("kernel-all", None)
    files["kernel-gpu.log"] = "# kernel log since boot (%s), GPU lines with context\n" % (
        "journalctl -k -b" if code == 0 and "journalctl" in log[-1] else "dmesg") + kernel_gpu_lines(text)
    from checks import facts as F
    from checks.root import HostRoot
    pci = F.pci_facts(HostRoot("/"))
    seen = set()
    for g in pci.get("gpus", []):
        for bdf in [g["bdf"]] + list(reversed(g.get("ancestors", []))):
            if bdf not in seen:
                seen.add(bdf)
                cmd("lspci/%s.txt" % bdf, ["lspci", "-vvv", "-nn", "-s", bdf])
    files["sysfs.txt"] = _sysfs(pci)
    cmd("dkms-status.txt", ["dkms", "status"])
    cmd("modinfo-i915.txt", ["modinfo", "i915"])
    cmd("modinfo-xe.txt", ["modinfo", "xe"])
    code, text, _ = run(["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\t${Status}\\n"])
    if code == 0:
        pkgs = [x for x in text.splitlines() if re.search(r"intel|level-zero|libze|libigc|libigdgmm|opencl|xpu|"
                                                          r"xpum|mesa|linux-image|firmware", x, re.I)]
        files["packages.txt"] = "$ dpkg-query -W (Intel GPU stack)\n" + "\n".join(pkgs) + "\n"
    else:
        cmd("packages.txt", ["rpm", "-qa", "*intel*", "*level-zero*", "*xpu*"])
    cmd("clinfo.txt", ["clinfo", "-l"])
    cmd("sycl-ls.txt", ["sycl-ls"])
    from checks import xpusmi
    cmd("xpu-smi-discovery.json", [xpusmi.path() or "xpu-smi", "discovery", "-j"], 60.0)
    files["commands.txt"] = "\n".join(log) + "\n"
    return files


def archive(files, hosts=(), users=(), env=None):
    """The tar.gz bytes of files, every member scrubbed (and redacted when hosts/users are given)."""
    extra = secret_values(os.environ if env is None else env)
    buf = io.BytesIO()
    stamp = int(time.time())
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in sorted(files):
            text = scrub(files[name], extra)
            if hosts or users:
                text = redact(text, hosts, users)
            data = text.encode("utf-8")
            info = tarfile.TarInfo("xpu-ops-bundle/" + name)
            info.size, info.mtime, info.mode = len(data), stamp, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def main(argv=None):
    import argparse

    class _P(argparse.ArgumentParser):
        def error(self, message):
            raise ValueError(message)

    p = _P(prog=PROG, description="Write a support archive of this host's GPU stack.")
    p.add_argument("--output", help="write the archive to FILE (default: stdout)")
    p.add_argument("--redact", action="store_true", help="replace this host's and its users' names")
    p.add_argument("--python", help="interpreter whose PyTorch to probe (default: this one)")
    p.add_argument("--torch-timeout", type=float, default=60.0)
    try:
        a = p.parse_args(argv)
    except ValueError as e:
        print("%s: error: %s (see --help)" % (PROG, e), file=sys.stderr)
        return 2
    if a.output is None and sys.stdout.isatty():
        print("%s: error: give --output FILE.tar.gz (the archive is binary)" % PROG, file=sys.stderr)
        return 2
    if a.output and not os.path.isdir(os.path.dirname(os.path.abspath(a.output))):
        print("%s: error: --output %s: no such folder" % (PROG, a.output), file=sys.stderr)
        return 2
    files = collect(a.python, a.torch_timeout)
    hosts, users = names_to_redact() if a.redact else ((), ())
    data = archive(files, hosts, users)
    if a.output:
        fd = os.open(a.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0
