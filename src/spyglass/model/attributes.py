"""Typed attributes (Jaeger tags, OTLP attributes, Zipkin annotations) as plain Python values.

The Python type of a value is its attribute type, so no separate type tag is stored:

=========  ================================  ======================
Python     OTLP ``AnyValue``                 Jaeger ``ValueType``
=========  ================================  ======================
``str``    ``string_value``                  STRING
``bool``   ``bool_value``                    BOOL
``int``    ``int_value`` (int64)             INT64
``float``  ``double_value``                  FLOAT64
``bytes``  ``bytes_value``                   BINARY
``list``   ``array_value``                   STRING (JSON text)
``dict``   ``kvlist_value``                  STRING (JSON text)
``None``   empty ``AnyValue``                STRING ``""``
=========  ================================  ======================

Attributes are kept as an ordered list of ``KeyValue`` rather than a dict because Jaeger
tags may repeat a key and their order is visible in the UI.
"""

from __future__ import annotations

import base64
import json
from typing import NamedTuple, Union

AttrValue = Union[str, bool, int, float, bytes, list["AttrValue"], dict[str, "AttrValue"], None]


class KeyValue(NamedTuple):
    """One attribute: a key and a typed value (see the module docstring for the types)."""

    key: str
    value: AttrValue


def _jsonable(value: AttrValue) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def attr_as_string(value: AttrValue) -> str:
    """The string form Jaeger compares tag searches against (``KeyValue.AsString`` in Go).

    bool is ``true``/``false``, integers are decimal, floats use Go's ``%.10g``, binary is
    lower-case hex, and arrays and maps are their JSON text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, ".10g")
    if isinstance(value, bytes):
        return value.hex()
    if value is None:
        return ""
    return json.dumps(_jsonable(value), separators=(",", ":"))


def find_attr(attributes: list[KeyValue], key: str) -> AttrValue | None:
    """The value of the first attribute named ``key``, or None when there is none."""
    for kv in attributes:
        if kv.key == key:
            return kv.value
    return None
