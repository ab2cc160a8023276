"""The XPU Manager client: 1.x REST (``xpum_rest``) and the 2.x Prometheus exporter (``xpumd``).

One client for the checks, ``invoke status/metrics`` and the HTTP service, on the standard library
alone (it runs on verified hosts). Facts it relies on: shared/reference/xpumanager.md and the modules'
docstrings, which name their upstream sources. One concern per module:

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

from checks.xpum.client import XpumClient, connect
from checks.xpum.errors import KINDS, NOT_RETRIED, Secret, XpumError, redact_url
from checks.xpum.facts import gather
from checks.xpum.metrics import METRIC_KEYS, METRICS, TILE_KEYS, UNITS
from checks.xpum.settings import (
    DEFAULT_URLS,
    DEFAULT_USER,
    NATIVE_CERT,
    ConnectionSettings,
    candidate_urls,
    credentials,
    load_credentials,
    read_credentials_file,
    validate_url,
)
from checks.xpum.transport import PRECHECK_TIMEOUT
from checks.xpum.values import norm_bdf, norm_pci_id

MIB = 1024 * 1024

__all__ = [
    "DEFAULT_URLS", "DEFAULT_USER", "KINDS", "METRICS", "METRIC_KEYS", "MIB", "NATIVE_CERT", "NOT_RETRIED",
    "PRECHECK_TIMEOUT", "TILE_KEYS", "UNITS", "ConnectionSettings", "Secret", "XpumClient", "XpumError",
    "candidate_urls", "connect", "credentials", "gather", "load_credentials", "norm_bdf", "norm_pci_id",
    "read_credentials_file", "redact_url", "validate_url",
]
