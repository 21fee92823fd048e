"""Span batches prepared for the sqlite writer by another process (``--workers``).

The writer's per-span work is mostly pure functions of the spans: grouping by trace,
encoding each chunk (``rows.encode_chunk``), hashing the tag-index words, building the
``spans``/``peers`` rows, the RED rollup's counts. A collector worker does all of it on
its own core (``prepare``), so the one writer process only numbers the rows for its day
file, compresses the chunks and inserts them (``SqliteWriter.write_prepared``), and never
builds a model ``Span``. The same bytes are what the write-ahead log keeps (``MAGIC``
tells them from ``buffer.encoding``'s), so a replay needs no worker.

Layout (msgpack): ``MAGIC`` + ``[spans, names, chunks, red, hours, edges]`` with
``names = [[service, operation, kind]]``, ``chunks = [[trace_hi, trace_key, raw_chunk,
words, span_rows, peer_rows]]`` (signed 64-bit integers as stored; ``span_rows =
[[name, start, seq, duration, span_id, parent_id]]``, ``peer_rows = [[span_id, name,
peer]]``; ``name`` indexes ``names``), ``red = [[minute, name, bucket, calls, errors]]``
and ``edges``: per span ``[trace_low, span_id, parent_id, kind, name, start, status, peer,
links]`` for the dependency rollup's pairing (``analytics.rollup.EdgePairer``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from spyglass.analytics.histogram import bucket_of
from spyglass.analytics.rollup import MINUTE_NS
from spyglass.model import KeyValue, SpanKind, StatusCode
from spyglass.model import Span
from spyglass.storage.dependency_links import PEER_KINDS, PEER_SERVICE_KEY, peer_service_of
from spyglass.storage.sqlite.rows import encode_chunk
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


class Preparer:
    """Turns spans into prepared batches (one per process: the tokenizer caches key seeds)."""

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
        names: dict[tuple[str, str, int], int] = {}
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
                name_key = (s.resource.service_name, s.name, int(s.kind))
                nid = names.get(name_key)
                if nid is None:
                    nid = names[name_key] = len(names)
                start = s.start_time_ns
                sid = _signed(s.span_id)
                span_rows.append((nid, start, seq, s.duration_ns, sid, _signed(s.parent_span_id)))
                peer = peer_service_of(s) if s.kind in PEER_KINDS else ""
                if peer:
                    peer_rows.append((sid, nid, peer))
                hours.add(start // _HOUR_NS)
                rkey = (start // MINUTE_NS, nid, bucket_of(s.duration_ns))
                row = red.get(rkey)
                if row is None:
                    row = red[rkey] = [0, 0]
                row[0] += 1
                code = s.status.code
                if code is _ERROR:
                    row[1] += 1
                tokenizer.span_words(s, words)
                edges.append((low, s.span_id, s.parent_span_id, int(s.kind), nid, start, int(code), peer,
                              [(li.trace_id & _LOW64, li.span_id, li.trace_id == trace_id) for li in s.links]
                              if s.links else ()))
            chunks.append((_signed(high), key, encode_chunk(group), document(words), span_rows, peer_rows))
        body = (len(spans), list(names), chunks, [(m, n, b, c, e) for (m, n, b), (c, e) in red.items()],
                sorted(hours), edges)
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
    __slots__ = ("payload", "count", "names", "chunks", "red", "hours", "edges")

    def __init__(self, payload: bytes) -> None:
        body = decode_body(payload, MAGIC, 6, "a prepared span batch")
        self.count, self.names, self.chunks, self.red, self.hours, self.edges = body
        self.payload = payload

    def __len__(self) -> int:
        return self.count

    def services(self) -> Iterator[str]:
        """The service of every span."""
        names = self.names
        for chunk in self.chunks:
            for row in chunk[4]:
                yield names[row[0]][0]

    def service_counts(self, out: dict[str, int]) -> None:
        """Add the number of spans of each service to ``out`` (the per-service write
        counts), from the RED rows, which count every span once: one step per
        (minute, operation, bucket) instead of one per span."""
        names = self.names
        for _, n, _, calls, _ in self.red:
            service = names[n][0]
            out[service] = out.get(service, 0) + calls

    def edge_spans(self) -> list[_EdgeSpan]:
        """Just what ``EdgePairer.edges`` reads of a span (the resources, statuses and
        peer attributes shared, so a span costs one small object)."""
        resources = [_Named(service) for service, _, _ in self.names]
        peers: dict[str, list[KeyValue]] = {}
        out = []
        for low, sid, pid, kind, nid, start, code, peer, links in self.edges:
            attributes = _NO_ATTRIBUTES
            if peer:
                attributes = peers.get(peer)  # type: ignore[assignment]
                if attributes is None:
                    attributes = peers[peer] = [KeyValue(PEER_SERVICE_KEY, peer)]
            out.append(_EdgeSpan(low, sid, pid, _KINDS.get(kind, SpanKind.UNSPECIFIED), resources[nid], start,
                                 _STATUSES.get(code, _UNSET), attributes,
                                 [_Link(low if same else tlow, lsid) for tlow, lsid, same in links] if links else ()))
        return out


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


class _Named:
    __slots__ = ("service_name",)

    def __init__(self, service: str) -> None:
        self.service_name = service


class _Status:
    __slots__ = ("code",)

    def __init__(self, code: StatusCode) -> None:
        self.code = code


class _Link:
    __slots__ = ("trace_id", "span_id")

    def __init__(self, trace_id: int, span_id: int) -> None:
        self.trace_id = trace_id
        self.span_id = span_id


_KINDS = {k.value: k for k in SpanKind}
_STATUSES = {c.value: _Status(c) for c in StatusCode}
_UNSET = _STATUSES[StatusCode.UNSET.value]
_NO_ATTRIBUTES: list[KeyValue] = []


class _EdgeSpan:
    """A span as far as the dependency rollup's pairing looks (its trace ID is the low 64
    bits: the pairing keys on them; a link to the same trace keeps the span's own)."""

    __slots__ = ("trace_id", "span_id", "parent_span_id", "kind", "resource", "start_time_ns", "status",
                 "attributes", "links")

    def __init__(self, low: int, sid: int, pid: int, kind: SpanKind, resource: _Named, start: int, status: _Status,
                 attributes: list[KeyValue], links: Any) -> None:
        self.trace_id = low
        self.span_id = sid
        self.parent_span_id = pid
        self.kind = kind
        self.resource = resource
        self.start_time_ns = start
        self.status = status
        self.attributes = attributes
        self.links = links
