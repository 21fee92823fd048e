"""Span batches prepared for the sqlite writer by another process (``--workers``).

The writer's per-span work is mostly pure functions of the spans: grouping by trace,
encoding each chunk (``rows.encode_chunk``), hashing the tag-index words, building the
``spans``/``peers`` rows, the RED rollup's counts. A collector worker does all of it on
its own core (``prepare``), so the one writer process only numbers the rows for its day
file, compresses the chunks and inserts them (``SqliteWriter.write_prepared``), and never
builds a model ``Span``. The same bytes are what the write-ahead log keeps (``MAGIC``
tells them from ``buffer.encoding``'s), so a replay needs no worker.

Layout (msgpack): ``MAGIC`` + ``[count, names, chunks, red, hours, edges, counts]`` with
``names = [[service, operation, kind]]``, ``chunks = [[trace_hi, trace_key, raw_chunk,
words, span_rows, peer_rows]]`` (signed 64-bit integers as stored; ``span_rows =
[[name, start, seq, duration, span_id, parent_id]]``, ``peer_rows = [[span_id, name,
peer]]``; ``name`` indexes ``names``), ``red = [[minute, name, bucket, calls, errors]]``,
``edges``: per span ``[trace_low, span_id, parent_id, kind, [service], start, [status],
peer_attributes, [[link_trace_low, link_span_id]]]``, the fields of ``EdgeSpan`` that the
dependency rollup's pairing (``analytics.rollup.EdgePairer``) reads, so the writer gets
them as objects built by msgspec in C, not by Python code per span; and ``counts``, the
spans of each ``names`` entry (the per-service write counts, per batch, not per span).
The whole body is decoded against its types (``_Body``), so bytes that only look like a
batch fail at the decode. Bodies of the earlier six-field layout (a write-ahead log
written before an upgrade) still decode (``_legacy``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from spyglass.analytics.histogram import bucket_of
from spyglass.analytics.rollup import MINUTE_NS
from spyglass.model import Span, SpanKind, StatusCode
from spyglass.storage.dependency_links import PEER_KINDS, PEER_SERVICE_KEY, peer_service_of
from spyglass.storage.sqlite.rows import StoredKeyValue, encode_chunk
from spyglass.storage.sqlite.tagindex import Tokenizer, document

MAGIC = b"SGP1"
_I64 = 1 << 63
_U64 = 1 << 64
_LOW64 = _U64 - 1
_HOUR_NS = 3600 * 1_000_000_000
_ERROR = StatusCode.ERROR
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class PreparedDecodeError(ValueError):
    """Bytes that are not a prepared batch."""


def _signed(v: int) -> int:
    return v - _U64 if v >= _I64 else v


class _Named(msgspec.Struct, array_like=True, gc=False):
    service_name: str


class _Status(msgspec.Struct, array_like=True, gc=False):
    code: StatusCode


class _Link(msgspec.Struct, array_like=True, gc=False):
    trace_id: int
    span_id: int


class EdgeSpan(msgspec.Struct, array_like=True, gc=False):
    """A span as far as the dependency rollup's pairing looks (its trace ID is the low 64
    bits: the pairing keys on them, and so do links; ``attributes`` holds only the span's
    ``peer.service``, the one attribute the pairing reads)."""

    trace_id: int
    span_id: int
    parent_span_id: int
    kind: SpanKind
    resource: _Named
    start_time_ns: int
    status: _Status
    attributes: list[StoredKeyValue]
    links: list[_Link]


_SpanRow = tuple[int, int, int, int, int, int]


class _Body(msgspec.Struct, array_like=True, gc=False):
    count: int
    names: list[tuple[str, str, int]]
    chunks: list[tuple[int, int, bytes, str, list[_SpanRow], list[tuple[int, int, str]]]]
    red: list[tuple[int, int, int, int, int]]
    hours: list[int]
    edges: list[EdgeSpan]
    counts: list[int]


_body_decoder = msgspec.msgpack.Decoder(_Body)
_NO_PEER: tuple[()] = ()


class Preparer:
    """Turns spans into prepared batches (one per process: the tokenizer caches hashes)."""

    def __init__(self) -> None:
        self.tokenizer = Tokenizer()

    def prepare(self, spans: Sequence[Span]) -> bytes:
        """Raises OverflowError/TypeError/ValueError for values storage cannot hold."""
        groups: dict[int, list[Span]] = {}
        for s in spans:
            group = groups.get(s.trace_id)
            if group is None:
                groups[s.trace_id] = [s]
            else:
                group.append(s)
        tokenizer = self.tokenizer
        tokenizer.new_batch()
        span_words = tokenizer.span_words
        names: dict[tuple[str, str, int], int] = {}
        counts: list[int] = []
        chunks = []
        red: dict[tuple[int, int, int], list[int]] = {}
        hours: set[int] = set()
        edges = []
        for trace_id, group in groups.items():
            high = trace_id >> 64
            key = _signed((trace_id ^ high) & _LOW64)
            low = trace_id & _LOW64
            span_rows = []
            peer_rows = []
            words: set[int] = set()
            for seq, s in enumerate(group):
                service = s.resource.service_name
                kind = s.kind
                name_key = (service, s.name, kind)
                nid = names.get(name_key)
                if nid is None:
                    nid = names[name_key] = len(counts)
                    counts.append(0)
                counts[nid] += 1
                start = s.start_time_ns
                duration = s.duration_ns
                sid = _signed(s.span_id)
                span_rows.append((nid, start, seq, duration, sid, _signed(s.parent_span_id)))
                peer = peer_service_of(s) if kind in PEER_KINDS else ""
                if peer:
                    peer_rows.append((sid, nid, peer))
                hours.add(start // _HOUR_NS)
                rkey = (start // MINUTE_NS, nid, bucket_of(duration))
                row = red.get(rkey)
                if row is None:
                    row = red[rkey] = [0, 0]
                row[0] += 1
                code = s.status.code
                if code is _ERROR:
                    row[1] += 1
                span_words(s, words)
                edges.append((low, s.span_id, s.parent_span_id, kind, (service,), start, (code,),
                              ((PEER_SERVICE_KEY, peer),) if peer else _NO_PEER,
                              [(li.trace_id & _LOW64, li.span_id) for li in s.links] if s.links else _NO_PEER))
            chunks.append((_signed(high), key, encode_chunk(group), document(words), span_rows, peer_rows))
        body = (len(spans), list(names), chunks, [(m, n, b, c, e) for (m, n, b), (c, e) in red.items()],
                sorted(hours), edges, counts)
        return MAGIC + _encoder.encode(body)


def decode_body(payload: bytes, magic: bytes, fields: int, what: str) -> list[Any]:
    """The msgpack array after ``magic``, checked for its ``fields`` entries: a write-ahead
    log segment or a worker's message that is not what it claims fails here, clearly."""
    if payload[:4] != magic:
        raise PreparedDecodeError(f"not {what} (bad magic)")
    try:
        body = _decoder.decode(payload[4:])
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        raise PreparedDecodeError(f"corrupt prepared batch: {exc}") from None
    if not isinstance(body, list) or len(body) != fields:
        raise PreparedDecodeError("corrupt prepared batch: wrong shape")
    return body


class PreparedSpans:
    """One request's prepared batch, as the writer process holds it: ``len()`` is its span
    count (what queues and retry buffers measure), ``payload`` the bytes (for the log)."""

    prepared = True
    __slots__ = ("payload", "count", "names", "chunks", "red", "hours", "edges", "counts")

    def __init__(self, payload: bytes) -> None:
        if payload[:4] != MAGIC:
            raise PreparedDecodeError("not a prepared span batch (bad magic)")
        try:
            body = _body_decoder.decode(memoryview(payload)[4:])
        except msgspec.ValidationError:
            body = _legacy(payload)
        except (msgspec.DecodeError, ValueError, TypeError) as exc:
            raise PreparedDecodeError(f"corrupt prepared batch: {exc}") from None
        self.count, self.names, self.chunks, self.red = body.count, body.names, body.chunks, body.red
        self.hours, self.edges, self.counts = body.hours, body.edges, body.counts
        self.payload = payload

    def __len__(self) -> int:
        return self.count

    def services(self) -> Iterator[str]:
        """The service of every span."""
        for (service, _, _), n in zip(self.names, self.counts):
            for _ in range(n):
                yield service

    def service_counts(self, out: dict[str, int]) -> None:
        """Add the number of spans of each service to ``out`` (the per-service write counts:
        one step per operation, not per span)."""
        for (service, _, _), n in zip(self.names, self.counts):
            out[service] = out.get(service, 0) + n

    def edge_spans(self) -> list[EdgeSpan]:
        """Just what ``EdgePairer.edges`` reads of each span. The clickhouse form
        (``storage.clickhouse.prepared``) calls this with its own ``names`` and ``edges``
        rows, which are still the row layout: those are built here (``edge_rows``)."""
        edges = self.edges
        if edges and not isinstance(edges[0], EdgeSpan):
            return edge_rows(self.names, edges)
        return edges  # type: ignore[no-any-return]


def edge_rows(names: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]) -> list[EdgeSpan]:
    """``EdgeSpan`` objects from pairing rows ``[trace_low, span_id, parent_id, kind, name,
    start, status, peer, links]`` (``name`` indexes ``names``; links ``[trace_low, span_id,
    same_trace]``): the clickhouse form's layout and this one's before ``counts``."""
    resources = [_Named(service) for service, _, _ in names]
    statuses = {c.value: _Status(c) for c in StatusCode}
    peers: dict[str, list[StoredKeyValue]] = {}
    out = []
    for low, sid, pid, kind, nid, start, code, peer, links in rows:
        attributes = _NO_ATTRIBUTES
        if peer:
            attributes = peers.get(peer)  # type: ignore[assignment]
            if attributes is None:
                attributes = peers[peer] = [StoredKeyValue(PEER_SERVICE_KEY, peer)]
        out.append(EdgeSpan(low, sid, pid, _KINDS.get(kind, SpanKind.UNSPECIFIED), resources[nid], start,
                            statuses.get(code) or statuses[StatusCode.UNSET.value], attributes,
                            [_Link(tlow, lsid) for tlow, lsid, _ in links] if links else []))
    return out


def _legacy(payload: bytes) -> _Body:
    """A body of the six-field layout (before ``counts`` and ``EdgeSpan`` rows)."""
    count, names, chunks, red, hours, rows = decode_body(payload, MAGIC, 6, "a prepared span batch")
    try:
        counts = [0] * len(names)
        for chunk in chunks:
            for row in chunk[4]:
                counts[row[0]] += 1
        return _Body(count, names, chunks, red, hours, edge_rows(names, rows), counts)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise PreparedDecodeError(f"corrupt prepared batch: {exc}") from None


class PreparedRun(list):  # type: ignore[type-arg]
    """Consecutive ``PreparedSpans`` taken from the queue together; ``len()`` counts spans
    (the processor and its retry buffer measure batches in spans)."""

    prepared = True

    def __init__(self, items: Sequence[PreparedSpans] = ()) -> None:
        super().__init__(items)
        self.spans = sum(p.count for p in items)

    def append(self, item: PreparedSpans) -> None:  # type: ignore[override]
        super().append(item)
        self.spans += item.count

    def __len__(self) -> int:
        return self.spans

    def __bool__(self) -> bool:
        return list.__len__(self) > 0


_KINDS = {k.value: k for k in SpanKind}
_NO_ATTRIBUTES: list[StoredKeyValue] = []
