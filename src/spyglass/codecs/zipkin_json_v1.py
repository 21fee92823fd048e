"""Zipkin v1 JSON (``POST /api/v1/spans``, ``application/json``) <-> model.

The body is a JSON array of v1 spans::

    [{"traceId": "...", "id": "...", "parentId": "...", "name": "...", "timestamp": 1,
      "duration": 2, "debug": false,
      "annotations": [{"timestamp": 1, "value": "sr", "endpoint": {"serviceName": "a",
                       "ipv4": "10.0.0.1", "ipv6": "::1", "port": 80}}],
      "binaryAnnotations": [{"key": "http.path", "value": "/", "endpoint": {...}},
                            {"key": "sa", "value": true, "endpoint": {...}},
                            {"key": "n", "value": 5, "type": "I64"}]}]

Each v1 span becomes one or more v2 spans by ``zipkin_v1`` (Zipkin's converter rules) and
then model spans by ``zipkin_model``. A binary annotation's ``type`` (``BOOL`` ``BYTES``
``I16`` ``I32`` ``I64`` ``DOUBLE`` ``STRING``; absent = taken from the JSON value) gives
the attribute's type; ``BYTES`` values are base64. A value that does not fit its declared
type is a ``DecodeError``. ``ca``/``sa``/``ma`` with the value ``true`` and an endpoint are
address annotations; without an endpoint they are dropped (as Zipkin does).

Encoding goes model -> v2 -> v1 (``zipkin_v1.v2_to_v1``); typed attributes are written
with their ``type`` (ints as ``I64``, floats as ``DOUBLE``, bytes as base64 ``BYTES``).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from typing import Annotated, Union

import msgspec

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.zipkin_json_v2 import MAX_MICROS, parse_span_id, parse_trace_id
from spyglass.codecs.zipkin_model import Endpoint, from_model, make_endpoint
from spyglass.codecs.zipkin_v1 import (
    ADDRESS_KEYS,
    V1Annotation,
    V1BinaryAnnotation,
    V1Span,
    v1_spans_to_model,
    v2_to_v1,
)
from spyglass.model import AttrValue, Span

__all__ = ["decode_zipkin_json_v1", "encode_zipkin_json_v1"]

_Micros = Annotated[int, msgspec.Meta(ge=0, le=MAX_MICROS)]
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_INT_RANGES = {"I16": (-(1 << 15), (1 << 15) - 1), "I32": (-(1 << 31), (1 << 31) - 1), "I64": (_I64_MIN, _I64_MAX)}


class _Endpoint(msgspec.Struct, rename="camel", gc=False, omit_defaults=True):
    service_name: Union[str, None] = None
    ipv4: Union[str, None] = None
    ipv6: Union[str, None] = None
    port: Union[Annotated[int, msgspec.Meta(ge=-(1 << 15), le=0xFFFF)], None] = None


class _Annotation(msgspec.Struct, gc=False, omit_defaults=True):
    timestamp: _Micros
    value: str
    endpoint: Union[_Endpoint, None] = None


class _BinaryAnnotation(msgspec.Struct, gc=False, omit_defaults=True):
    key: str
    value: Union[str, bool, int, float]
    type: Union[str, None] = None
    endpoint: Union[_Endpoint, None] = None


class _Span(msgspec.Struct, rename="camel", gc=False, omit_defaults=True):
    trace_id: str
    id: str
    name: Union[str, None] = None
    parent_id: Union[str, None] = None
    timestamp: Union[_Micros, None] = None
    duration: Union[_Micros, None] = None
    debug: Union[bool, None] = None
    annotations: list[_Annotation] = []
    binary_annotations: list[_BinaryAnnotation] = []


_decoder = msgspec.json.Decoder(list[_Span])
_encoder = msgspec.json.Encoder()


def _endpoint(e: _Endpoint | None, cache: dict[tuple, Endpoint | None]) -> Endpoint | None:
    if e is None:
        return None
    key = (e.service_name, e.ipv4, e.ipv6, e.port)
    try:
        return cache[key]
    except KeyError:
        endpoint = cache[key] = make_endpoint(e.service_name, (e.ipv4, e.ipv6), e.port)
        return endpoint


def _typed_value(b: _BinaryAnnotation) -> AttrValue:
    """The model value of a typed binary annotation; raises DecodeError."""
    value, kind = b.value, b.type
    if kind is None:
        return value
    kind = kind.upper()
    if kind == "STRING":
        if isinstance(value, str):
            return value
    elif kind == "BOOL":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
    elif kind in _INT_RANGES:
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = _INT_RANGES[kind]
            if low <= value <= high:
                return value
            raise DecodeError(f"binary annotation {b.key!r}: {value} does not fit {kind}")
    elif kind == "DOUBLE":
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind == "BYTES":
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                pass
    else:
        raise DecodeError(f"binary annotation {b.key!r} has unknown type {b.type!r}")
    raise DecodeError(f"binary annotation {b.key!r}: value {value!r} is not a valid {kind}")


def _v1_span(s: _Span, endpoints: dict[tuple, Endpoint | None]) -> V1Span:
    parent = s.parent_id
    span = V1Span(
        trace_id=parse_trace_id(s.trace_id),
        id=parse_span_id(s.id),
        name=s.name or "",
        parent_id=parse_span_id(parent, "parentId") if parent else 0,
        timestamp=s.timestamp or 0,
        duration=s.duration or 0,
        debug=bool(s.debug),
        annotations=[V1Annotation(a.timestamp, a.value, _endpoint(a.endpoint, endpoints)) for a in s.annotations],
    )
    binary = span.binary_annotations
    for b in s.binary_annotations:
        endpoint = _endpoint(b.endpoint, endpoints)
        value = _typed_value(b)
        if b.key in ADDRESS_KEYS and value is True:
            if endpoint is not None:
                binary.append(V1BinaryAnnotation(b.key, None, endpoint))
            continue
        binary.append(V1BinaryAnnotation(b.key, value, endpoint))
    return span


def decode_zipkin_json_v1(data: bytes) -> list[Span]:
    """A Zipkin v1 JSON array as model spans; raises DecodeError."""
    try:
        raw = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DecodeError(f"invalid Zipkin v1 JSON: {exc}") from None
    except RecursionError:  # msgspec recurses once per nesting level, even when skipping
        raise DecodeError("invalid Zipkin v1 JSON: nested too deeply") from None
    endpoints: dict[tuple, Endpoint | None] = {}
    v1: list[V1Span] = []
    for i, s in enumerate(raw):
        try:
            v1.append(_v1_span(s, endpoints))
        except DecodeError as exc:
            raise DecodeError(f"span {i}: {exc}") from None
    return v1_spans_to_model(v1)


# -- encoding -----------------------------------------------------------------------------


def _json_endpoint(e: Endpoint | None) -> _Endpoint | None:
    if e is None:
        return None
    # v1 requires serviceName (py_zipkin and Zipkin write "" when unknown).
    return _Endpoint(e.service_name, e.ipv4 or None, e.ipv6 or None, e.port or None)


def _json_binary(b: V1BinaryAnnotation, endpoint: _Endpoint | None) -> _BinaryAnnotation:
    v = b.value
    if v is None:
        return _BinaryAnnotation(b.key, True, None, endpoint)
    if isinstance(v, str):
        return _BinaryAnnotation(b.key, v, None, endpoint)
    if isinstance(v, bool):
        return _BinaryAnnotation(b.key, v, "BOOL", endpoint)
    if isinstance(v, int):
        if _I64_MIN <= v <= _I64_MAX:
            return _BinaryAnnotation(b.key, int(v), "I64", endpoint)
        return _BinaryAnnotation(b.key, str(v), None, endpoint)
    if isinstance(v, float):
        if math.isfinite(v):
            return _BinaryAnnotation(b.key, v, "DOUBLE", endpoint)
        return _BinaryAnnotation(b.key, str(v), "DOUBLE", endpoint)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _BinaryAnnotation(b.key, base64.b64encode(bytes(v)).decode("ascii"), "BYTES", endpoint)
    return _BinaryAnnotation(b.key, str(v), None, endpoint)


def encode_zipkin_json_v1(spans: Sequence[Span]) -> bytes:
    """Model spans as a Zipkin v1 JSON array."""
    out = []
    for z in from_model(spans):
        v1 = v2_to_v1(z)
        endpoints: dict[Endpoint | None, _Endpoint | None] = {}

        def ep(e: Endpoint | None) -> _Endpoint | None:
            if e not in endpoints:
                endpoints[e] = _json_endpoint(e)
            return endpoints[e]

        trace_id = v1.trace_id
        out.append(
            _Span(
                trace_id=format(trace_id, "032x") if trace_id >> 64 else format(trace_id, "016x"),
                id=format(v1.id, "016x"),
                name=v1.name,
                parent_id=format(v1.parent_id, "016x") if v1.parent_id else None,
                timestamp=v1.timestamp or None,
                duration=v1.duration or None,
                debug=True if v1.debug else None,
                annotations=[_Annotation(a.timestamp, a.value, ep(a.endpoint)) for a in v1.annotations],
                binary_annotations=[_json_binary(b, ep(b.endpoint)) for b in v1.binary_annotations],
            )
        )
    return _encoder.encode(out)
