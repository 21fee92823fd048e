"""Span batches turned into ClickHouse columns by a collector worker (``--workers``).

Building the columns (payloads, tag pairs, trace ranges) is most of the writer's per-span
work and depends on nothing but the spans, so a collector worker does it on its own core
(``Preparer.prepare``) and the one writer process only decodes the columns (msgspec, in C)
and inserts them (``ClickHouseWriter.write_prepared``), never building a model ``Span``:
the clickhouse counterpart of ``storage.sqlite.prepared``. The dependency rollup still
pairs in the writer (a parent and its child may reach different workers): each span's
pairing fields travel as ``storage.sqlite.prepared``'s ``edges`` rows, read back by its
``edge_spans``.

Layout (msgpack): ``MAGIC`` + ``[count, spans, index, ranges, names, edges, operations]``:
``spans``/``index``/``ranges`` are the ``SpanColumns`` columns of the ``spans``,
``span_index`` and ``trace_ranges`` tables, ``names = [[service, operation, kind]]``,
``edges`` per span ``[trace_low, span_id, parent_id, kind, name, start, status, peer,
links]``, ``operations = [[day number, service, operation, kind name]]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from spyglass.model import Span, SpanKind
from spyglass.storage.clickhouse.rows import SpanColumns
from spyglass.storage.dependency_links import PEER_KINDS, peer_service_of
from spyglass.storage.sqlite.prepared import PreparedSpans, decode_body

MAGIC = b"SGC1"
_LOW64 = (1 << 64) - 1
_DAY_NS = 86_400 * 1_000_000_000
_encoder = msgspec.msgpack.Encoder()


class Preparer:
    """Turns spans into prepared column batches (no state between batches)."""

    def prepare(self, spans: Sequence[Span]) -> bytes:
        """Raises OverflowError/TypeError/ValueError for values storage cannot hold."""
        cols = SpanColumns()
        cols.add(spans)
        names: dict[tuple[str, str, SpanKind], int] = {}
        days: set[tuple[int, int]] = set()
        edges = []
        peer_kinds = PEER_KINDS
        for s in spans:
            kind = s.kind
            key = (s.resource.service_name, s.name, kind)
            nid = names.get(key)
            if nid is None:
                nid = names[key] = len(names)
            trace_id = s.trace_id
            start = s.start_time_ns
            days.add((start // _DAY_NS if start > 0 else 0, nid))
            links = s.links
            edges.append((trace_id & _LOW64, s.span_id, s.parent_span_id, int(kind), nid, start,
                          int(s.status.code), peer_service_of(s) if kind in peer_kinds else "",
                          [(li.trace_id & _LOW64, li.span_id, li.trace_id == trace_id) for li in links]
                          if links else ()))
        keys = list(names)
        operations = sorted({(day, keys[nid][0], keys[nid][1], keys[nid][2].jaeger_name) for day, nid in days})
        names_rows = [(service, name, int(kind)) for service, name, kind in keys]
        body = (cols.count, cols.spans, cols.index, cols.range_columns(), names_rows, edges, operations)
        return MAGIC + _encoder.encode(body)


class PreparedColumns:
    """One request's prepared columns, as the writer process holds them: ``len()`` is its
    span count (what queues and retry buffers measure), ``payload`` the bytes (for the
    write-ahead log)."""

    prepared = True
    __slots__ = ("payload", "count", "spans", "index", "ranges", "names", "edges", "operations")

    def __init__(self, payload: bytes) -> None:
        body = decode_body(payload, MAGIC, 7, "a prepared clickhouse batch")
        self.count, self.spans, self.index, self.ranges, self.names, self.edges, self.operations = body
        self.payload = payload

    def __len__(self) -> int:
        return self.count

    def services(self) -> Iterator[str]:
        """The service of every span (for the per-service write counts)."""
        return iter(self.spans[4])

    def service_counts(self, out: dict[str, int]) -> None:
        """Add the number of spans of each service to ``out`` (the per-service write
        counts; the same call as ``PreparedSpans.service_counts``)."""
        for service in self.spans[4]:
            out[service] = out.get(service, 0) + 1

    def edge_spans(self) -> list[Any]:
        """What the dependency rollup's pairing reads of each span (``storage.sqlite.prepared``'s
        objects, built from the same ``names``/``edges`` rows)."""
        return PreparedSpans.edge_spans(self)  # type: ignore[arg-type]


def decode(payload: bytes) -> PreparedColumns | PreparedSpans:
    """A prepared batch of either backend, told apart by its magic."""
    return PreparedColumns(payload) if payload[:4] == MAGIC else PreparedSpans(payload)
