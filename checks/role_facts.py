"""``python -m checks --facts``: the host facts the Ansible roles decide on, read by the checks' own code.

The roles (intel_gpu_driver, xpumanager) need the Intel GPUs and their families, WSL2, a container,
Secure Boot, the running kernel's headers and the render nodes' group. Platform (WSL2, /dev/dxg,
container) and PCI facts are the checks' own (``checks.facts``): one set of rules for verify and
provisioning. Secure Boot, kernel headers and render-node groups only the roles read, so they live
here. ``state`` reads, in the same round trip, what the roles would otherwise ask of the host one task at a
time (users and their groups, groups, the files they manage, dpkg's state): a converged host then costs no
further round trip, and a task runs only where the host differs. Read-only; the result is plain JSON (the
action plugin ``xpu_ops_host_facts`` returns it).
"""
import hashlib
import re
import stat

from checks import facts as F

# UEFI global variable SecureBoot (EFI_GLOBAL_VARIABLE GUID). efivarfs shows each variable as 4 bytes
# of attributes, then the data: torvalds/linux Documentation/filesystems/efivarfs.rst
# (commit 06dedb45b79c6550b878244879f33b6e614126bd), so the SecureBoot byte is the fifth.
SECURE_BOOT_VAR = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


def boot_facts(root, kernel):
    """EFI, Secure Boot (enabled, disabled, unknown) and whether the running kernel's headers are there."""
    efi = root.is_dir("/sys/firmware/efi")
    var = root.read_bytes(SECURE_BOOT_VAR, 8) or b""
    if len(var) >= 5:
        secure_boot = "enabled" if var[4] == 1 else "disabled"
    else:
        secure_boot = "unknown" if efi else "disabled"
    modules = "/lib/modules/%s" % kernel if kernel else None
    return {"efi": efi, "secure_boot": secure_boot,
            "kernel_modules_dir": bool(modules) and root.is_dir(modules),
            "kernel_headers": bool(modules) and root.is_dir(modules + "/build")}


def render_nodes(root):
    """Every /dev/dri/renderD* with its group (the group users join to reach the GPU)."""
    out, names = [], None
    for name in root.listdir("/dev/dri"):
        st = root.stat("/dev/dri/" + name) if re.fullmatch(r"renderD\d+", name) else None
        if st is None:
            continue
        if names is None:
            names = F.group_names(F.read_groups(root))
        group = names.get(st.st_gid)
        if group is None and root.is_real:
            import grp
            try:
                group = grp.getgrgid(st.st_gid).gr_name
            except KeyError:
                pass
        out.append({"path": "/dev/dri/" + name, "gid": st.st_gid, "group": group or str(st.st_gid)})
    return out


# dpkg states of a package that is there (the second letter of db:Status-Abbrev is not n or c), and those a
# run cut half-way leaves, which `dpkg --audit` reports and `dpkg --configure -a` finishes: guillemj/dpkg
# src/main/enquiry.c @11a54cf29eee59de0e288faaba25a16e506969be, audit_problems (the reinstreq flag, unpacked,
# half-configured, half-installed, triggers-awaited, triggers-pending). dpkg reads its journal, the all-digit
# files of updates/, over the status file in name order (lib/dpkg/dbmodify.c cleanupdates,
# @001b387eae4275c9d76234190f09d13eaee14ae6); apt refuses to run while it has entries ("dpkg was interrupted").
_DPKG_GONE = {"not-installed", "config-files"}
_DPKG_HALF = {"half-installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending"}
FILE_LIMIT = 1 << 20           # a file the roles manage is small: a larger one is "differs" (no checksum)


def _accounts(root, users, groups):
    """{"users": {name: {"exists", "groups"}}, "groups": {name: exists}}: through NSS (pwd/grp, as getent and
    Ansible's user and group modules read them) on the real root, else the tree's /etc/passwd and /etc/group."""
    if root.is_real:
        import grp
        import pwd
        all_groups = [(g.gr_name, g.gr_gid, list(g.gr_mem)) for g in grp.getgrall()]

        def user(name):
            try:
                return pwd.getpwnam(name).pw_gid
            except KeyError:
                return None
    else:
        all_groups = [(g[0], F._int(g[2], 10), [m for m in g[3].split(",") if m]) for g in F.read_groups(root)]
        passwd = {r[0]: F._int(r[3], 10) for r in F._parse_colon_file(root.read("/etc/passwd"), 7)}

        def user(name):
            return passwd.get(name)
    out_users = {}
    for name in users:
        gid = user(name)
        member = {g for g, i, mem in all_groups if name in mem or (gid is not None and i == gid)}
        out_users[name] = {"exists": gid is not None, "groups": sorted(member)}
    names = {g for g, _, _ in all_groups}
    return {"users": out_users, "groups": {g: g in names for g in groups}}


def _file(root, path):
    """exists, kind (file, dir, link, other), mode ("0644"), uid, gid, and a regular file's sha1."""
    st = root.lstat(path)
    if st is None:
        return {"exists": False}
    kind = ("file" if stat.S_ISREG(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode)
            else "link" if stat.S_ISLNK(st.st_mode) else "other")
    out = {"exists": True, "kind": kind, "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid,
           "gid": st.st_gid, "sha1": None}
    if kind == "file":
        data = root.read_bytes(path, FILE_LIMIT + 1)
        if data is not None and len(data) <= FILE_LIMIT:
            out["sha1"] = hashlib.sha1(data).hexdigest()
    return out


def _dpkg_stanzas(data):
    """((package, architecture), Status words) of each stanza of a dpkg status or journal file."""
    for stanza in data.decode("utf-8", "replace").split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            key, _, value = line.partition(":")
            if key in ("Package", "Architecture", "Status"):
                fields[key] = value.strip()
        status = fields.get("Status", "").split()
        if fields.get("Package") and len(status) == 3:
            yield (fields["Package"], fields.get("Architecture")), status


def _dpkg(root):
    """{"installed": names, "interrupted": bool} from /var/lib/dpkg/status and its journal (updates/), as
    `dpkg-query -W` and `dpkg --audit` read them; None without dpkg."""
    data = root.read_bytes("/var/lib/dpkg/status", 256 << 20)
    if data is None:
        return None
    status = dict(_dpkg_stanzas(data))
    journal = sorted(n for n in root.listdir("/var/lib/dpkg/updates") if n.isdigit())
    for name in journal:
        status.update(_dpkg_stanzas(root.read_bytes("/var/lib/dpkg/updates/" + name, 64 << 20) or b""))
    installed = {pkg for (pkg, _), (_, _, st) in status.items() if st not in _DPKG_GONE}
    half = any(flag != "ok" or st in _DPKG_HALF for _, flag, st in status.values())
    return {"installed": sorted(installed), "interrupted": half or bool(journal)}


def state(root, query):
    """What the roles would otherwise ask task by task: query {"users": [...], "groups": [...], "files": [...],
    "dpkg": bool}; each answer under the same key."""
    out = _accounts(root, query.get("users") or [], query.get("groups") or [])
    out["files"] = {p: _file(root, p) for p in query.get("files") or [] if isinstance(p, str) and p.startswith("/")}
    out["dpkg"] = _dpkg(root) if query.get("dpkg") else None
    return out


def gather(root, query=None):
    """{platform, pci, boot, render_nodes[, state]}: what `--facts` prints (state with `--facts-state QUERY`)."""
    platform = F.platform_facts(root)
    out = {"platform": platform, "pci": F.pci_facts(root), "boot": boot_facts(root, platform["kernel"]),
           "render_nodes": render_nodes(root)}
    if query is not None:
        out["state"] = state(root, query)
    return out
