"""XPU Manager 1.x REST diagnostics: start a level on a GPU, then read its result until it is finished.

Upstream (intel/xpumanager 57e44f558a3c3f4e7ec3cdfae6ccd8739ffb3be5): ``rest/xpum_rest_main.py`` routes
``POST /rest/v1/devices/<int:deviceId>/diagnostics`` and ``GET`` of the same path (both with auth);
``rest/views/diagnostics.py`` answers the POST 201 ``{"result": "OK"}``, or ``{"Status": n, "Message": m}`` with
400 for "invalid level", 404 for "device not found", 500 else; ``rest/stub/diagnostics.py`` gives the GET body
(``device_id, level, finished, result`` Pass/Fail/Unknown, ``message, component_count, start_time[, end_time]``,
``component_list`` of ``component_type`` (the ``XPUM_DIAG_*`` enum names), ``finished, result, message``).
xpu-smi polls every 3 s for up to 30 minutes (``cli/src/core_stub/lib_core_stub.cpp`` runDiagnostics): so does this.
"""
from __future__ import annotations

import time

from checks.xpum.errors import XpumError

POLL_SECONDS = 3.0
LIMIT_SECONDS = 30 * 60.0


def component_name(raw: str) -> str:
    """XPUM_DIAG_SOFTWARE_ENV_VARIABLES -> Software Env Variables."""
    words = (raw or "?").removeprefix("XPUM_DIAG_").split("_")
    return " ".join(w if w in ("PCIE",) else w.capitalize() for w in words).replace("PCIE", "PCIe")


def gpus(client) -> list:
    """[{device_id, pci_bdf_address, ...}] of /rest/v1/devices."""
    return list((client._get_json("/rest/v1/devices") or {}).get("devices", []))


def run_level(client, device_id: int, level: int, poll: float = POLL_SECONDS, limit: float = LIMIT_SECONDS,
              sleep=time.sleep) -> dict:
    """Start `level` on GPU `device_id` and return the finished result (upstream's GET body)."""
    path = "/rest/v1/devices/%d/diagnostics" % device_id
    r = client._get(path, method="POST", json_body={"level": level})
    if r.status_code != 201:
        try:
            message = r.json().get("Message") or r.text
        except (ValueError, AttributeError):
            message = " ".join(r.text.split())[:160]
        raise XpumError("http", "POST %s%s answered %d: %s" % (client.url, path, r.status_code, message),
                        url=client.url, status=r.status_code)
    started = time.monotonic()
    while True:
        res = client._get_json(path, device_id=device_id)
        if res.get("finished"):
            return res
        if time.monotonic() - started >= limit:
            raise XpumError("timeout", "diagnostics on GPU %d not finished after %g s" % (device_id, limit),
                            url=client.url)
        sleep(poll)
