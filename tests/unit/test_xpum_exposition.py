"""checks.xpum.exposition (the client's own Prometheus text parser) against prometheus_client's parser,
on exposition text shaped from upstream (tests/fixtures/upstream/*/SOURCE.md), and the dialects on it;
and: the client on the target side loads no third-party package."""

import glob
import json
import math
import pathlib
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from checks.xpum import exposition
from checks.xpum import prometheus as P
from checks.xpum.metrics import MIB

ROOT = pathlib.Path(__file__).resolve().parents[2]
UPSTREAM = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
FIXTURES = [UPSTREAM / "xpumanager-1.x" / "exporter_metrics.prom",
            UPSTREAM / "xpumanager-2.x" / "metrics_TestMetrics.prom"]
STATS = UPSTREAM / "xpumanager-1.x" / "rest_v1_devices_0_stats.json"


def ours(text):
    """[(name, labels, value, timestamp)] as prometheus_client names them: it appends _total to the samples
    of a counter whose declared name lacks it (checks.xpum keeps the name as written)."""
    exp = exposition.parse(text)
    out = []
    for name, samples in exp.items():
        shown = name + "_total" if exp.types.get(name) == "counter" and not name.endswith("_total") else name
        out += [(shown, s.labels, s.value, s.timestamp) for s in samples]
    return out


def theirs(text):
    return [(s.name, s.labels, s.value, s.timestamp) for f in text_string_to_metric_families(text) for s in f.samples]


def canonical(samples):
    """Comparable: NaN equals NaN, order does not matter."""
    return sorted((n, sorted(labels.items()), "nan" if math.isnan(v) else v, t) for n, labels, v, t in samples)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.parent.name + "/" + p.name)
def test_upstream_exposition_parses_like_prometheus_client(path):
    text = path.read_text()
    mine = ours(text)
    assert len(mine) == sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    assert canonical(mine) == canonical(theirs(text))


EDGES = {
    "escapes": 'a{l="back\\\\slash \\"quoted\\" new\\nline",empty=""} 1\n',
    "unknown escape kept": 'a{l="x\\ty"} 1\n',
    "special values": "a{k=\"1\"} NaN\na{k=\"2\"} +Inf\na{k=\"3\"} -Inf\na{k=\"4\"} -1.5e-3\n",
    "timestamps": "a 1 1700000000000\na{k=\"x\"} 2 -5\n",
    "comments and blank lines": "# just a comment\n\n# HELP a help with \\\\ and \\n\n# TYPE a gauge\na 1\n\n",
    "trailing comma, spaces": 'a{ k = "v" , } 1  \n',
    "no labels, braces empty": "a{} 3\nb 4\n",
    "counter named without _total": "# TYPE c counter\nc 5\n",
    "CRLF lines": "# TYPE a gauge\r\na{k=\"v\"} 1\r\n",
    "EOF": "a 1\n# EOF\n",
}


@pytest.mark.parametrize("text", EDGES.values(), ids=EDGES.keys())
def test_edge_cases_like_prometheus_client(text):
    assert canonical(ours(text)) == canonical(theirs(text))


def test_values_labels_and_families():
    exp = exposition.parse(EDGES["escapes"] + EDGES["special values"] + "# TYPE hw_gpu_info gauge\n")
    assert exp["a"][0].labels == {"l": 'back\\slash "quoted" new\nline', "empty": ""}
    assert [s.value for s in exp["a"][2:4]] == [math.inf, -math.inf] and math.isnan(exp["a"][1].value)
    assert "hw_gpu_info" in exp.families and "hw_gpu_info" not in exp  # declared, no sample
    assert exposition.parse(EDGES["timestamps"])["a"][0].timestamp == 1700000000.0


@pytest.mark.parametrize("garbage", [
    "<html><body>upstream proxy says hello</body></html>\x00\xff not json",
    '{"devices": []}',
    "a{l=\"unterminated} 1\n",
    "a{l=x} 1\n",
    "a{l=\"v\" m=\"w\"} 1\n",
    "a{l=\"v\",l=\"w\"} 1\n",
    "a\n",
    "a one\n",
    "a 1 2 3\n",
    "a 1_000\n",
    "1a 1\n",
    "# TYPE a flavour\na 1\n",
    "a 1\n# EOF\nb 2\n",
])
def test_garbage_raises(garbage):
    with pytest.raises(ValueError):
        exposition.parse(garbage)


def test_1x_exporter_dialect_on_upstream_shaped_text():
    """The 1.x exporter text made from the upstream stats sample: the GPU and its metrics, in our units,
    as the stats (avg fields, upstream's exporter default) say."""
    fams = P.parse(FIXTURES[0].read_text())
    stats = json.loads(STATS.read_text())
    tiles = [{e["metrics_type"]: e for e in t["data_list"]} for t in stats["tile_level"]]
    device = {e["metrics_type"]: e for e in stats["device_level"]}
    (gpu,) = P.gpus(fams, P.DIALECT_1X)
    assert (gpu["device_id"], gpu["pci_bdf_address"], gpu["pci_device_id"], gpu["drm_device"]) == (
        0, "0000:29:00.0", "0x0bd5", "/dev/dri/card1")
    m = P.metrics(fams, P.DIALECT_1X, gpu["pci_bdf_address"], 0)
    assert m["power_usage"] == device["XPUM_STATS_POWER"]["avg"]
    assert m["energy"] == pytest.approx(device["XPUM_STATS_ENERGY"]["value"] / 1000)
    assert m["memory_used"] == pytest.approx(sum(t["XPUM_STATS_MEMORY_USED"]["avg"] for t in tiles) / MIB)
    assert m["temperature"] == max(t["XPUM_STATS_GPU_CORE_TEMPERATURE"]["avg"] for t in tiles)
    assert m["memory_temperature"] == max(t["XPUM_STATS_MEMORY_TEMPERATURE"]["avg"] for t in tiles)
    utils = [t["XPUM_STATS_GPU_UTILIZATION"]["avg"] for t in tiles]
    assert m["gpu_utilization"] == pytest.approx(sum(utils) / len(utils))
    assert [t["tile_id"] for t in m["tiles"]] == [0, 1]
    assert m["tiles"][1]["frequency"] == tiles[1]["XPUM_STATS_GPU_FREQUENCY"]["avg"]


def test_2x_dialect_on_upstream_assertions():
    """xpumd's own integration-test expectations: one GPU by its BDF, its identity and component states."""
    fams = P.parse(FIXTURES[1].read_text())
    assert P.has_gpu_info(fams)
    (gpu,) = P.gpus(fams, P.DIALECT_2X)
    assert (gpu["pci_bdf_address"], gpu["pci_device_id"], gpu["pci_vendor_id"], gpu["device_name"]) == (
        "0000:05:00.0", "0x0bd5", "0x8086", "gpu-1")
    status, components = P.health_2x(fams, gpu["pci_bdf_address"])
    assert components["memory"]["status"] == "ok" and components["gpu"]["status"] == "ecc_disabled"
    # intel/xpumanager xpumd/config-example.yaml (34c32c6e): the default mapping has no key for ecc_* states, so
    # its "*" entry makes them a warning
    assert components["gpu"]["severity"] == "warning" and status == "warning"
    m = P.metrics(fams, P.DIALECT_2X, gpu["pci_bdf_address"], 0)
    # the assertions' values: 16 GiB of HBM with 8 GiB used, 48 C (statistic="max"), 1.2 GHz avg, 5 J
    assert (m["memory_total"], m["memory_used"], m["temperature"], m["memory_temperature"]) == (16384, 8192, 48, 48)
    assert (m["frequency"], m["energy"], m["derived_from_tiles"]) == (1200, 5, [])


def _interpreters():
    """This one, and pyenv's from 3.9 (the oldest the target side supports), one per minor version."""
    found = {}
    for exe in [sys.executable, *sorted(glob.glob("/root/.pyenv/versions/*/bin/python"))]:
        r = subprocess.run([exe, "-c", "import sys; print('%d %d' % sys.version_info[:2])"], capture_output=True,
                           text=True, timeout=30)
        version = tuple(map(int, r.stdout.split())) if r.returncode == 0 else ()
        if version >= (3, 9):
            found.setdefault(version, exe)
    return list(found.values())


@pytest.mark.parametrize("python", _interpreters())
def test_target_side_loads_no_third_party_package(python):
    """import checks.xpum and a full gather against the 1.x stand-in (TLS, auth, 3 GPUs) and the 2.x one:
    only the standard library (no httpx, anyio, certifi, prometheus_client, pydantic), on every Python here."""
    from tests.support.xpum_standins import DEFAULT_PASSWORD, Xpum1Rest, Xpum2Exporter, arc_a770, flex_170, max_1550

    with Xpum1Rest(gpus=[arc_a770(), max_1550(), flex_170()]) as v1, Xpum2Exporter(gpus=[max_1550()]) as v2:
        code = (
            "import sys, json\n"
            "at_start = set(sys.modules)\n"  # what the interpreter's own site loads is not ours
            "import checks.xpum as x\n"
            f"one = x.gather(url={v1.url!r}, env={{'XPU_MANAGER_PASSWORD': {DEFAULT_PASSWORD!r}}}, "
            f"ca_file={v1.ca_file!r})\n"
            f"two = x.gather(url={v2.url!r}, env={{}})\n"
            "with x.XpumClient(" + repr(v1.url) + ", password=" + repr(DEFAULT_PASSWORD) + ", ca_file="
            + repr(v1.ca_file) + ") as c:\n    c.overview()\n"
            "bad = sorted({m.split('.')[0] for m in set(sys.modules) - at_start} & {'httpx', 'httpcore', 'anyio',"
            " 'certifi', 'prometheus_client', 'pydantic', 'h11', 'idna', 'sniffio'})\n"
            "print(json.dumps([bad, one['error'], len(one['gpus']), two['error'], len(two['gpus'])]))\n"
        )
        out = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             check=True)
    bad, err1, n1, err2, n2 = json.loads(out.stdout)
    assert (err1, n1, err2, n2) == (None, 3, None, 1)
    assert bad == []
