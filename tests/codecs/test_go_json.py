"""Go encoding/json output: HTML escaping, float forms, MarshalIndent."""

from __future__ import annotations

import math

import pytest

from spyglass.codecs.go_json import GoFloat, dumps, format_float


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (72.5, "72.5"),
        (-0.0, "-0"),
        (0.0, "0"),
        (0.1, "0.1"),
        (1e16, "10000000000000000"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.234e-10, "1.234e-10"),
        (123456789.125, "123456789.125"),
        (-2.5, "-2.5"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
    ],
)
def test_format_float(value: float, text: str) -> None:
    assert format_float(value) == text


def test_dumps_compact_escapes_html_and_line_separators() -> None:
    out = dumps({"s": "<a href='x'>&</a>\u2028\u2029é\x01", "n": None, "b": True, "i": 1 << 60})
    assert out == (
        b'{"s":"\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e\\u2028\\u2029\xc3\xa9\\u0001",'
        b'"n":null,"b":true,"i":1152921504606846976}'
    )


def test_dumps_go_floats_and_non_finite() -> None:
    assert dumps([GoFloat(1.0), GoFloat(2.5), GoFloat(1e16)]) == b"[1,2.5,10000000000000000]"
    assert dumps([GoFloat(math.nan), GoFloat(math.inf), GoFloat(-math.inf)]) == b'["NaN","Infinity","-Infinity"]'


def test_dumps_indent_like_marshal_indent() -> None:
    obj = {"data": [{"a": [], "b": {}, "c": [1, {"d": "x  y"}]}], "total": 0}
    expected = (
        "{\n"
        '    "data": [\n'
        "        {\n"
        '            "a": [],\n'
        '            "b": {},\n'
        '            "c": [\n'
        "                1,\n"
        "                {\n"
        '                    "d": "x  y"\n'
        "                }\n"
        "            ]\n"
        "        }\n"
        "    ],\n"
        '    "total": 0\n'
        "}"
    )
    assert dumps(obj, "    ").decode() == expected
    assert dumps(obj, "\t").decode() == expected.replace("    ", "\t")


def test_go_float_writes_what_gofloat_writes() -> None:
    """``go_float`` leaves a value to orjson only where orjson's text is Go's."""
    import random

    from spyglass.codecs.go_json import go_float

    rng = random.Random(7)
    values = [0.0, -0.0, 1.0, 2.5, 1e-4, 0.99999e-4, 1e15, 999999999999999.9, 1e16, 1e21, 1e-7, 123456.0,
              float("nan"), float("inf"), -float("inf")]
    for _ in range(20000):
        values += [10 ** rng.uniform(-9, 23), -10 ** rng.uniform(-9, 23), rng.randint(0, 10**6) / 60,
                   float(rng.randint(-10**17, 10**17))]
    for v in values:
        assert dumps([go_float(v)]) == dumps([GoFloat(v)]), v
