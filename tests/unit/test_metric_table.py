"""The one metric table (checks.xpum.metrics) and what is derived from it: the service's response model,
the monitor's keys, the CLI's units, and the units table in docs/api.md."""

import pathlib
import subprocess
import sys

import pytest

from checks.xpum import metrics as T

ROOT = pathlib.Path(__file__).resolve().parents[2]
START, END = "<!-- metric-table:start -->", "<!-- metric-table:end -->"


def test_docs_api_md_has_the_current_table():
    doc = ROOT / "docs" / "api.md"
    if not doc.is_file():
        pytest.skip("docs/api.md does not exist (yet): nothing to compare the metric table with")
    text = doc.read_text()
    assert START in text and END in text, f"docs/api.md has no {START} ... {END} section"
    current = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert current == T.markdown().strip(), "regenerate it: python -m checks.xpum.metric_table --markdown"


def test_markdown_command():
    r = subprocess.run([sys.executable, "-m", "checks.xpum.metric_table", "--markdown"], cwd=ROOT, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == T.markdown()
    rows = [line for line in r.stdout.splitlines()[2:] if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(T.METRIC_KEYS)
    bad = subprocess.run([sys.executable, "-m", "checks.xpum.metric_table"], cwd=ROOT, capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


def test_everything_derives_from_the_table():
    from xpu_ops import cli, monitor
    from xpu_ops.service import create_app

    assert monitor.METRIC_KEYS == T.METRIC_KEYS and monitor.TILE_KEYS == T.TILE_KEYS
    assert set(T.TILE_KEYS) < set(T.METRIC_KEYS)
    schemas = create_app().openapi()["components"]["schemas"]
    assert [k for k in schemas["Metrics"]["properties"] if k != "tiles"] == list(T.TILE_KEYS) + [
        k for k in T.METRIC_KEYS if k not in T.TILE_KEYS]
    assert [k for k in schemas["Tile"]["properties"] if k != "tile_id"] == list(T.TILE_KEYS)
    for m in T.METRICS:
        assert schemas["Metrics"]["properties"][m.key]["description"] == m.description
    body = {"device_id": 0, "timestamp": "t", "health": {"status": "healthy", "components": {}},
            "metrics": {k: float(n) for n, k in enumerate(T.METRIC_KEYS)}}
    text = cli.render_metrics(body)
    for n, (key, unit) in enumerate(T.UNITS):
        assert f"{key:<21}{float(n):.2f} {unit}" in text


def test_every_metric_has_a_source_and_consistent_reductions():
    for m in T.METRICS:
        assert m.rest_1x or m.exporter_1x or m.exporter_2x, m.key
        assert m.reduce in (max, sum) and m.tiles in (None, max, sum, T.mean)
        for s in m.exporter_1x + m.exporter_2x:
            assert s.factor > 0 and all(f.op in ("in", "not in") for f in s.filters)
