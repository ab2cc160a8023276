"""`python -m checks diag --level 1|2|3`: GPU diagnostics on this host (exit 0 pass, 1 a test failed, 2 usage).

With XPU Manager's `xpu-smi` installed: `xpu-smi diag -d N -l L -j` on every GPU `xpu-smi discovery -j` lists,
each test (upstream's component_list) with its result and message. Else, with an XPU Manager 1.x URL
(--xpum-url or $XPU_MANAGER_URL): its REST diagnostics (checks/xpum/diagnostics.py). Else: level 1 is verify's checks,
level 2 adds a short PyTorch test on each XPU device (checks/torch_diag.py: a matmul against the CPU's
result, copy bandwidth against what the PCIe link should carry), level 3 needs XPU Manager. Every skipped
test says why. The report has verify's shape ("checks": id, status, title, detail, remedy), so its JUnit
renderer serves it.
"""
import json
import os
import subprocess
import sys

from checks import xpusmi
from checks.result import FAIL, PASS, SKIP, WARN

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "xpu-ops diag"
MARK = "XPUOPS-DIAG "
# A link of G GT/s x W lanes carries G*W*(128/130)/8 GB/s (PCIe 3.0 and later, 128b/130b); a copy that
# reaches less than this share of it is reported as a warning.
MIN_LINK_SHARE = 0.5


class Usage(Exception):
    pass


def _item(id_, status, title, detail, remedy="", device=None):
    return {"id": id_, "status": status, "title": title, "detail": detail, "remedy": remedy,
            "evidence": {}, "layer": "Diagnostics", "device": device}


def _slug(text):
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")


def smi_tests(level, timeout, smi):
    """Every GPU's xpu-smi diagnostics at `level`: report items."""
    gpus, err = xpusmi.devices(min(timeout, 60.0), smi)
    if err:
        return [_item("xpum.discovery", FAIL, "xpu-smi lists the GPUs", err,
                      "read `xpu-smi discovery` and `systemctl status xpum` (1.x daemon) on this host")]
    if not gpus:
        return [_item("xpum.discovery", FAIL, "xpu-smi lists the GPUs", "xpu-smi discovery lists no GPU",
                      "run `invoke verify` here: the driver or Level Zero is not seeing the GPU")]
    out = []
    for g in gpus:
        dev = "%s %s" % (g.get("device_id"), g.get("pci_bdf_address", ""))
        rc, obj, err = xpusmi.run(["diag", "-d", str(g["device_id"]), "-l", str(level)], timeout, smi)
        if obj is None or "component_list" not in obj:
            out.append(_item("gpu%s.diag" % g["device_id"], FAIL, "xpu-smi diag -l %d" % level,
                             err or "xpu-smi diag answered no component_list",
                             "run `xpu-smi diag -d %s -l %d` here and read its message" % (g["device_id"], level),
                             dev))
            continue
        out += _components(g["device_id"], obj["component_list"], dev)
    return out


def rest_tests(level, settings, poll=None):
    """Every GPU's diagnostics through XPU Manager 1.x REST (checks/xpum/diagnostics.py): report items."""
    from checks.xpum import XpumError, diagnostics
    from checks.xpum.client import XpumClient
    url = settings.urls[0]
    try:
        with XpumClient.from_settings(url, settings) as client:
            if client.detect()["line"] != "1.x":
                return [_item("xpum.diagnostics", FAIL, "XPU Manager diagnostics",
                              "%s is XPU Manager 2.x, which has no diagnostics (no REST API; xpu-smi 2.x has no "
                              "diag)" % url, "install xpu-smi 1.x on the host, or diagnose without XPU Manager "
                              "(invoke diag without --xpum-url)")]
            gpus = diagnostics.gpus(client)
            out = []
            for g in gpus:
                dev = "%s %s" % (g.get("device_id"), g.get("pci_bdf_address", ""))
                kw = {} if poll is None else {"poll": poll}
                try:
                    res = diagnostics.run_level(client, int(g["device_id"]), level, **kw)
                except XpumError as e:
                    out.append(_item("gpu%s.diag" % g["device_id"], FAIL, "XPU Manager diagnostics level %d" % level,
                                     str(e), "read journalctl -u xpum_rest and systemctl status xpum", dev))
                    continue
                out += _components(g["device_id"], res.get("component_list", []), dev,
                                   diagnostics.component_name)
            return out or [_item("xpum.discovery", FAIL, "XPU Manager lists the GPUs", "%s lists no GPU" % url,
                                 "run `invoke verify` on the host")]
    except XpumError as e:
        return [_item("xpum.diagnostics", FAIL, "XPU Manager diagnostics", str(e),
                      "check --xpum-url and the credentials (invoke verify reads the same settings)")]


def _components(device_id, components, dev, name_of=lambda x: x):
    out = []
    for c in components:
        name = name_of(c.get("component_type", "?"))
        ok = c.get("result") == "Pass"
        status = PASS if ok else (SKIP if c.get("result") == "Unknown" else FAIL)
        msg = " ".join(str(c.get("message") or c.get("result")).split())
        if ok and msg.lower().startswith("warning"):
            status = WARN
        out.append(_item("gpu%s.%s" % (device_id, _slug(name)), status, name, msg,
                         "" if ok else "xpu-smi diag -d %s --singletest reruns this test alone; see "
                         "docs/operate.md for what each test needs" % device_id, dev))
    return out


def verify_tests(root, python, torch_timeout):
    """Level 1 without XPU Manager: verify's checks, as diagnostics."""
    from checks import engine
    try:
        rep = engine.run(engine.Options(root=root, python=python, torch_timeout=torch_timeout))
    except engine.UsageError as e:
        raise Usage(str(e)) from None
    return [dict(c, layer="Diagnostics", device=None, id="verify." + c["id"]) for c in rep["checks"]], rep


def _expected_gbps(link):
    if not link or not link.get("current_speed") or not link.get("current_width"):
        return None
    return link["current_speed"] * link["current_width"] * 128 / 130 / 8


def torch_tests(python, timeout, rep):
    """Level 2 without XPU Manager: the PyTorch test on each XPU device, or why it is skipped."""
    torch = next((c for c in rep["checks"] if c["id"] == "torch.xpu"), None)
    if torch is None or torch["status"] == SKIP or not (torch.get("evidence") or {}).get("available"):
        why = torch["detail"] if torch else "verify did not probe PyTorch"
        return [_item("torch.diag", SKIP, "PyTorch XPU matmul and copy bandwidth",
                      "skipped: PyTorch XPU is not usable with %s (%s)" % (python, why))]
    from checks.families import package_data
    src = package_data("torch_diag.py").decode()
    try:
        from checks.child import child_env  # as every probe child: no XPU_MANAGER_* (F9), run from / (F10)
        py = os.path.abspath(python) if os.sep in python else python
        r = subprocess.run([py, "-c", src], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                           env=child_env(), cwd="/")
        line = next((x for x in r.stdout.decode("utf-8", "replace").splitlines() if x.startswith(MARK)), None)
        res = json.loads(line[len(MARK):]) if line else {"error": "the test printed no result (exit %d)"
                                                                  % r.returncode}
    except subprocess.TimeoutExpired:
        res = {"error": "no result within %g s" % timeout}
    except (OSError, ValueError) as e:
        res = {"error": str(e)}
    if res.get("error"):
        return [_item("torch.diag", FAIL, "PyTorch XPU test", res["error"], "run `invoke verify` and read torch.xpu")]
    gpus = rep.get("gpus", [])
    out = []
    for d in res["devices"]:
        dev = "xpu:%d %s" % (d["index"], d.get("name", ""))
        if d.get("error"):
            out.append(_item("xpu%d.torch" % d["index"], FAIL, "PyTorch XPU test", d["error"],
                             "run `invoke verify` and read torch.xpu", dev))
            continue
        out.append(_item("xpu%d.matmul" % d["index"], PASS if d["matmul_ok"] else FAIL,
                         "matmul on the device matches the CPU",
                         "max abs error %.3g" % d["matmul_max_abs_error"],
                         "the device computes wrong results: update the driver and compute runtime, then run "
                         "`xpu-smi diag -l 3` if XPU Manager is installed", dev))
        # torch gives no PCI address: with one GPU its link is known; with several, the slowest link bounds all.
        links = [_expected_gbps(g.get("link")) for g in gpus] if gpus else []
        links = [x for x in links if x]
        got = min(d["h2d_gbps"], d["d2h_gbps"])
        if not links:
            out.append(_item("xpu%d.copy" % d["index"], SKIP, "host<->device copy bandwidth",
                             "skipped: %.1f GB/s measured, but the PCIe link is not readable in sysfs (integrated "
                             "GPU or WSL2)" % got, "", dev))
            continue
        want = min(links)
        ok = got >= MIN_LINK_SHARE * want
        out.append(_item("xpu%d.copy" % d["index"], PASS if ok else WARN, "host<->device copy bandwidth",
                         "host->device %.1f GB/s, device->host %.1f GB/s; the link carries %.1f GB/s"
                         % (d["h2d_gbps"], d["d2h_gbps"], want),
                         "" if ok else "check the slot's link speed and width (`invoke verify`, pcie.link) and "
                         "that no other job is using the GPU", dev))
    return out


def run(level, root="/", python=None, timeout=600.0, torch_timeout=120.0, env=None, xpum=None, poll=None):
    """The diagnostics report (a dict in verify's report shape, plus level and source).

    xpum: {"url", "credentials_file", "ca_file", "insecure", "timeout"} flags; with no xpu-smi, an XPU Manager
    URL given there or in $XPU_MANAGER_URL runs the diagnostics through its 1.x REST API."""
    if level not in (1, 2, 3):
        raise Usage("--level must be 1, 2 or 3 (got %s)" % level)
    python = python or sys.executable
    env = os.environ if env is None else env
    smi = xpusmi.path(env)
    settings = None
    if not smi:
        from checks import xpum as X
        try:
            settings = X.ConnectionSettings.resolve(env, **(xpum or {}))
        except X.XpumError as e:
            raise Usage(str(e)) from None
    if smi and root in ("/", ""):
        items, source = smi_tests(level, timeout, smi), "xpu-smi"
        env_info = {"hostname": os.uname().nodename}
    elif settings is not None and settings.explicit:
        items, source = rest_tests(level, settings, poll), "xpum-rest"
        env_info = {"hostname": os.uname().nodename}
    else:
        items, rep = verify_tests(root, python, torch_timeout)
        source = "xpu-ops"
        env_info = rep["environment"]
        if level >= 2:
            items += torch_tests(python, torch_timeout, rep)
        if level >= 3:
            items.append(_item("xpum.level3", SKIP, "XPU Manager stress and performance tests",
                               "skipped: level 3 runs XPU Manager's performance, power and memory tests, and "
                               "xpu-smi is not installed here (see docs/operate.md)"))
    summary = {s: sum(1 for i in items if i["status"] == s) for s in (PASS, WARN, FAIL, SKIP)}
    return {"ok": summary[FAIL] == 0, "level": level, "source": source, "summary": summary,
            "environment": env_info, "checks": items}


def render_text(rep, host=None):
    out = ["xpu-ops diag level %d (%s): %s" % (rep["level"], rep["source"],
                                               host or rep["environment"].get("hostname") or "this host")]
    current = object()
    for c in rep["checks"]:
        if c.get("device") != current:
            current = c.get("device")
            out.append("")
            out.append("GPU %s" % current if current else "Host")
        out.append("  %s  %s: %s" % (c["status"].upper(), c["title"], c["detail"]))
        if c["status"] in (FAIL, WARN) and c.get("remedy"):
            out.extend("        > %s" % x for x in c["remedy"].splitlines())
    s = rep["summary"]
    out.append("")
    out.append("%d passed, %d failed, %d warnings, %d skipped: %s" % (
        s[PASS], s[FAIL], s[WARN], s[SKIP], "OK" if rep["ok"] else "NOT OK"))
    return "\n".join(out) + "\n"


def parser():
    import argparse

    class _P(argparse.ArgumentParser):
        def error(self, message):
            raise Usage(message)

    p = _P(prog=PROG, description="Run GPU diagnostics on this host.")
    p.add_argument("--level", type=int, default=1, help="1 quick, 2 medium (adds PyTorch/PCIe), 3 long")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    p.add_argument("--root", default="/", help="without XPU Manager: verify's --root")
    p.add_argument("--python", help="interpreter whose PyTorch to test (default: this one)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds for each GPU's xpu-smi diag")
    p.add_argument("--torch-timeout", type=float, default=180.0, help="seconds for the PyTorch test")
    p.add_argument("--host-name", help="this host's name on the control host")
    p.add_argument("--xpum-url", help="without xpu-smi: XPU Manager 1.x REST URL (else $XPU_MANAGER_URL)")
    p.add_argument("--credentials-file", help="XPU Manager credentials (as verify's)")
    p.add_argument("--ca-file", help="CA certificate for XPU Manager's TLS (as verify's)")
    p.add_argument("--insecure", action="store_true", default=None, help="do not verify XPU Manager's TLS")
    return p


def main(argv=None):
    try:
        a = parser().parse_args(sys.argv[1:] if argv is None else argv)
        rep = run(a.level, a.root, a.python, a.timeout, a.torch_timeout,
                  xpum={"url": a.xpum_url, "credentials_file": a.credentials_file, "ca_file": a.ca_file,
                        "insecure": a.insecure})
    except Usage as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("%s: interrupted" % PROG, file=sys.stderr)
        return 130
    if a.host_name:
        rep["environment"]["hostname"] = a.host_name
    if a.junit:
        from checks import report as R
        try:
            with open(a.junit, "w") as f:
                f.write(R.render_junit(rep, suite="xpu-ops diag level %d" % rep["level"]))
        except OSError as e:
            print("%s: error: cannot write --junit %s: %s" % (PROG, a.junit, e.strerror), file=sys.stderr)
            return EXIT_USAGE
    if a.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        sys.stdout.write(render_text(rep))
    return EXIT_OK if rep["ok"] else EXIT_FAILED
