"""The sysfs telemetry source: the kernel's own files (checks.telemetry) answering as XPU Manager's
client does (``overview``, ``list_gpus``, ``gpu_state``), so XPUMonitorService caches and shapes both alike.

Device ids are the Intel GPUs' indexes in PCI address order. Each GPU carries ``source: "sysfs"``,
``sources`` (which file each value came from) and ``unavailable`` (why a value is null).
"""

from __future__ import annotations

import copy
import os
import threading

from checks import xpum
from checks.telemetry.sampler import Sampler

SOURCES = ("auto", "xpum", "sysfs")
_deciding = threading.local()


def source_and_root(env, source=None, root=None):
    """--source or XPU_OPS_SOURCE (default auto: XPU Manager when it answers, else sysfs), --root or
    XPU_OPS_ROOT (the host tree the sysfs source reads, default /), validated: ConfigError names the flag."""
    from xpu_ops.monitor import ConfigError

    source = source or str(env.get("XPU_OPS_SOURCE", "")).strip() or "auto"
    if source not in SOURCES:
        raise ConfigError(f"--source {source!r} must be one of {', '.join(SOURCES)} (XPU_OPS_SOURCE)")
    root = root or str(env.get("XPU_OPS_ROOT", "")).strip() or "/"
    if not os.path.isdir(root):
        raise ConfigError(f"--root {root!r} is not a directory (XPU_OPS_ROOT)")
    return source, root


class SysfsClient:
    """Read-only, no connection: ``url``/``line``/``version`` are None; ``root`` is the tree read."""

    url = line = version = None

    def __init__(self, root="/", sampler: Sampler | None = None):
        self.sampler = sampler or Sampler(root)
        self.root = self.sampler.root.base

    def detect(self):
        return None

    def scrub(self, text):
        return text

    def close(self):
        pass

    def overview(self) -> list:
        return [{**g, "source": "sysfs"} for g in self.sampler.read()]

    def list_gpus(self) -> list:
        return [{"device_id": g["index"], "device_name": g["name"], "pci_bdf_address": g["bdf"],
                 "driver": g["driver"], "source": "sysfs"} for g in self.sampler.gpus()]

    def gpu_state(self, device_id) -> dict:
        for g in self.overview():
            if g["device_id"] == device_id:
                return g
        raise xpum.XpumError("notfound", f"GPU {device_id} not found (sysfs lists {len(self.sampler.gpus())} "
                                         f"Intel GPU(s) under {self.root})")


class SysfsSourceMixin:
    """XPUMonitorService's part for choosing the source and for the sysfs one (kept out of monitor.py).
    ``settings.sampler`` (a checks.telemetry.sampler.Sampler, tests and the benchmark) replaces the default."""

    _sysfs = None  # the SysfsClient, made when first used

    @property
    def source(self) -> str:
        """The telemetry source answering now: "sysfs" (asked for, or auto while XPU Manager does not
        answer and sysfs has an Intel GPU) or "xpum" (so with neither, XPU Manager's error is the answer)."""
        s = self.settings.source
        if s != "auto":
            return s
        if getattr(_deciding, "on", False):  # this thread is asking XPU Manager whether it answers
            return "xpum"
        _deciding.on = True
        try:
            if self.available:
                return "xpum"
            return "sysfs" if self._sysfs_client().sampler.gpus() else "xpum"
        finally:
            _deciding.on = False

    def _sysfs_client(self) -> SysfsClient:
        with self._lock:
            if self._sysfs is None:
                self._sysfs = SysfsClient(self.settings.root, getattr(self.settings, "sampler", None))
            return self._sysfs

    def _sysfs_round(self, fn):
        """fn(the sysfs client); "not found" -> GPUNotFound, as from XPU Manager."""
        from xpu_ops.monitor import GPUNotFound

        with self._lock:
            self.upstream_rounds += 1
        try:
            return fn(self._sysfs_client())
        except xpum.XpumError as e:
            raise GPUNotFound(None, message=str(e)) from None

    def _manager_not_asked(self) -> dict:
        from xpu_ops.monitor import now_iso

        why = "not asked (source sysfs)" if self.settings.source == "sysfs" else self.reason
        return {"available": False, "url": self.url, "line": self.line, "version": self.version, "gpus": [],
                "reason": why, "timestamp": now_iso()}

    def get_telemetry_status(self, manager=None) -> dict:
        """The ``telemetry`` part of the status: {"source": xpum|sysfs, "available", "root" (sysfs), "gpus"
        (each with source, sources, unavailable), "reason", "timestamp"}: XPU Manager's GPUs when it is
        the source, else the kernel's."""
        from xpu_ops.monitor import MonitorError, now_iso

        if self.source == "xpum":
            manager = manager or self.get_manager_status()
            return {"source": "xpum", "available": manager["available"], "root": None,
                    "gpus": copy.deepcopy(manager["gpus"]), "reason": manager["reason"],
                    "timestamp": manager["timestamp"]}
        try:
            gpus = self._overview()
        except MonitorError as e:
            return {"source": "sysfs", "available": False, "root": self.settings.root, "gpus": [],
                    "reason": str(e), "timestamp": now_iso()}
        return {"source": "sysfs", "available": bool(gpus), "root": self.settings.root,
                "gpus": [{k: v for k, v in g.items() if not k.startswith("_")} for g in copy.deepcopy(gpus)],
                "reason": None if gpus else f"no Intel GPU under {self.settings.root}",
                "timestamp": gpus[0]["_fetched_at"] if gpus else now_iso()}
