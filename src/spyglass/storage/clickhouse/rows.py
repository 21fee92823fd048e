"""Spans as ClickHouse columns, and the search pairs of a span and of a query.

The payload of a span is ``payload.PayloadEncoder``'s: a positional msgpack form of the
canonical model without what the row's columns hold, which ClickHouse compresses across
neighbouring rows of the same trace.

``tag_keys``/``tag_values`` hold every pair ``spyglass.storage.matching.tag_matches`` looks
at (span, resource, event, scope and link attributes by string form, event names under
``event``) plus the values Jaeger derives from the span itself (``error``, ``span.kind``,
``span.status`` ...) under the key with a ``\\x01`` in front, so a search on ``error=true``
matches a span with status ERROR and also a span with an ``error`` attribute of ``true``,
exactly as ``matching`` defines; the SQL answer needs no check in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from spyglass.model import KeyValue, Span, StatusCode, attr_as_string
from spyglass.storage.api import TraceQuery
from spyglass.storage.clickhouse.payload import PayloadEncoder

_U64 = (1 << 64) - 1
DERIVED = "\x01"

__all__ = ["SpanColumns", "derived_pairs", "query_pairs", "split_id"]


def split_id(trace_id: int) -> tuple[int, int]:
    return trace_id >> 64, trace_id & _U64


def join_id(hi: int, lo: int) -> int:
    return (hi << 64) | lo


# ``attr_as_string`` for the common scalar types by one dict look-up instead of its chain of
# ``isinstance`` checks (a third of the tag columns' cost); the same strings.
_SCALARS: dict[type, Callable[[Any], str]] = {
    int: str, bool: lambda v: "true" if v else "false", float: lambda v: format(v, ".10g"),
}


def _string(value: Any) -> str:
    convert = _SCALARS.get(type(value))
    return convert(value) if convert is not None else attr_as_string(value)


def _add(attributes: Iterable[KeyValue], keys: list[str], values: list[str]) -> None:
    for key, value in attributes:
        keys.append(key)
        values.append(value if type(value) is str else _string(value))


def _pairs(attributes: Sequence[KeyValue]) -> tuple[list[str], list[str]]:
    return ([kv[0] for kv in attributes],
            [v if type(v) is str else _string(v) for _, v in attributes])


def derived_pairs(span: Span) -> list[tuple[str, str]]:
    """The values ``matching._special`` derives from a span, as (\\x01 key, value)."""
    code = span.status.code
    out = [
        (DERIVED + "error", "true" if code is StatusCode.ERROR else "false"),
        (DERIVED + "span.kind", span.kind.jaeger_name),
        (DERIVED + "span.status", code.name),
    ]
    if code is not StatusCode.UNSET:
        out.append((DERIVED + "otel.status_code", code.name))
    if span.status.message:
        out.append((DERIVED + "otel.status_description", span.status.message))
    if span.trace_state:
        out.append((DERIVED + "w3c.tracestate", span.trace_state))
    scope = span.scope
    if scope.name:
        out += [(DERIVED + "otel.scope.name", scope.name), (DERIVED + "otel.library.name", scope.name)]
    if scope.version:
        out += [(DERIVED + "otel.scope.version", scope.version), (DERIVED + "otel.library.version", scope.version)]
    return out


_UPPER = frozenset({"span.status", "otel.status_code"})
_SPECIAL = frozenset({
    "error", "span.kind", "span.status", "otel.status_code", "otel.status_description", "w3c.tracestate",
    "otel.scope.name", "otel.library.name", "otel.scope.version", "otel.library.version",
})


def query_pairs(query: TraceQuery) -> list[list[tuple[str, str]]]:
    """For each tag of the query, the (key, value) pairs any one of which satisfies it."""
    out = []
    for key, value in query.attributes.items():
        alternatives = [(key, value)]
        if key in _SPECIAL:
            alternatives.append((DERIVED + key, value.upper() if key in _UPPER else value))
        out.append(alternatives)
    return out


class _Shared:
    """The pairs many spans of a batch have in common, computed once per batch: a
    resource's attributes, and a scope's attributes with the derived pairs (which depend
    only on status, kind, trace state and scope). Keyed by identity (or by value for the
    small derived key), with the object kept so an ``id`` is never reused within a batch."""

    def __init__(self) -> None:
        self.resources: dict[int, tuple[object, list[str], list[str]]] = {}
        self.derived: dict[tuple[Any, ...], tuple[object, list[str], list[str]]] = {}

    def resource(self, res: Any) -> tuple[object, list[str], list[str]]:
        known = self.resources.get(id(res))
        if known is None or known[0] is not res:
            keys, values = _pairs(res.attributes)
            known = self.resources[id(res)] = (res, keys, values)
        return known

    def tail(self, span: Span) -> tuple[object, list[str], list[str]]:
        status, scope = span.status, span.scope
        key = (status, span.kind, span.trace_state, id(scope))
        known = self.derived.get(key)
        if known is None or known[0] is not scope:
            keys, values = _pairs(scope.attributes)
            for k, v in derived_pairs(span):
                keys.append(k)
                values.append(v)
            known = self.derived[key] = (scope, keys, values)
        return known


class SpanColumns:
    """The columns of one batch, table by table, ready for a columnar insert."""

    SPANS = ("trace_hi", "trace_lo", "span_id", "start_ns", "service", "payload")
    INDEX = ("service", "operation", "start_ns", "duration_ns", "trace_hi", "trace_lo", "tag_keys", "tag_values")
    RANGES = ("trace_hi", "trace_lo", "start_min", "start_max")

    def __init__(self) -> None:
        self.spans: list[list[Any]] = [[] for _ in self.SPANS]
        self.index: list[list[Any]] = [[] for _ in self.INDEX]
        self.ranges: dict[tuple[int, int], list[int]] = {}
        self.count = 0

    def add(self, spans: Sequence[Span]) -> None:
        """Column by column (one comprehension each): cheaper than appending per span."""
        if not spans:
            return
        encoder = PayloadEncoder()
        shared = _Shared()
        ids = [s.trace_id for s in spans]
        his = [t >> 64 for t in ids]
        los = [t & _U64 for t in ids]
        starts = [s.start_time_ns for s in spans]
        services = [s.resource.service_name for s in spans]
        s_hi, s_lo, s_id, s_start, s_svc, s_payload = self.spans
        s_hi += his
        s_lo += los
        s_id += [s.span_id for s in spans]
        s_start += starts
        s_svc += services
        s_payload += [encoder.encode(s) for s in spans]
        i_svc, i_op, i_start, i_dur, i_hi, i_lo, i_keys, i_values = self.index
        i_svc += services
        i_op += [s.name for s in spans]
        i_start += starts
        i_dur += [s.duration_ns for s in spans]
        i_hi += his
        i_lo += los
        resource, tail = shared.resource, shared.tail
        for span in spans:
            keys, values = _pairs(span.attributes)
            _, rk, rv = resource(span.resource)
            keys += rk
            values += rv
            if span.events:
                for event in span.events:
                    _add(event.attributes, keys, values)
                    keys.append("event")
                    values.append(event.name)
            if span.links:
                for link in span.links:
                    _add(link.attributes, keys, values)
            _, tk, tv = tail(span)
            keys += tk
            values += tv
            i_keys.append(keys)
            i_values.append(values)
        ranges = self.ranges
        for key, start in zip(zip(his, los), starts):
            r = ranges.get(key)
            if r is None:
                ranges[key] = [start, start]
            elif start < r[0]:
                r[0] = start
            elif start > r[1]:
                r[1] = start
        self.count += len(spans)

    def range_columns(self) -> list[list[int]]:
        cols: list[list[int]] = [[], [], [], []]
        for (hi, lo), (a, b) in self.ranges.items():
            cols[0].append(hi)
            cols[1].append(lo)
            cols[2].append(a)
            cols[3].append(b)
        return cols
