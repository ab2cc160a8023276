"""The HTTP service: GPU status and metrics (PyTorch + XPU Manager) as JSON.

    GET /api/v1/analytics/gpu/status            pytorch_gpu + xpu_manager (200 even when XPU Manager is down)
    GET /api/v1/analytics/gpu/metrics?device_id=N   one GPU: 404 unknown id, 422 invalid id, 503 XPU Manager down
    GET /api/v1/health                          this service and its XPU Manager (always 200)
    GET /metrics                                the GPU readings in the Prometheus text format (xpu_ops.gpu_prometheus)
    GET /openapi.json                           the OpenAPI document

Run it with ``invoke serve`` / ``python -m xpu_ops serve`` (uvicorn, 127.0.0.1:12788 by default).
Every error is a JSON object ``{"error": code, "detail": one line}``; nothing answers with a traceback.
Endpoints are plain functions: FastAPI runs them in its thread pool while XPUMonitorService waits on
XPU Manager (cached, concurrent per GPU).
"""

import logging
from contextlib import asynccontextmanager
from typing import Dict, List, Literal, Optional, Union

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from checks.xpum.metrics import METRICS
from xpu_ops.monitor import (
    GPUNotFound,
    InvalidDeviceId,
    MonitorError,
    XPUManagerUnavailable,
    XPUMonitorService,
    get_xpu_monitor_service,
    now_iso,
)

def _package_version():
    """The installed package's version (pyproject.toml's), which /api/v1/health and the OpenAPI document report."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("xpu-ops")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


API_VERSION = _package_version()
MAX_DEVICE_ID = 2**31 - 1
log = logging.getLogger("xpu_ops.service")


# --------------------------------------------------------------------------- response models (the OpenAPI document)


class Component(BaseModel):
    status: Optional[str] = Field(None, description="as XPU Manager says it: 1.x OK/Warning/Critical/Unknown, "
                                                    "2.x ok/warning/critical/...")
    description: Optional[str] = None


class Health(BaseModel):
    status: Literal["healthy", "warning", "critical", "unknown"] = Field(
        ..., description="worst known component state; unknown when none is known")
    temperature: Optional[float] = Field(None, description="GPU core temperature, Celsius")
    power_usage: Optional[float] = Field(None, description="power, W")
    components: Dict[str, Component] = Field(default_factory=dict)


# Readings (one GPU's or tile's), Tile and Metrics follow the metric table (checks.xpum.metrics): a value
# per metric, null where XPU Manager does not report it; memory_total only per GPU.
Readings = create_model(
    "Readings", __doc__="One GPU's or one tile's readings; null where XPU Manager does not report the value.",
    **{m.key: (Optional[float], Field(None, description=m.description)) for m in METRICS if m.tiles is not None})
Tile = create_model("Tile", __base__=Readings, tile_id=(Optional[Union[int, str]], None))
Metrics = create_model(
    "Metrics", __base__=Readings,
    **{m.key: (Optional[float], Field(None, description=m.description)) for m in METRICS if m.tiles is None},
    tiles=(List[Tile], Field(default_factory=list, description="per tile on multi-tile GPUs, else empty")))


class Gpu(BaseModel):
    device_id: int
    device_name: Optional[str] = None
    pci_bdf_address: Optional[str] = None
    health: Health
    metrics: Metrics
    reason: Optional[str] = Field(None, description="why this GPU's data is missing (e.g. it vanished)")
    source: Literal["xpum", "sysfs"] = Field("xpum", description="where the readings come from")
    driver: Optional[str] = Field(None, description="kernel driver (sysfs source)")
    sources: Dict[str, str] = Field(default_factory=dict, description="sysfs: the kernel file of each reading")
    unavailable: Dict[str, str] = Field(default_factory=dict, description="sysfs: why a reading is null")
    limits: Dict[str, Optional[float]] = Field(default_factory=dict,
                                               description="sysfs: power limits, W (sustained PL1, rated TDP)")
    engines: Dict[str, float] = Field(default_factory=dict, description="sysfs: busy % per engine class")
    notes: List[str] = Field(default_factory=list, description="sysfs: what the readings do not cover")


class PytorchGpu(BaseModel):
    available: bool = Field(..., description="torch.xpu.is_available()")
    device: Literal["xpu:0", "cpu"] = Field(..., description="the device the application should use")
    count: int
    names: List[str]
    intel_extension: bool = Field(..., description="IPEX installed, matching torch, importable")
    torch_version: Optional[str] = None
    ipex_version: Optional[str] = None
    reason: Optional[str] = Field(None, description="why the device is cpu")


class ManagerInfo(BaseModel):
    available: bool
    url: Optional[str] = None
    line: Optional[Literal["1.x", "2.x"]] = None
    version: Optional[str] = None
    reason: Optional[str] = Field(None, description="why XPU Manager is not available")


class XpuManager(ManagerInfo):
    gpus: List[Gpu] = Field(default_factory=list)


class Telemetry(BaseModel):
    source: Literal["xpum", "sysfs"] = Field(..., description="XPU Manager, or the kernel's files (sysfs)")
    available: bool
    root: Optional[str] = Field(None, description="the host tree read (sysfs source)")
    gpus: List[Gpu] = Field(default_factory=list)
    reason: Optional[str] = None
    timestamp: str


class Status(BaseModel):
    pytorch_gpu: PytorchGpu
    xpu_manager: XpuManager
    telemetry: Telemetry = Field(..., description="the GPUs' readings from the source in use")
    timestamp: str = Field(..., description="when the data was fetched from XPU Manager (ISO 8601, UTC)")


class GpuMetrics(BaseModel):
    device_id: int
    health: Health
    metrics: Metrics
    source: Literal["xpum", "sysfs"] = Field("xpum", description="where the readings come from")
    timestamp: str = Field(..., description="when the data was fetched from XPU Manager (ISO 8601, UTC)")


class ServiceHealth(BaseModel):
    status: Literal["ok", "degraded"] = Field(..., description="degraded: this service is up, XPU Manager is not")
    service: str
    version: str
    xpu_manager: ManagerInfo
    timestamp: str


class Error(BaseModel):
    error: str = Field(..., description="not_found, invalid_request, xpu_manager_unavailable, internal, ...")
    detail: str = Field(..., description="one line for a person")


def _error(status, code, detail, headers=None):
    return JSONResponse({"error": code, "detail": " ".join(str(detail).split())}, status_code=status,
                        headers=headers)


_CODES = {404: "not_found", 405: "method_not_allowed", 422: "invalid_request", 503: "xpu_manager_unavailable"}
ERRORS = {
    404: {"model": Error, "description": "no GPU with that device_id"},
    422: {"model": Error, "description": "device_id is not a non-negative integer"},
    503: {"model": Error, "description": "XPU Manager is not available"},
    500: {"model": Error, "description": "a bug in this service (details only in its log)"},
}


# --------------------------------------------------------------------------- the app


def create_app(monitor: Optional[XPUMonitorService] = None) -> FastAPI:
    """The FastAPI app; ``monitor`` defaults to the shared get_xpu_monitor_service()."""

    def mon() -> XPUMonitorService:
        return monitor if monitor is not None else get_xpu_monitor_service()

    @asynccontextmanager
    async def lifespan(app):
        try:
            mon().start_pytorch_probe()  # the first status request need not wait for the whole probe
        except Exception:  # never keep the service from starting
            log.exception("could not start the PyTorch probe")
        yield

    app = FastAPI(
        title="xpu-ops GPU status and metrics API",
        version=API_VERSION,
        description="PyTorch's view of the Intel GPUs plus XPU Manager's telemetry (1.x REST or 2.x exporter). "
                    "Units: utilisation %, memory MiB, temperature Celsius, power W, frequency MHz, energy J.",
        lifespan=lifespan,
        # no /docs or /redoc: FastAPI's pages load their scripts from a CDN (blank offline, third-party code
        # in the browser); /openapi.json is the document, for any local viewer
        docs_url=None, redoc_url=None,
    )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, _CODES.get(exc.status_code, "http_error"), exc.detail,
                      getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body"))
            parts.append(f"{where}: {e.get('msg')}" if where else str(e.get("msg")))
        return _error(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(GPUNotFound)
    async def not_found(request: Request, exc: GPUNotFound):
        return _error(404, "not_found", str(exc))

    @app.exception_handler(InvalidDeviceId)
    async def invalid_id(request: Request, exc: InvalidDeviceId):
        return _error(422, "invalid_request", str(exc))

    @app.exception_handler(MonitorError)
    async def unavailable(request: Request, exc: MonitorError):
        kind = getattr(exc, "kind", "config")
        return _error(503, "xpu_manager_unavailable", f"XPU Manager is not available ({kind}): {exc}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                  exc_info=(type(exc), exc, exc.__traceback__))
        return _error(500, "internal", "internal error in xpu-ops (details in the service log)")

    @app.get("/api/v1/analytics/gpu/status", response_model=Status, responses={500: ERRORS[500]},
             summary="PyTorch and XPU Manager view of the GPUs")
    def gpu_status():
        """Always 200: when XPU Manager is down, ``xpu_manager.available`` is false with a ``reason``."""
        return mon().get_status()

    @app.get("/api/v1/analytics/gpu/metrics", response_model=GpuMetrics,
             responses={k: ERRORS[k] for k in (404, 422, 503, 500)}, summary="Health and metrics of one GPU")
    def gpu_metrics(device_id: int = Query(0, ge=0, le=MAX_DEVICE_ID, description="XPU Manager's GPU id")):
        return mon().get_gpu_status(device_id)

    @app.get("/api/v1/health", response_model=ServiceHealth, responses={500: ERRORS[500]},
             summary="Is this service and its XPU Manager up")
    def health():
        """Always 200 while this service runs; ``status`` is degraded when XPU Manager is not available."""
        info = mon().manager_info()
        return {"status": "ok" if info["available"] else "degraded", "service": "xpu-ops",
                "version": API_VERSION, "xpu_manager": info, "timestamp": now_iso()}

    @app.get("/metrics", response_class=Response, summary="GPU readings, Prometheus text format",
             responses={200: {"content": {"text/plain": {}}}})
    def metrics():
        """The readings of GET /api/v1/analytics/gpu/status's ``telemetry``, labelled by PCI address."""
        from xpu_ops.gpu_prometheus import exposition

        body, ctype = exposition(mon().get_telemetry_status())
        return Response(body, media_type=ctype)

    return app


app = create_app()

__all__ = ["app", "create_app", "MonitorError", "XPUManagerUnavailable"]
