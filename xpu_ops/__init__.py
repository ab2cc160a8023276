"""xpu-ops on the control host: GPU status and metrics (``XPUMonitorService``, ``invoke status/metrics``, the
HTTP service) and verify of other hosts (``xpu_ops.remote``, ``xpu_ops.fleet``, ``xpu_ops.zipapp``).

``from xpu_ops import get_xpu_monitor_service`` is cheap: FastAPI/uvicorn load only in ``xpu_ops.service``
and ``xpu_ops.cli serve``; ``ssl`` and ``http.client`` only when XPU Manager is first asked (``checks.xpum``).
``xpu_ops.monitor`` itself loads on the first use of one of its names here (``__getattr__``), so
``python -m xpu_ops.remote`` does not pay for it.
"""

_MONITOR = (
    "ConfigError",
    "GPUNotFound",
    "InvalidDeviceId",
    "MonitorError",
    "Settings",
    "XPUManagerUnavailable",
    "XPUMonitorService",
    "get_xpu_monitor_service",
    "reset_xpu_monitor_service",
)
__all__ = list(_MONITOR)


def __getattr__(name):
    if name in _MONITOR:
        from xpu_ops import monitor

        return getattr(monitor, name)
    raise AttributeError("module 'xpu_ops' has no attribute %r" % name)
