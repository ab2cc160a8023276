"""xpu-ops GPU status and metrics: ``XPUMonitorService``, ``invoke status/metrics`` and the HTTP service.

``from xpu_ops import get_xpu_monitor_service`` is cheap: FastAPI/uvicorn load only in ``xpu_ops.service``
and ``xpu_ops.cli serve``; ``ssl`` and ``http.client`` only when XPU Manager is first asked (``checks.xpum``).
"""

from xpu_ops.monitor import (  # noqa: F401
    ConfigError,
    GPUNotFound,
    InvalidDeviceId,
    MonitorError,
    Settings,
    XPUManagerUnavailable,
    XPUMonitorService,
    get_xpu_monitor_service,
    reset_xpu_monitor_service,
)
