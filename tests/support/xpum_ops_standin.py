"""XPU Manager 1.x REST stand-in with the diagnostics and config routes (tests only), over ``Xpum1Rest``.

A separate module so that the base stand-in (tests/support/xpum_standins.py) stays as it is; written from
intel/xpumanager at 57e44f558a3c3f4e7ec3cdfae6ccd8739ffb3be5:

- ``rest/xpum_rest_main.py``: ``POST`` and ``GET /rest/v1/devices/<int:deviceId>/diagnostics``, ``GET
  /rest/v1/devices/<int:deviceId>/config`` (all with auth).
- ``rest/views/diagnostics.py``: the POST reads ``{"level": n}`` and answers 201 ``{"result": "OK"}``; errors
  ``{"Status": 1, "Message": m}`` with 404 ("device not found"), 400 ("invalid level", from
  ``rest/stub/diagnostics.py``: level not in 1-3) or 500; the GET answers 200 with the result, 404 for an
  unknown device, 500 with the core's message when no diagnostics ran on the device yet.
- ``rest/stub/diagnostics.py``: the result keys (``device_id, level, finished, result, message,
  component_count, start_time[, end_time], component_list`` of ``component_type`` as the ``XPUM_DIAG_*`` names).
- ``rest/views/device_config.py`` + ``rest/stub/config.py``: the config GET needs a JSON body with an int
  ``tile_id`` (-1: every tile), else 500 with a JSON string ("json string is missing", "json string is invalid",
  "Invalid Parameter tileId"); keys ``device_id, power_limit, power_valid_range, memory_ecc_current_state,
  memory_ecc_pending_state, tile_config_data`` (tile_id, min/max_frequency, gpu_frequency_valid_options,
  standby_mode, standby_mode_valid_options, scheduler_mode, ...).

Which tests each level runs and their messages are the xpu-smi stand-in's (tests/support/xpu_smi_standin.py),
both from core/src/diagnostic. ``diag_polls``: how many GETs answer ``finished: false`` before the result (the
real core runs for seconds to minutes); ``diag_fail``: component names (``XPUM_DIAG_*``) that fail.
"""
from __future__ import annotations

import json
import time

from tests.support import xpu_smi_standin as S
from tests.support.xpum_standins import FLASK_404, Xpum1Rest


class Xpum1RestOps(Xpum1Rest):
    def __init__(self, *a, diag_polls: int = 0, diag_fail=(), **kw):
        super().__init__(*a, **kw)
        self.diag_polls = diag_polls
        self.diag_fail = set(diag_fail)
        self.diag_tasks: dict = {}         # device id -> {"level", "start", "polls"}
        self.diag_posts: list = []          # (device id, body) of every POST

    def route(self, h, method, path):
        parts = path.rstrip("/").split("/")[1:]
        if len(parts) == 5 and parts[:3] == ["rest", "v1", "devices"] and parts[3].isdigit() and \
                parts[4] in ("diagnostics", "config"):
            if not self._auth(h):
                return
            dev = int(parts[3])
            body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
            if parts[4] == "config":
                return self._config(h, dev, body) if method == "GET" else \
                    h.send(405, FLASK_404, "text/html; charset=utf-8")
            if method == "POST":
                return self._diag_start(h, dev, body)
            if method == "GET":
                return self._diag_result(h, dev)
            return h.send(405, FLASK_404, "text/html; charset=utf-8")
        return super().route(h, method, path)

    def _diag_start(self, h, dev, body):
        req = json.loads(body or b"null")         # upstream: request.get_json(); req["level"]
        with self._lock:
            self.diag_posts.append((dev, req))
        level = req["level"]
        if dev >= len(self.gpus):
            return h.send(404, {"Status": 1, "Message": "device not found"})
        if level not in (1, 2, 3):
            return h.send(400, {"Status": 1, "Message": "invalid level"})
        self.diag_tasks[dev] = {"level": level, "start": time.time(), "polls": 0}
        return h.send(201, {"result": "OK"})

    def _diag_result(self, h, dev):
        if dev >= len(self.gpus):
            return h.send(404, {"Status": 1, "Message": "device not found"})
        task = self.diag_tasks.get(dev)
        if task is None:
            return h.send(500, {"Status": 1, "Message": "Error"})
        task["polls"] += 1
        finished = task["polls"] > self.diag_polls
        comps = []
        for lv in range(1, task["level"] + 1):
            for raw, _name, msg in S.LEVEL_TESTS[lv]:
                fail = raw in self.diag_fail
                comps.append({"component_type": raw, "finished": finished,
                              "result": ("Fail" if fail else "Pass") if finished else "Unknown",
                              "message": ("Fail to check %s." % raw) if fail else (msg if finished else "")})
        ok = all(c["result"] == "Pass" for c in comps)
        data = {"device_id": dev, "level": task["level"], "finished": finished,
                "result": ("Pass" if ok else "Fail") if finished else "Unknown",
                "message": "" if finished else "Doing diagnostics", "component_count": len(comps),
                "start_time": S.iso(task["start"]), "component_list": comps}
        if finished:
            data["end_time"] = S.iso(time.time())
        return h.send(200, data)

    def _config(self, h, dev, body):
        try:
            req = json.loads(body) if body else None
        except ValueError:
            req = None
        if not isinstance(req, dict):
            return h.send(500, json.dumps("json string is missing"))
        if "tile_id" not in req:
            return h.send(500, json.dumps("json string is invalid"))
        if type(req["tile_id"]) is not int:
            return h.send(500, json.dumps("Invalid Parameter tileId"))
        if req["tile_id"] < -1:
            return h.send(500, json.dumps("invalid Parameter tileId"))
        if dev >= len(self.gpus):
            return h.send(500, {"Status": 1, "Message": "device Id or tile Id is invalid"})
        d = json.loads(json.dumps(S.DEFAULT_STATE))["devices"][0]
        view = S._config_view(d)
        view["device_id"] = dev
        view["power_limit"] = view.pop("pl_card_sustain")
        view.pop("pcie_downgrade_current_state", None)
        return h.send(200, view)
