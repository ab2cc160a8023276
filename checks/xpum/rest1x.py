"""XPU Manager 1.x REST (``xpum_rest``): GPU list, health and stats, and concurrent waves of them.

Upstream facts (intel/xpumanager rest/xpum_rest_main.py, rest/views/*.py): everything but
``/rest/v1/version`` needs Basic auth; unknown devices answer 404 (``/devices/<id>``, ``/health``) or
400 (``/stats``); ``/devices/<id>`` carries the memory size; with ``XPUM_EXPORTER_ONLY=1`` the REST
routes do not exist (Flask's HTML 404) and only ``/metrics`` and ``/healtz`` answer.
"""

from __future__ import annotations

from checks.xpum.errors import XpumError
from checks.xpum.metrics import METRICS, combine, stats_1x
from checks.xpum.values import STATUS_1X, norm_bdf, norm_pci_id, num, overall


class RestOff(Exception):
    """A 1.x server without REST routes (XPUM_EXPORTER_ONLY=1): Flask's HTML 404 for /rest/v1/devices..."""


class Rest1x:
    """The 1.x REST half of XpumClient (it provides _get_json, _error, url, _props, _auth_confirmed)."""

    def _list_rest(self) -> list:
        return self._list_rest_from(self._get_json("/rest/v1/devices"))

    def _list_rest_from(self, data) -> list:
        devices = data.get("devices") if isinstance(data, dict) else None
        if not isinstance(devices, list):
            raise self._error("protocol", f"{self.url}/rest/v1/devices has no 'devices' list")
        out = []
        for d in devices:
            if not isinstance(d, dict) or not isinstance(d.get("device_id"), int):
                continue
            out.append(
                {
                    "device_id": d["device_id"],
                    "device_name": d.get("device_name"),
                    "pci_bdf_address": norm_bdf(d.get("pci_bdf_address")),
                    "pci_device_id": norm_pci_id(d.get("pci_device_id")),
                    "uuid": d.get("uuid"),
                    "vendor_name": d.get("vendor_name"),
                    "drm_device": d.get("drm_device"),
                    "device_type": d.get("device_type"),
                    "device_function_type": d.get("device_function_type"),
                }
            )
        return sorted(out, key=lambda g: g["device_id"])

    def _health_rest(self, device_id: int) -> dict:
        data = self._get_json(f"/rest/v1/devices/{device_id}/health", device_id=device_id)
        try:
            m = self._metrics_1x(device_id, with_total=False)
        except XpumError as e:
            if e.kind in ("auth", "notfound"):
                raise
            m = None
        return self._health_1x(device_id, data, m)

    def _health_1x(self, device_id: int, data, metrics) -> dict:
        """/health JSON (+ the metrics from /stats, or None) -> our health dict."""
        if not isinstance(data, dict):
            raise self._error("protocol", f"{self.url}/rest/v1/devices/{device_id}/health is not a JSON object")
        components = {}
        for name, comp in data.items():
            if isinstance(comp, dict) and "status" in comp:
                components[name] = {"status": comp.get("status"), "description": comp.get("description")}
        status = overall(STATUS_1X.get(c["status"], "unknown") for c in components.values())
        temperature, power = (metrics["temperature"], metrics["power_usage"]) if metrics else (None, None)
        return {"status": status, "components": components, "temperature": temperature, "power_usage": power}

    def _metrics_1x(self, device_id: int, with_total: bool = True) -> dict:
        data = self._get_json(f"/rest/v1/devices/{device_id}/stats", device_id=device_id)
        props = self._get_json(f"/rest/v1/devices/{device_id}", device_id=device_id) if with_total else None
        return self._metrics_1x_from(device_id, data, props)

    def _metrics_1x_from(self, device_id: int, data, props) -> dict:
        """/stats JSON (+ /devices/<id> for the memory size, or None) -> our metrics dict."""
        if not isinstance(data, dict):
            raise self._error("protocol", f"{self.url}/rest/v1/devices/{device_id}/stats is not a JSON object")
        device = stats_1x(data.get("device_level"))
        tiles = []
        for t in data.get("tile_level") or []:
            if isinstance(t, dict):
                tiles.append({"tile_id": t.get("tile_id"), **stats_1x(t.get("data_list"))})
        out = {"device_id": device_id, **combine(device, tiles)}
        for m in METRICS:  # values of /devices/<id> (the memory size)
            if m.rest_1x is not None and m.rest_1x.source == "device":
                v = num(props.get(m.rest_1x.field)) if isinstance(props, dict) else None
                out[m.key] = None if v is None else v * m.rest_1x.factor
        if len(tiles) > 1:
            out["tiles"] = tiles
        return out

    def _fetch_json(self, path, device_id=None):
        try:
            return self._get_json(path, device_id=device_id)
        except (XpumError, RestOff) as e:
            return e

    def _wave(self, ids, max_workers: int = 32, with_list: bool = False):
        """One concurrent wave of 1.x requests: GET /rest/v1/devices if ``with_list``, and /health,
        /stats and (unless known: the memory size does not change) /devices/<id> of each id. Returns
        (the list's JSON or exception or None, {id: {"health", "stats", "props"}}), each a JSON value or
        the exception its request raised."""
        from concurrent.futures import ThreadPoolExecutor

        jobs = [(None, None, "/rest/v1/devices")] if with_list else []
        for i in ids:
            base = f"/rest/v1/devices/{i}"
            jobs += [(i, "health", f"{base}/health"), (i, "stats", f"{base}/stats")]
            if i not in self._props:
                jobs.append((i, "props", base))
        if not jobs:
            return None, {}

        def run(job):
            return self._fetch_json(job[2], device_id=job[0])

        first = []
        if not self._auth_confirmed:  # one login first: a wrong password must cost one failed login, not 3n
            first = [run(jobs[0])]
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(jobs)))) as pool:
            results = first + list(pool.map(run, jobs[len(first):]))
        got: dict = {i: {"props": self._props.get(i, (None, None))[1]} for i in ids}
        listing = None
        for (i, part, _), value in zip(jobs, results):
            if i is None:
                listing = value
                continue
            got[i][part] = value
            if part == "props" and isinstance(value, dict):
                self._props[i] = (norm_bdf(value.get("pci_bdf_address")), value)
        return listing, got

    def _assemble(self, device_id: int, got) -> dict | None:
        """[health, stats, props] answers -> {"health", "metrics", "error", "_exc"}; None when the
        server has no REST routes. Health or metrics is None where its request failed."""
        if any(isinstance(v, RestOff) for v in got.values()):
            return None
        errors = [v for v in got.values() if isinstance(v, XpumError)]
        metrics = health = None
        try:
            if not isinstance(got["stats"], XpumError):
                props = None if isinstance(got["props"], XpumError) else got["props"]
                metrics = self._metrics_1x_from(device_id, got["stats"], props)
            if not isinstance(got["health"], XpumError):
                health = self._health_1x(device_id, got["health"], metrics)
        except XpumError as e:
            errors.append(e)
        # a vanished GPU: any of its paths said "not found"; it wins over other errors
        errors.sort(key=lambda e: (e.kind != "auth", e.kind != "notfound"))
        exc = errors[0] if errors else None
        return {"health": health, "metrics": metrics, "error": exc.as_dict() if exc else None, "_exc": exc}
