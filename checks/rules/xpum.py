"""XPU Manager layer: installed and running, its API, the GPU health it reports, its container's exposure."""
from checks.result import FAIL, PASS, SKIP, WARN, worst
from checks.rules import check
from checks.rules._common import _gpus, _provision, _skip_reason

LAYER = "XPU Manager"


# XPU Manager 1.3's "Supported Devices" (intel/xpumanager README.md, tag v1.3.1 @
# 5872a7181c5a73d760f5998266195942a1b58c13, still so on v1.3.x @ b10db2fa9e8092d7b01545f6bc2c0b60f4fc3c28): Flex,
# Max and Arc B; Arc B first listed in 1.3.1; Arc A is not listed.
ARC_B_MIN = (1, 3, 1)
UNLISTED = {"arc-a": "Arc A-series"}


def _families(f):
    return {g.get("family") for g in _gpus(f)}


def _xpum_install(f):
    return ("install XPU Manager (optional; Flex/Max: package xpumanager, Arc B: xpumanager >= 1.3.1, "
            "Arc Pro: xpu-smi 2.x): " + _provision(f, " --tags xpumanager"))


def _unlisted_only(f):
    """'Arc A-series' when every GPU here is of a family Intel's XPU Manager does not list, else None."""
    fams = _families(f)
    if fams and all(x in UNLISTED for x in fams):
        return ", ".join(sorted(UNLISTED[x] for x in fams))
    return None


def _version_tuple(text):
    out = []
    for part in str(text or "").split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit()) if part else ""
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


XPUM_NATIVE_CA = "/usr/lib/xpum/rest/conf/cert.pem"


def _xpum_installed(s):
    return any(s["binaries"].values()) or any(u["installed"] for u in s["units"].values())


@check("xpum.service", "XPU Manager installed and running", needs=("platform", "services", "userspace", "pci"))
def xpum_service(f):
    why = _skip_reason(f, need_gpu=False, xpum=True)
    if why:
        return SKIP, why, "", {}
    s = f["services"]
    ev = {"binaries": {k: v for k, v in s["binaries"].items() if v}, "units": s["units"],
          "containers": s["containers"], "packages": {k: v for k, v in (f["userspace"]["packages"] or {}).items()
                                                       if k in ("xpumanager", "xpu-smi", "libxpum2")}}
    cont = (s["containers"] or {}).get("xpum") or []
    running = [c for c in cont if c.get("state") == "running" or c["status"].lower().startswith("up")]
    if running:
        c = running[0]
        health = (c.get("inspect") or {}).get("health")  # from GET /containers/<id>/json
        if not health:
            health = "unhealthy" if "unhealthy" in c["status"] else ("healthy" if "healthy" in c["status"] else None)
        detail = "container %s (%s): %s" % (c["name"], c["image"], c["status"])
        if health and health not in c["status"]:
            detail += " (%s)" % health
        if health == "unhealthy":
            return (FAIL, detail, "docker logs --tail 50 %s; docker inspect --format '{{json .State.Health}}' %s"
                    "   # or: podman" % (c["name"], c["name"]), ev)
        if health == "starting":
            return (WARN, detail + "; its healthcheck has not passed yet",
                    "wait for the start period, then: docker inspect --format '{{json .State.Health}}' %s"
                    "   # podman without systemd runs healthchecks only on: podman healthcheck run %s"
                    % (c["name"], c["name"]), ev)
        return PASS, detail, "", ev
    if cont:
        c = cont[0]
        return (FAIL, "XPU Manager container %s exists but is not running: %s" % (c["name"], c["status"]),
                "docker start %s && docker logs --tail 50 %s   # or: podman" % (c["name"], c["name"]), ev)
    if not _xpum_installed(s):
        unlisted = _unlisted_only(f)
        if unlisted:
            return (SKIP, "XPU Manager is not installed; Intel does not list %s GPUs as supported by it (XPU Manager "
                          "1.3 lists Flex, Max and Arc B)" % unlisted, "", ev)
        return (WARN, "XPU Manager is not installed (no xpumd, xpu-smi, xpum.service, or XPU Manager container)",
                _xpum_install(f), ev)
    unit = s["units"]["xpum.service"]
    smi_only = s["binaries"].get("/usr/bin/xpu-smi") and not unit["installed"]
    if smi_only:
        return PASS, "xpu-smi installed (daemon-less CLI; no xpum.service)", "", ev
    if unit["active"] is None:
        detail = "xpum.service installed%s; its state is unknown here (%s)" % (
            ", enabled" if unit["enabled"] else ", not enabled",
            "not the running system" if f["platform"].get("_root") != "/" else "no systemd")
        if not unit["enabled"]:
            return WARN, detail, "sudo systemctl enable --now xpum.service", ev
        return PASS, detail, "", ev
    if unit["active"] == "active":
        return PASS, "xpum.service active", "", ev
    return (FAIL, "xpum.service is %s (\"XPUM Service Status Error\" in the tools)" % unit["active"],
            "sudo systemctl restart xpum.service; systemctl status xpum.service --no-pager; "
            "journalctl -u xpum.service -n 50 --no-pager", ev)


@check("xpum.api", "XPU Manager API answers", needs=("platform", "pci", "services", "xpum"))
def xpum_api(f):
    why = _skip_reason(f, need_gpu=False, xpum=True)
    if why:
        return SKIP, why, "", {}
    x = f["xpum"]
    ev = {k: x.get(k) for k in ("url", "line", "version", "tried", "explicit", "credentials", "healtz",
                                "needs_credentials", "notes")}
    err = x.get("error")
    notes = list(x.get("notes") or [])
    installed = _xpum_installed(f["services"]) or bool((f["services"]["containers"] or {}).get("xpum"))
    if x.get("url") and not err and x.get("needs_credentials"):
        detail = "XPU Manager %s at %s (%s); GPU health needs its user and password (nothing authenticated was " \
                 "asked without them: upstream delays every client 2^n s per failed login)" % (
                     x["line"], x["url"], _version_text(x.get("version")))
        return (WARN, "; ".join([detail] + notes), "set XPU_MANAGER_USER / XPU_MANAGER_PASSWORD (or "
                "--credentials-file) to the rest.conf user (xpumadmin); a server run with XPUM_EXPORTER_NO_AUTH=1 "
                "needs none: export XPU_MANAGER_EXPORTER_NO_AUTH=1", ev)
    if x.get("url") and not err:
        pci_bdfs = {g["bdf"] for g in _gpus(f)}
        api_bdfs = {(g.get("pci_bdf_address") or "").lower() for g in x.get("gpus", [])}
        ev["api_gpus"] = sorted(api_bdfs)
        detail = "XPU Manager %s at %s (%s)" % (x["line"], x["url"], _version_text(x.get("version")))
        detail += ", %d GPU(s)" % len(api_bdfs)
        status, remedy = PASS, ""
        if x.get("healtz") and not x["healtz"].get("ok"):
            status = FAIL
            detail += "; /healtz says: %s" % (x["healtz"].get("text") or x["healtz"].get("status_code"))
            remedy = "XPU Manager sees no device: systemctl status xpum.service; check dri.access and kernel.driver"
        if f["pci"].get("present") and not f["platform"]["container"]:
            only_api = sorted(api_bdfs - pci_bdfs)
            only_pci = sorted(pci_bdfs - api_bdfs)
            if only_api or only_pci:
                status = worst([status, WARN])
                if only_pci:
                    detail += "; not reported by XPU Manager: %s" % ", ".join(only_pci)
                if only_api:
                    detail += "; reported by XPU Manager but not on this PCI bus: %s (a remote or other host?)" \
                        % ", ".join(only_api)
                remedy = remedy or ("older XPU Manager versions do not list Arc/xe GPUs (upstream #88, #92): "
                                    "upgrade; check the URL points at this host")
        version = _version_tuple((x.get("version") or {}).get("xpum_version"))
        if x["line"] == "1.x" and "arc-b" in _families(f) and version and version < ARC_B_MIN:
            status = worst([status, WARN])
            detail += "; Arc B needs XPU Manager 1.3.1 or newer (its README lists Arc B from 1.3.1)"
            remedy = remedy or _xpum_install(f)
        unlisted = {UNLISTED[x_] for x_ in _families(f) if x_ in UNLISTED}
        if unlisted:
            detail += "; Intel does not list %s GPUs as supported by XPU Manager" % ", ".join(sorted(unlisted))
        if notes:
            status = worst([status, WARN])
            detail += "; " + "; ".join(notes)
            remedy = remedy or "tighten the credentials file: chmod 600 it"
        return status, detail, remedy, ev
    err = err or {"kind": "refused", "message": "nothing answered"}
    if not x.get("explicit") and not installed and err["kind"] not in ("config", "refused"):
        # a default address answered, but not as XPU Manager, and XPU Manager (optional) is not installed
        tried = ", ".join("%s (%s)" % (t["url"], t.get("outcome")) for t in x.get("tried", []))
        return (SKIP, "XPU Manager not installed (it is optional); at its default addresses: %s; what answered is "
                      "not XPU Manager: %s" % (tried, err["message"]), "", ev)
    if err["kind"] == "config":
        return FAIL, err["message"], "fix XPU_MANAGER_URL / --xpum-url / the credentials file", ev
    if not x.get("explicit") and all(t.get("outcome") == "refused" for t in x.get("tried", [])):
        tried = ", ".join(t["url"] for t in x.get("tried", []))
        if not _xpum_installed(f["services"]) and not (f["services"]["containers"] or {}).get("xpum"):
            return SKIP, "XPU Manager not installed, nothing listens on %s" % tried, "", ev
        return (WARN, "XPU Manager is installed but no API answers on %s (its REST API is off by default)" % tried,
                "enable the 1.x REST API: sudo /usr/lib/xpum/enable_restful.sh (binds 0.0.0.0:30000; xpu-ops' "
                "role binds it to 127.0.0.1), or point at yours: export XPU_MANAGER_URL=https://127.0.0.1:30000", ev)
    remedy = {
        "tls": "pass the server's certificate: --ca-file %s (native 1.x; its own self-signed certificate is accepted "
               "as a pin: exactly that certificate, no host name check); --insecure only as a last resort: it "
               "sends the password to a peer nobody verified" % XPUM_NATIVE_CA,
        "auth": "check XPU_MANAGER_USER / XPU_MANAGER_PASSWORD (or --credentials-file): the rest.conf user "
                "(xpumadmin) and its password; wait before retrying: the server delays each failed login 2^n s",
        "timeout": "the server accepts but does not answer: systemctl status xpum.service xpum_rest.service",
        "refused": "start it: sudo systemctl start xpum.service xpum_rest.service (or your XPU Manager "
                   "container), or fix the URL",
    }.get(err["kind"], "check the URL points at XPU Manager: curl -sk %s/rest/v1/version" % (
        x.get("url") or (x.get("tried") or [{"url": "URL"}])[-1]["url"]))
    return FAIL, err["message"], remedy, ev


def _version_text(v):
    if not v:
        return "version unknown"
    return "version %s" % (v.get("xpum_version") or v.get("version") or "?")


@check("xpum.health", "GPU health reported by XPU Manager", needs=("platform", "xpum"))
def xpum_health(f):
    why = _skip_reason(f, need_gpu=False, xpum=True)
    if why:
        return SKIP, why, "", {}
    x = f["xpum"]
    if not x.get("url") or x.get("error"):
        return SKIP, "XPU Manager API not reachable (see xpum.api)", "", {}
    if x.get("needs_credentials"):
        return SKIP, "XPU Manager needs its user and password for GPU health (see xpum.api)", "", {}
    gpus = x.get("gpus", [])
    if not gpus:
        return FAIL, "XPU Manager reports no GPU", "check kernel.driver and dri.access on the XPU Manager host", {}
    map_status = {"healthy": PASS, "warning": WARN, "critical": FAIL, "unknown": WARN}
    statuses, notes, ev = [], [], {}
    for g in gpus:
        h = g.get("health") or {"status": "unknown"}
        st = map_status.get(h.get("status"), WARN)
        statuses.append(st)
        bad = ["%s %s%s" % (name, c.get("status"), (": " + c["description"]) if c.get("description") else "")
               for name, c in (h.get("components") or {}).items()
               if str(c.get("status", "")).lower() not in ("ok", "healthy", "unknown", "")]
        notes.append("GPU %s %s: %s%s" % (g.get("device_id"), g.get("pci_bdf_address") or "", h.get("status"),
                                         " (" + "; ".join(bad) + ")" if bad else ""))
        ev[str(g.get("device_id"))] = h
    status = worst(statuses)
    remedy = ""
    if status != PASS:
        remedy = ("read the details: xpu-smi health -d <id> (1.x) or the hw_status series; check cooling and "
                  "power for temperature/power warnings")
    return status, "; ".join(notes), remedy, ev


LOOPBACK_PREFIXES = ("127.", "::1", "localhost")


def _loopback(addr):
    return bool(addr) and str(addr).strip("[]").startswith(LOOPBACK_PREFIXES)


@check("xpum.exposure", "XPU Manager container privileges and exposure", needs=("platform", "services"))
def xpum_exposure(f):
    why = _skip_reason(f, need_gpu=False, xpum=True)
    if why:
        return SKIP, why, "", {}
    cont = ((f["services"].get("containers") or {}).get("xpum")) or []
    if not cont:
        return SKIP, "no XPU Manager container on this host's engine", "", {}
    notes, remedies, ev = [], [], {}
    for c in cont:
        i = c.get("inspect") or {}
        ev[c["name"]] = {k: i.get(k) for k in ("privileged", "network_mode", "ports", "env", "cap_add")}
        if not i:
            notes.append("%s: not inspectable" % c["name"])
            continue
        env = i.get("env") or {}
        v2 = "xpumd" in (c.get("image") or "")
        open_api = v2 or env.get("XPUM_EXPORTER_NO_AUTH") == "1"
        no_tls = not v2 and env.get("XPUM_REST_NO_TLS") == "1"
        if i.get("privileged"):
            notes.append("%s runs privileged (every capability and device)" % c["name"])
            remedies.append("drop privileged: true unless you update firmware or change GPU settings; "
                            "least privilege: cap_drop ALL, cap_add SYS_ADMIN, devices /dev/dri")
        wide = ["%s:%s" % (p["host_ip"] or "0.0.0.0", p["host_port"]) for p in i.get("ports") or []
                if not _loopback(p["host_ip"])]
        if i.get("network_mode") == "host" and not v2 and not _loopback(env.get("XPUM_REST_HOST", "0.0.0.0")):
            wide.append("%s:%s (host network)" % (env.get("XPUM_REST_HOST", "0.0.0.0"),
                                                  env.get("XPUM_REST_PORT", "29999")))
        if wide and (open_api or no_tls):
            how = "without authentication" if open_api else "without TLS (Basic auth in clear)"
            notes.append("%s publishes its API on %s %s" % (c["name"], ", ".join(wide), how))
            remedies.append("publish on 127.0.0.1 only (ports: [\"127.0.0.1:PORT:PORT\"], or XPUM_REST_HOST=127.0.0.1 "
                            "with host networking), or keep TLS and Basic auth on")
    if notes:
        return WARN, "; ".join(notes), "\n".join(dict.fromkeys(remedies)), ev
    return PASS, "%d XPU Manager container(s): not privileged, API on loopback or authenticated" % len(cont), "", ev
