"""Normalizing what XPU Manager says: PCI BDFs and ids, numbers, health states (1.x and 2.x words)."""

from __future__ import annotations

# our health status from 1.x /devices/<id>/health component "status" and 2.x hw_status{hw_state}
STATUS_1X = {"OK": "healthy", "Warning": "warning", "Critical": "critical", "Unknown": "unknown"}
STATUS_2X = {
    "ok": "healthy",
    "warning": "warning",
    "degraded": "warning",
    "critical": "critical",
    "failed": "critical",
    "needs_cleaning": "warning",
}
RANK = {"healthy": 0, "warning": 1, "critical": 2}


def overall(statuses) -> str:
    """Worst known status wins; nothing known -> unknown."""
    known = [s for s in statuses if s in RANK]
    return max(known, key=RANK.get) if known else "unknown"


def norm_bdf(bdf) -> str | None:
    if not bdf:
        return None
    bdf = str(bdf).strip().lower()
    if bdf.count(":") == 1:
        bdf = "0000:" + bdf
    return bdf


def norm_pci_id(value) -> str | None:
    if value in (None, ""):
        return None
    try:
        return "0x%04x" % int(str(value), 16)  # noqa: UP031 - fixed-width hex
    except ValueError:
        return str(value)


def num(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_id(device_id):
    """A GPU id must be a non-negative int; anything else cannot name a GPU (kind notfound)."""
    from checks.xpum.errors import XpumError

    if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
        raise XpumError("notfound", f"GPU id must be a non-negative integer, not {device_id!r}")
