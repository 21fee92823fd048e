"""JSON text byte-for-byte as Go's ``encoding/json`` writes it.

Jaeger's query API answers are marshalled by Go, and clients (and tests written against
Jaeger) compare bytes: the UI's "Trace JSON" view, downloads, snapshot tests. orjson does
the heavy lifting here; this module adds what Go does differently:

* ``<``, ``>`` and ``&`` are written as ``\\u003c``, ``\\u003e`` and ``\\u0026``, and
  U+2028/U+2029 as ``\\u2028``/``\\u2029`` (Go's HTML-safe default). These characters can
  only occur inside JSON strings, so replacing them in the finished text is exact.
* Floats use Go's shortest form: ``1`` not ``1.0``, ``10000000000000000`` not ``1e+16``,
  exponents only below 1e-6 or from 1e21 on (``1e-7``, ``1e+21``). Plain Python floats
  are written by orjson (fast, but in Python's style); wrap a value in ``GoFloat`` where
  Go's form matters. Go cannot write NaN or infinities at all; ``GoFloat`` writes them as
  the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (as protobuf's JSON does) rather
  than failing the whole response.
* ``json.MarshalIndent`` with any indent string: orjson indents by two spaces, and since
  JSON text has no raw newlines inside strings, each line's indent is rewritten.

Map keys: Go sorts them; build dicts in sorted order where the Go type is a map.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson

_HTML_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


class GoFloat(float):
    """A float64 that must be written the way Go's ``encoding/json`` writes it."""

    __slots__ = ()


def go_float(value: float) -> float:
    """``value`` itself where orjson already writes Go's text (not a whole number, from 1e-4
    up to 1e15: the same shortest digits, no exponent), else ``GoFloat(value)``: skips the
    per-value callback for the tens of thousands of points of a metrics answer."""
    if 1e-4 <= abs(value) < 1e15 and not value.is_integer():
        return value
    return GoFloat(value)


def format_float(value: float) -> str:
    """Go's ``encoding/json`` text for a finite float64."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    # Fast path (metrics answers write tens of thousands of floats): Python's repr has the
    # same shortest digits as Go and writes no exponent from 1e-4 to 1e16, where Go writes
    # none either; only the ".0" of whole numbers differs.
    text = repr(value)
    if "e" not in text and "n" not in text:
        return text[:-2] if text.endswith(".0") else text
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exponent)  # position of the decimal point in ``text``
    magnitude = abs(value)
    prefix = "-" if sign else ""
    if 1e-6 <= magnitude < 1e21:
        if point <= 0:
            return prefix + "0." + "0" * -point + text
        if point >= len(text):
            return prefix + text + "0" * (point - len(text))
        return prefix + text[:point] + "." + text[point:]
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    exp = point - 1
    # Go writes at least two exponent digits ("e+21"), then trims "e-07" to "e-7".
    if exp < 0:
        return f"{prefix}{mantissa}e-{-exp}"
    return f"{prefix}{mantissa}e+{exp:02d}"


def _default(obj: Any) -> Any:
    if isinstance(obj, GoFloat):
        value = float(obj)
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return orjson.Fragment(format_float(value))
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any, indent: str = "") -> bytes:
    """``json.Marshal`` (or ``json.MarshalIndent(obj, "", indent)``) of ``obj``."""
    if indent:
        text = orjson.dumps(obj, default=_default, option=orjson.OPT_INDENT_2)
        if indent != "  ":
            lines = text.split(b"\n")
            unit = indent.encode()
            for i, line in enumerate(lines):
                stripped = line.lstrip(b" ")
                depth = (len(line) - len(stripped)) // 2
                if depth:
                    lines[i] = unit * depth + stripped
            text = b"\n".join(lines)
    else:
        text = orjson.dumps(obj, default=_default)
    for raw, escaped in _HTML_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text
