"""Stands in for the kernel's GPU telemetry files on a HostTree, with counters that move.

What each driver publishes, laid out as the kernel does (sources, torvalds/linux):

* hwmon on the PCI device (``<dev>/hwmon/hwmonN``), hwmon ABI units: xe labels its channels
  (drivers/gpu/drm/xe/xe_hwmon.c @00c1d298d486 and later ``xe_hwmon_read_label``: energy/power 1 "card",
  2 "pkg"; temp 2 "pkg", 3 "vram"; Documentation/ABI/testing/sysfs-driver-intel-xe-hwmon @2369f05661ef:
  energy2_input, temp2_input, temp3_input); i915 has energy1_input for the device (hwmon "i915") and one
  per GT ("i915_gtN") (Documentation/ABI/testing/sysfs-driver-intel-i915-hwmon @40de53fd002c), and on
  newer kernels an unlabelled temp1_input.
* xe ``<dev>/tileN/physical_vram_size_bytes`` (drivers/gpu/drm/xe/xe_tile_sysfs.c), ``tileN/gtM/freq0/
  act_freq`` (xe_gt_freq.c @1c8e90190337); i915 ``cardN/gt/gtM/rps_act_freq_mhz``; the out-of-tree i915's
  ``cardN/lmem_total_bytes``.
* DRM fdinfo (Documentation/gpu/drm-usage-stats.rst @f76ad354146d): ``/proc/<pid>/fd/<fd>`` an absolute
  link to ``/dev/dri/renderD*``, ``/proc/<pid>/fdinfo/<fd>`` as xe prints it (drivers/gpu/drm/xe/
  xe_drm_client.c @0739b8ba8227: drm-cycles-<class> and drm-total-cycles-<class> one GPU timestamp,
  drm-engine-capacity-<class> when > 1, drm-{total,shared,active,resident}-<region> in KiB) or i915
  (drivers/gpu/drm/i915/i915_drm_client.c @bebf2ebd70f2: ``drm-engine-<render|copy|video|video-enhance|
  compute>:\t<n> ns``, memory per region ``system0``/``local0``).

``Kernel(tree)`` keeps the counters; ``advance(seconds)`` moves them (energy by watts, engine counters by
busy fraction) and rewrites the files; ``clock``/``sleep`` plug into checks.telemetry.sampler.Sampler.
"""

from __future__ import annotations

import os

XE_TIMESTAMP_HZ = 19_200_000  # the GPU timestamp's rate; any rate works, one clock per GPU
XE_CLASSES = ("rcs", "bcs", "vcs", "vecs", "ccs")
I915_CLASSES = ("render", "copy", "video", "video-enhance", "compute")


class Client:
    def __init__(self, pid, fd, bdf, driver, node, client_id, busy, capacity, resident):
        self.pid, self.fd, self.bdf, self.driver, self.node = pid, fd, bdf, driver, node
        self.client_id, self.busy, self.capacity, self.resident = client_id, dict(busy), dict(capacity), resident
        self.counter = dict.fromkeys(busy, 0)


class Kernel:
    """The moving part of a host tree's GPUs."""

    def __init__(self, tree):
        self.t = tree
        self.now = 1000.0
        self.gpus: dict[str, dict] = {}  # bdf -> {"driver", "energy": {path: [uj, watts]}}
        self.clients: list[Client] = []
        self._next_client = 3

    # -- layout
    def _dev(self, bdf):
        return self.t.devices[bdf]

    def _hwmon_dirs(self, bdf):
        d = self._dev(bdf)
        return sorted(f"{d}/hwmon/{h}" for h in os.listdir(self.t.path(f"{d}/hwmon")))

    def gpu(self, bdf, driver, watts=None, temps=None, vram=None, lmem_total=None, tiles=1, tile_watts=None,
            act_mhz=None, card=0):
        """Telemetry files of GPU ``bdf``: hwmon energy (``watts``, None: no energy file), temps {label or
        "": C} (xe labels, i915 ""), VRAM bytes per tile (xe) or lmem_total (i915 DKMS), GTs per tile with
        act freq ``act_mhz`` [per tile], i915 per-GT hwmons with ``tile_watts``."""
        g = self.gpus.setdefault(bdf, {"driver": driver, "energy": {}, "ts": 7_655_183_225})
        d = self._dev(bdf)
        hw = self._hwmon_dirs(bdf)[0] if os.path.isdir(self.t.path(f"{d}/hwmon")) else None
        if hw is not None:
            self.t.path(f"{hw}/energy1_input").unlink(missing_ok=True)
            if watts is not None:
                name = "energy1_input"
                if driver == "xe":
                    self.t.write(f"{hw}/energy1_label", "card\n", 0o444)
                g["energy"][f"{hw}/{name}"] = [123_456_789, watts]
            for n, (label, c) in enumerate(sorted((temps or {}).items()), start=1 if driver == "i915" else 2):
                self.t.write(f"{hw}/temp{n}_input", f"{int(c * 1000)}\n", 0o444)
                if label:
                    self.t.write(f"{hw}/temp{n}_label", f"{label}\n", 0o444)
        acts = act_mhz if isinstance(act_mhz, (list, tuple)) else [act_mhz or 0] * tiles
        if driver == "xe":
            for i in range(tiles):
                if vram:
                    self.t.write(f"{d}/tile{i}/physical_vram_size_bytes", f"{vram}\n", 0o444)
                f0 = f"{d}/tile{i}/gt{i}/freq0"
                self.t.write(f"{f0}/act_freq", f"{acts[i]}\n", 0o444)
        else:
            c = f"{d}/drm/card{card}"
            if lmem_total:
                self.t.write(f"{c}/lmem_total_bytes", f"{lmem_total}\n", 0o444)
            for i in range(tiles):
                self.t.write(f"{c}/gt/gt{i}/rps_act_freq_mhz", f"{acts[i]}\n", 0o444)
                self.t.write(f"{c}/gt/gt{i}/id", f"{i}\n", 0o444)
            self.t.write(f"{c}/gt_act_freq_mhz", f"{acts[0]}\n", 0o444)
            for i, w in enumerate(tile_watts or ()):
                n = 90 + len(self.gpus) * 10 + i
                h = f"{d}/hwmon/hwmon{n}"
                self.t.write(f"{h}/name", f"i915_gt{i}\n", 0o444)
                self.t.link(f"{h}/device", d)
                g["energy"][f"{h}/energy1_input"] = [55_000_000, w]
        self._write()
        return self

    def client(self, pid, bdf, busy, resident=None, capacity=None, fd=5, node="renderD128", client_id=None,
               dup_fd=None):
        """A process ``pid`` holding GPU ``bdf`` open: ``busy`` {engine class: fraction of one engine... of the
        class's capacity}, ``resident`` {region: bytes}. ``dup_fd``: the same client on a second descriptor."""
        drv = self.gpus[bdf]["driver"]
        cid = client_id if client_id is not None else self._next_client
        self._next_client += 1
        for f in [fd] + ([dup_fd] if dup_fd is not None else []):
            c = Client(pid, f, bdf, drv, node, cid, busy, capacity or {}, resident or {})
            self.clients.append(c)
            self.t.link(f"/proc/{pid}/fd/{f}", f"/dev/dri/{node}", relative=False)
        self.t.link(f"/proc/{pid}/fd/0", "/dev/null", relative=False)
        self._write()
        return self

    def unreadable_process(self, pid):
        """Another user's process: its fd directory is not readable (mode 0500, owned by uid 1001)."""
        d = self.t.mkdir(f"/proc/{pid}/fd")
        os.chown(d, 1001, 1001)
        os.chmod(d, 0o500)
        return self

    # -- time
    def advance(self, seconds):
        self.now += seconds
        for g in self.gpus.values():
            g["ts"] += int(seconds * XE_TIMESTAMP_HZ)
            for e in g["energy"].values():
                e[0] += int(e[1] * seconds * 1e6)
        seen = {}
        for c in self.clients:
            key = (c.bdf, c.client_id)
            if key in seen:  # a duplicated descriptor shows the same client's counters
                c.counter = dict(seen[key].counter)
                continue
            seen[key] = c
            for cls, frac in c.busy.items():
                cap = c.capacity.get(cls, 1)
                if c.driver == "xe":
                    c.counter[cls] += int(frac * cap * seconds * XE_TIMESTAMP_HZ)
                else:
                    c.counter[cls] += int(frac * cap * seconds * 1e9)
        self._write()

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.advance(seconds)

    # -- files
    def _write(self):
        for g in self.gpus.values():
            for path, (uj, _) in g["energy"].items():
                self.t.write(path, f"{uj}\n", 0o444)
        for c in self.clients:
            self.t.write(f"/proc/{c.pid}/fdinfo/{c.fd}", self._fdinfo(c), 0o400)

    def _fdinfo(self, c):
        lines = ["pos:\t0", "flags:\t02100002", "mnt_id:\t26", "ino:\t685", f"drm-driver:\t{c.driver}",
                 f"drm-client-id:\t{c.client_id}", f"drm-pdev:\t{c.bdf}"]
        regions = ("system", "gtt", "vram0", "stolen") if c.driver == "xe" else ("system0", "local0")
        regions = tuple(dict.fromkeys(regions + tuple(c.resident)))
        for r in regions:
            kib = c.resident.get(r, 0) // 1024
            size = f"{kib} KiB" if kib else "0"
            for kind in ("total", "shared", "active", "resident"):
                lines.append(f"drm-{kind}-{r}:\t{size if kind in ('total', 'resident') else 0}")
        classes = XE_CLASSES if c.driver == "xe" else I915_CLASSES
        for cls in classes:
            n = c.counter.get(cls, 0)
            cap = c.capacity.get(cls, 1)
            if c.driver == "xe":
                lines += [f"drm-cycles-{cls}:\t{n}", f"drm-total-cycles-{cls}:\t{self.gpus[c.bdf]['ts']}"]
            else:
                lines.append(f"drm-engine-{cls}:\t{n} ns")
            if cap > 1:
                lines.append(f"drm-engine-capacity-{cls}:\t{cap}")
        return "\n".join(lines) + "\n"


def arc_b_fleet_host(root, gpus=8, clients_per_gpu=2, idle_processes=300):
    """A host with ``gpus`` Arc B580 on xe (the arc_b_xe preset's first card, more behind root ports
    0000:00:0N.0), each with ``clients_per_gpu`` busy clients, and ``idle_processes`` processes without a
    DRM descriptor (a /proc the scan has to walk). Returns the Kernel."""
    from tests.support import hosttree as ht

    t = ht.arc_b_xe(root)
    bdfs = list(t.expect["gpus"])
    for i in range(1, gpus):
        port = f"0000:00:{i + 1:02x}.0"
        t.pci_bridge(port, device=0x460D, link=(16, 16, 32, 16))
        bdf = t.intel_discrete_card(port, 4 * i + 3, 0xE20B, driver="xe", switch=(0xE2FF, 0xE2F0, 0xE2F7),
                                    upstream_link=(16, 8, 16, 8), subsystem=(0x8086, 0x1100), revision=0x00)
        t.drm(bdf, i, "xe")
        t.dev_dri(i)
        bdfs.append(bdf)
    k = Kernel(t)
    for i, bdf in enumerate(bdfs):
        k.gpu(bdf, "xe", watts=100 + i, temps={"pkg": 50 + i, "vram": 45}, vram=12 << 30, act_mhz=2850)
        for c in range(clients_per_gpu):
            k.client(10_000 + 10 * i + c, bdf, {"rcs": 0.2, "ccs": 0.3}, resident={"vram0": 256 << 20},
                     node=f"renderD{128 + i}")
    for p in range(idle_processes):
        for fd in range(4):
            t.link(f"/proc/{20_000 + p}/fd/{fd}", "/dev/null" if fd < 3 else "socket:[1234]", relative=False)
    return k
