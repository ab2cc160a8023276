"""The XPU Manager client: 1.x REST (``xpum_rest``) and the 2.x Prometheus exporter (``xpumd``).

One client for the checks, ``invoke status/metrics`` and the HTTP service, on the standard library
alone (it runs on verified hosts). Facts it relies on come from intel/xpumanager; each
module's docstring names the upstream files it follows. One concern per module:

``errors``      XpumError and its kinds, the password's Secret
``settings``    ConnectionSettings (flag, then environment), URLs, credentials
``transport``   HTTP(S) over ``http.client`` + ``ssl``: precheck, TLS messages, keep-alive pool
``rest1x``      the 1.x REST API (list, health, stats, concurrent waves)
``exposition``  a parser of the Prometheus text format
``prometheus``  the 1.x and 2.x exporter dialects (GPUs by BDF, hw_status, series -> metrics)
``metrics``     THE metric table (key, unit, sources, factors, tile reduction) and what derives from it
``metric_table``  `python -m checks.xpum.metric_table --markdown`: the units table for the docs
``client``      XpumClient (detect, list, health, metrics, state, overview) and connect()
``facts``       gather(): the checks' one-shot facts

Cheap to import: ``ssl`` and ``http.client`` load only when a request is made, and a plain socket
connect first tells whether anything listens at all (refused -> neither is imported).
"""

import importlib

# Public names -> the module that holds them. Imported on first use (PEP 562), so ``import checks.xpum``
# costs next to nothing and ``python -m checks`` loads only what the XPU Manager checks it runs need.
_WHERE = {
    "XpumClient": "client", "connect": "client",
    "KINDS": "errors", "NOT_RETRIED": "errors", "Secret": "errors", "XpumError": "errors", "redact_url": "errors",
    "gather": "facts",
    "METRICS": "metrics", "METRIC_KEYS": "metrics", "MIB": "metrics", "TILE_KEYS": "metrics", "UNITS": "metrics",
    "DEFAULT_URLS": "settings", "DEFAULT_USER": "settings", "NATIVE_CERT": "settings", "ConnectionSettings": "settings",
    "NATIVE_URL": "settings", "may_send_credentials": "settings",
    "candidate_urls": "settings", "credentials": "settings", "load_credentials": "settings",
    "read_credentials_file": "settings", "validate_url": "settings",
    "PRECHECK_TIMEOUT": "transport",
    "norm_bdf": "values", "norm_pci_id": "values",
}
_MODULES = ("client", "errors", "exposition", "facts", "metric_table", "metrics", "prometheus", "rest1x", "settings",
            "transport", "values")
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f"checks.xpum.{name}")
    if name in _WHERE:
        value = getattr(importlib.import_module(f"checks.xpum.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'checks.xpum' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE) | set(_MODULES))
