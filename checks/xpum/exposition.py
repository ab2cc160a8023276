"""A small parser of the Prometheus text exposition format (version 0.0.4, and OpenMetrics' ``# EOF``).

It reads what the XPU Manager client needs: sample names, labels (escapes ``\\\\``, ``\\"``, ``\\n``),
values (``NaN``, ``+Inf``, ``-Inf`` included), optional timestamps, ``# HELP``/``# TYPE`` lines (the
declared family names), other comments ignored, ``# EOF`` ends the text. Anything else raises
ValueError (the client turns it into a protocol error). Sample names are kept as written (a counter's
``_total`` stays), as ``prometheus_client``'s parser gives them for counters that end in ``_total``.

Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (text-based format).
"""

from __future__ import annotations

import re
from collections import namedtuple

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*(,?)[ \t]*')
_VALUE = re.compile(
    r"[ \t]+([+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf(?:inity)?)))"
    r"(?:[ \t]+(-?[0-9]+(?:\.[0-9]*)?))?[ \t]*$"
)
_CLOSE = re.compile(r"[ \t]*\}")
_ESCAPE = re.compile(r"\\(.)")
_UNESCAPE = {"\\": "\\", '"': '"', "n": "\n"}
TYPES = ("counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset", "gaugehistogram")


# timestamp: seconds (the text carries milliseconds), None when the line has none
Sample = namedtuple("Sample", "name labels value timestamp", defaults=(None,))


class Exposition(dict):
    """sample name -> [Sample, ...] in the order of the text; ``families``: the names declared by
    ``# HELP``/``# TYPE`` lines and the sample names; ``types``: name -> declared type."""

    def __init__(self):
        super().__init__()
        self.families: set = set()
        self.types: dict = {}


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _UNESCAPE.get(m.group(1), "\\" + m.group(1)), text)


def _labels(line: str, pos: int, n: int) -> tuple:
    """Parse ``name="value",...}`` from ``pos`` (just after the ``{``); (labels, position after the ``}``)."""
    labels: dict = {}
    while True:
        close = _CLOSE.match(line, pos)
        if close:
            return labels, close.end()
        m = _LABEL.match(line, pos)
        if not m:
            raise ValueError(f"line {n}: bad label")
        name = m.group(1)
        if name in labels:
            raise ValueError(f"line {n}: label {name} twice")
        labels[name] = _unescape(m.group(2))
        pos = m.end()
        if not m.group(3):  # no comma: the set ends here
            close = _CLOSE.match(line, pos)
            if not close:
                raise ValueError(f"line {n}: ',' or '}}' expected after label {name}")
            return labels, close.end()


def _comment(out: Exposition, line: str, n: int):
    parts = line[1:].split(None, 2)
    if len(parts) < 2 or parts[0] not in ("HELP", "TYPE"):
        return  # a comment
    if not _NAME.fullmatch(parts[1]):
        raise ValueError(f"line {n}: bad metric name in # {parts[0]}")
    if parts[0] == "TYPE":
        typ = parts[2].strip() if len(parts) > 2 else ""
        if typ not in TYPES:
            raise ValueError(f"line {n}: unknown type {typ!r}")
        out.types[parts[1]] = typ
    out.families.add(parts[1])


def parse(text: str) -> Exposition:
    """The samples of a Prometheus text exposition; ValueError on anything that is not one."""
    out = Exposition()
    ended = False
    for n, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            continue
        if ended:
            raise ValueError(f"line {n}: text after # EOF")
        if line.startswith("#"):
            if line.rstrip() == "# EOF":
                ended = True
            else:
                _comment(out, line, n)
            continue
        m = _NAME.match(line)
        if not m:
            raise ValueError(f"line {n}: no metric name")
        name, pos = m.group(), m.end()
        labels: dict = {}
        rest = line[pos:].lstrip(" \t")
        if rest.startswith("{"):
            labels, pos = _labels(line, line.index("{", pos) + 1, n)
        v = _VALUE.match(line, pos)
        if not v:
            raise ValueError(f"line {n}: no value for {name}")
        ts = v.group(2)
        sample = Sample(name, labels, float(v.group(1)), None if ts is None else float(ts) / 1000.0)
        out.setdefault(name, []).append(sample)
        out.families.add(name)
    return out
