"""The checks' one-shot facts about XPU Manager (``xpum.api``, ``xpum.health``): ``gather()``."""

from __future__ import annotations

import os

from checks.xpum.client import XpumClient, connect
from checks.xpum.errors import XpumError
from checks.xpum.settings import ConnectionSettings


def _health_error(e: XpumError) -> dict:
    return {"status": "unknown", "components": {}, "temperature": None, "power_usage": None, "error": e.as_dict()}


def gather(url=None, env=os.environ, credentials_file=None, ca_file=None, insecure=None, timeout=None,
           settings: ConnectionSettings | None = None) -> dict:
    """One-shot facts about XPU Manager for the checks. Never raises.

    ``settings`` (a resolved ConnectionSettings) says where and how; without it, they are resolved here
    from the arguments (flags) and ``env`` (XPU_MANAGER_*). Tries the candidate URLs in order (a socket
    connect first, so a port where nothing listens costs no HTTP client); the first one that answers as
    1.x or 2.x is used. An explicit URL (argument or $XPU_MANAGER_URL) is the only candidate. When none
    answers, ``error`` is the most telling failure: anything that answered (TLS, HTTP, protocol,
    timeout) before "refused".
    """
    out = {
        "tried": [],
        "url": None,
        "line": None,
        "version": None,
        "explicit": bool(url) or bool(str(env.get("XPU_MANAGER_URL", "")).strip()),
        "healtz": None,
        "gpus": [],
        "error": None,
        "credentials": "none",
        "needs_credentials": False,
        "notes": [],
    }
    try:
        if settings is None:
            settings = ConnectionSettings.resolve(env, url=url, credentials_file=credentials_file, ca_file=ca_file,
                                                  insecure=insecure, timeout=timeout)
        out["explicit"], out["credentials"] = settings.explicit, settings.credentials_source
        out["notes"] += settings.warnings
    except XpumError as e:
        out["error"] = e.as_dict()
        return out
    except Exception as e:  # never raise from here
        out["error"] = {"kind": "config", "message": f"unexpected {type(e).__name__} reading the configuration"}
        return out
    try:
        client = connect(settings=settings, tried=out["tried"])
    except XpumError as e:
        out["error"] = e.as_dict()
        return out
    out.update(url=client.url, line=client.line, version=client.version)
    try:
        _fill(client, out)
    except XpumError as e:
        out["error"] = e.as_dict()
    except Exception as e:
        out["error"] = {"kind": "protocol", "message": client.scrub(f"unexpected {type(e).__name__} from {client.url}")}
    finally:
        client.close()
    return out


def _fill(client: XpumClient, out: dict):
    if client.line == "1.x" and not client._password and not client.no_auth_exporter:
        # nothing authenticated without credentials: upstream counts it as a failed login (2^n s for everyone)
        out["needs_credentials"] = True
        return
    if client.line == "1.x":
        # /healtz first: one authenticated request; a 401 stops everything, nothing is retried
        out["healtz"] = client.healtz()
        gpus = client.list_gpus()
    else:
        gpus = client._gpus_prom(client._snapshot or client._scrape())  # the scrape detect() made
    out["gpus"] = gpus
    if client._prom():
        fams = client._snapshot
        for g in gpus:
            try:
                g["health"] = client._health_prom(fams, g["device_id"])
            except XpumError as e:
                g["health"] = _health_error(e)
        return
    if gpus:
        from concurrent.futures import ThreadPoolExecutor

        def health(g):
            try:
                return client.gpu_health(g["device_id"])
            except XpumError as e:
                return _health_error(e)

        with ThreadPoolExecutor(max_workers=min(8, len(gpus))) as pool:
            for g, h in zip(gpus, pool.map(health, gpus)):
                g["health"] = h
