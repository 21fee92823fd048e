"""Zipkin v2 JSON (``POST /api/v2/spans``, ``application/json``) <-> model.

The body is a JSON array of spans (``zipkin2-api.yaml``)::

    [{"traceId": "...", "id": "...", "parentId": "...", "name": "...", "kind": "CLIENT",
      "timestamp": 1700000000000000, "duration": 1500, "debug": true, "shared": true,
      "localEndpoint": {"serviceName": "a", "ipv4": "10.0.0.1", "ipv6": "::1", "port": 80},
      "remoteEndpoint": {...}, "annotations": [{"timestamp": ..., "value": "..."}],
      "tags": {"k": "v"}}]

Decoding uses msgspec typed Structs (no per-field dict walking): measured ~2-3 µs/span.
The mapping onto the model is ``zipkin_model``'s. Strictness follows Zipkin's own reader:
``traceId`` is 1-32 hex characters (64 or 128 bit), ``id`` and ``parentId`` 1-16, neither
ID may be zero; times are non-negative integers; a missing ``timestamp``/``duration`` is
0; an unknown ``kind`` is no kind (upper and lower case are accepted). Leniencies,
documented: tag values that are numbers or booleans (some clients send them) are kept as
their JSON text; IP text that is not an address is dropped (as Zipkin does).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Union

import msgspec

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.zipkin_model import Endpoint, ModelBuilder, ZipkinSpan, from_model, make_endpoint, tag_text
from spyglass.model import Span

__all__ = ["decode_zipkin_json_v2", "encode_zipkin_json_v2", "parse_span_id", "parse_trace_id"]

# Largest µs value whose ns value still fits in a signed 64-bit integer (storage packs ns).
MAX_MICROS = ((1 << 63) - 1) // 1000
_Micros = Annotated[int, msgspec.Meta(ge=0, le=MAX_MICROS)]
_TagValue = Union[str, bool, int, float]


class _Endpoint(msgspec.Struct, rename="camel", gc=False, omit_defaults=True):
    service_name: Union[str, None] = None
    ipv4: Union[str, None] = None
    ipv6: Union[str, None] = None
    port: Union[Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)], None] = None


class _Annotation(msgspec.Struct, gc=False):
    timestamp: _Micros
    value: str


class _Span(msgspec.Struct, rename="camel", gc=False, omit_defaults=True):
    """Zipkin's schema: tag values are strings."""

    trace_id: str
    id: str
    parent_id: Union[str, None] = None
    kind: Union[str, None] = None
    name: Union[str, None] = None
    timestamp: Union[_Micros, None] = None
    duration: Union[_Micros, None] = None
    local_endpoint: Union[_Endpoint, None] = None
    remote_endpoint: Union[_Endpoint, None] = None
    annotations: list[_Annotation] = []
    tags: dict[str, str] = {}
    debug: Union[bool, None] = None
    shared: Union[bool, None] = None


class _LenientSpan(_Span, rename="camel", gc=False, omit_defaults=True):
    """The same, accepting numbers and booleans as tag values (only tried when the strict
    schema fails, so well-formed payloads pay nothing for the leniency)."""

    tags: dict[str, _TagValue] = {}  # type: ignore[assignment]


_decoder = msgspec.json.Decoder(list[_Span])
_lenient_decoder = msgspec.json.Decoder(list[_LenientSpan])
_encoder = msgspec.json.Encoder()

_HEX = re.compile(r"[0-9a-fA-F]{1,32}")


def _hex(text: str) -> int | None:
    """The value of 1-32 hex characters, or None. 16 and 32 characters (what clients send)
    take ``bytes.fromhex``, which is faster than a regex; it skips whitespace, so the
    length of its result is checked."""
    n = len(text)
    if n == 16 or n == 32:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            return None
        return int.from_bytes(raw, "big") if len(raw) * 2 == n else None
    return int(text, 16) if _HEX.fullmatch(text) is not None else None


def parse_trace_id(text: str) -> int:
    """A Zipkin trace ID: 1-32 hex characters, not zero; raises DecodeError."""
    value = _hex(text)
    if value is None:
        raise DecodeError(f"traceId must be 1 to 32 hex characters: {text[:40]!r}")
    if not value:
        raise DecodeError("traceId is zero")
    return value


def parse_span_id(text: str, what: str = "id") -> int:
    """A Zipkin span ID: 1-16 hex characters, not zero; raises DecodeError."""
    value = _hex(text) if len(text) <= 16 else None
    if value is None:
        raise DecodeError(f"{what} must be 1 to 16 hex characters: {text[:40]!r}")
    if not value and what == "id":
        raise DecodeError("id is zero")
    return value


def _endpoint(e: _Endpoint | None, cache: dict[tuple, Endpoint | None]) -> Endpoint | None:
    if e is None:
        return None
    key = (e.service_name, e.ipv4, e.ipv6, e.port)
    try:
        return cache[key]
    except KeyError:
        endpoint = cache[key] = make_endpoint(e.service_name, (e.ipv4, e.ipv6), e.port)
        return endpoint


def _text_tags(tags: dict[str, _TagValue]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in tags.items():
        out[k] = v if type(v) is str else msgspec.json.encode(v).decode()
    return out


def decode_zipkin_json_v2(data: bytes) -> list[Span]:
    """A Zipkin v2 JSON array as model spans; raises DecodeError."""
    lenient = False
    try:
        raw: list[_Span] = _decoder.decode(data)
    except msgspec.ValidationError:
        try:
            raw = _lenient_decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"invalid Zipkin v2 JSON: {exc}") from None
        except RecursionError:
            raise DecodeError("invalid Zipkin v2 JSON: nested too deeply") from None
        lenient = True
    except msgspec.DecodeError as exc:
        raise DecodeError(f"invalid Zipkin v2 JSON: {exc}") from None
    except RecursionError:  # msgspec recurses once per nesting level, even when skipping
        raise DecodeError("invalid Zipkin v2 JSON: nested too deeply") from None
    build = ModelBuilder().span
    endpoints: dict[tuple, Endpoint | None] = {}
    out: list[Span] = []
    append = out.append
    for i, s in enumerate(raw):
        try:
            trace_id = parse_trace_id(s.trace_id)
            span_id = parse_span_id(s.id)
            parent = s.parent_id
            parent_id = parse_span_id(parent, "parentId") if parent else 0
        except DecodeError as exc:
            raise DecodeError(f"span {i}: {exc}") from None
        tags = s.tags
        if lenient and tags:
            for v in tags.values():
                if type(v) is not str:
                    tags = _text_tags(tags)
                    break
        append(
            build(
                trace_id,
                span_id,
                parent_id,
                s.kind or "",
                s.name or "",
                s.timestamp or 0,
                s.duration or 0,
                _endpoint(s.local_endpoint, endpoints),
                _endpoint(s.remote_endpoint, endpoints),
                s.annotations,
                tags,
                bool(s.debug),
                bool(s.shared),
            )
        )
    return out


def _json_endpoint(e: Endpoint | None) -> _Endpoint | None:
    if e is None:
        return None
    return _Endpoint(e.service_name or None, e.ipv4 or None, e.ipv6 or None, e.port or None)


def to_json_structs(spans: Sequence[ZipkinSpan]) -> list[_Span]:
    """Zipkin spans as the msgspec structs this module encodes (shared with v1 JSON's
    sibling formats for tests)."""
    out = []
    for z in spans:
        trace_id = z.trace_id
        out.append(
            _Span(
                trace_id=format(trace_id, "032x") if trace_id >> 64 else format(trace_id, "016x"),
                id=format(z.id, "016x"),
                parent_id=format(z.parent_id, "016x") if z.parent_id else None,
                kind=z.kind or None,
                name=z.name or None,
                timestamp=z.timestamp or None,
                duration=z.duration or None,
                local_endpoint=_json_endpoint(z.local_endpoint),
                remote_endpoint=_json_endpoint(z.remote_endpoint),
                annotations=[_Annotation(a.timestamp, a.value) for a in z.annotations],
                tags={k: tag_text(v) for k, v in z.tags.items()},
                debug=True if z.debug else None,
                shared=True if z.shared else None,
            )
        )
    return out


def encode_zipkin_json_v2(spans: Sequence[Span]) -> bytes:
    """Model spans as a Zipkin v2 JSON array (absent fields omitted, as Zipkin does)."""
    return _encoder.encode(to_json_structs(from_model(spans)))
