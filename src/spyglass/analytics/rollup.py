"""Turn spans into rollup rows at ingest: RED counts per minute and dependency edges.

**RED rows** are keyed ``(tenant, service, operation, kind, minute, bucket)`` and carry
``[calls, errors]``: one row per duration bucket (``histogram``) that occurred, so calls
per minute, errors per minute and the latency histogram are all sums over the same rows,
in any backend (SQL ``GROUP BY``, ClickHouse ``SummingMergeTree``, a Python dict).
``minute`` is the span's start time in whole minutes since the epoch; an error is a span
whose status is ERROR (what Jaeger's span-metrics connector counts).

**Edge rows** are keyed ``(tenant, minute, parent service, child service, kind)`` with
``[calls, errors]`` (``minute`` of the child's start, ``errors``: the child failed). Kinds:
``call`` (parent/child), ``messaging`` (parent/child where the parent is a producer or
the child a consumer) and ``link`` (a span link: the linked span's service is the
"parent"). Like the scan it replaces, an edge needs two different services.

Pairing across batches: spans of one trace arrive in different batches, children usually
first (they finish first). ``EdgePairer`` keeps a bounded window of recently written span
IDs -> service, and children whose parent was not seen yet wait (bounded) for it; when the
parent arrives, the edge is emitted into that later batch (with the child's minute). The
residual inexactness, documented in docs/analytics.md: a parent arriving after
``max_waiting / 2`` to ``max_waiting`` other orphans, or a parent written more than ``max_recent / 2`` to ``max_recent`` spans before its
child, or across a process restart, is not paired; when a span ID repeats, a child pairs
with the copy seen last at the time it is paired.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from spyglass.analytics.histogram import bucket_of
from spyglass.model import Span, SpanKind, StatusCode
from spyglass.storage.dependency_links import PEER_KINDS, peer_service_of

MINUTE_NS = 60_000_000_000
# Spans are remembered by the low 64 bits of the trace ID and the span ID: hashing 128-bit
# integers made the pairing several times slower, and two traces sharing the low half *and*
# a span ID within the window is negligible (random IDs).
_LOW64 = (1 << 64) - 1
DEFAULT_TENANT = ""

EDGE_CALL = "call"
EDGE_MESSAGING = "messaging"
EDGE_LINK = "link"
PARENT_CHILD_KINDS = (EDGE_CALL, EDGE_MESSAGING)

RedKey = tuple[str, str, str, int, int, int]  # tenant, service, operation, kind, minute, bucket
EdgeKey = tuple[str, int, str, str, str]  # tenant, minute, parent, child, kind


class RollupRows(NamedTuple):
    """What one batch adds: ``red`` and ``edges`` map keys to ``[calls, errors]``."""

    red: dict[RedKey, list[int]]
    edges: dict[EdgeKey, list[int]]


def minute_of(ns: int) -> int:
    return ns // MINUTE_NS


def red_rows(spans: Iterable[Span], tenant: str = DEFAULT_TENANT,
             into: dict[RedKey, list[int]] | None = None) -> dict[RedKey, list[int]]:
    """The RED rows of ``spans``, summed (added to ``into`` when given)."""
    rows: dict[RedKey, list[int]] = {} if into is None else into
    error = StatusCode.ERROR
    for s in spans:
        key = (tenant, s.resource.service_name, s.name, int(s.kind), s.start_time_ns // MINUTE_NS,
               bucket_of(s.duration_ns))
        row = rows.get(key)
        if row is None:
            row = rows[key] = [0, 0]
        row[0] += 1
        if s.status.code is error:
            row[1] += 1
    return rows


class _Child(NamedTuple):
    service: str
    kind: int
    minute: int
    error: bool
    link: bool


class EdgePairer:
    """Pairs children with parents across batches (see the module docstring).

    Both windows are two generations of plain dicts: when the young one is full it becomes
    the old one and the old one is dropped, so remembering and forgetting are O(1) per span
    (deleting the oldest entries of one dict one by one leaves holes that later scans
    walk over). A span is remembered for between ``max_recent / 2`` and ``max_recent`` spans.
    Not thread-safe: one writer thread calls ``edges`` (backends call it under their write lock).
    """

    def __init__(self, max_recent: int = 400_000, max_waiting: int = 200_000) -> None:
        self.max_recent = max_recent
        self.max_waiting = max_waiting
        self._recent: dict[tuple[int, int], tuple[str, int]] = {}
        self._recent_old: dict[tuple[int, int], tuple[str, int]] = {}
        self._waiting: dict[tuple[int, int], list[_Child]] = {}
        self._waiting_old: dict[tuple[int, int], list[_Child]] = {}
        # client/producer spans whose ``peer.service`` edge is counted while no child of
        # theirs has arrived (``storage.dependency_links`` rule 2); a child, or a second
        # span with the same ID, takes the edge back (a -1 row), so the sums stay exact
        # within the windows
        self._peers: dict[tuple[int, int], _Peer] = {}
        self._peers_old: dict[tuple[int, int], _Peer] = {}
        self.unpaired_evicted = 0  # children whose parent never came within the window

    def _parent(self, key: tuple[int, int]) -> tuple[str, int] | None:
        found = self._recent.get(key)
        return found if found is not None else self._recent_old.get(key)

    def edges(self, spans: Sequence[Span], tenant: str = DEFAULT_TENANT) -> dict[EdgeKey, list[int]]:
        """The edges this batch completes: children in it whose parent is known, and
        waiting children whose parent is in it."""
        recent = self._recent
        out: dict[EdgeKey, list[int]] = {}
        arrived: list[tuple[int, int]] = []
        old = self._recent_old
        for s in spans:  # register the whole batch first: the last copy of an ID wins
            key = (s.trace_id & _LOW64, s.span_id)
            if key in recent or key in old:
                self._retract_peer(out, tenant, key)
            elif s.kind in PEER_KINDS and key not in self._waiting and key not in self._waiting_old:
                self._count_peer(out, tenant, key, s)
            recent[key] = (s.resource.service_name, s.kind)
            arrived.append(key)
        if self._waiting or self._waiting_old:
            for key in arrived:
                children = self._waiting.pop(key, None)
                older = self._waiting_old.pop(key, None)
                if older:
                    children = older + children if children else older
                if children:
                    parent = recent[key]
                    for child in children:
                        _emit(out, tenant, parent, child)
        error = StatusCode.ERROR
        for s in spans:
            pid = s.parent_span_id
            if pid:
                key = (s.trace_id & _LOW64, pid)
                parent = recent.get(key)
                if parent is None:
                    parent = old.get(key)
                service = s.resource.service_name
                if parent is not None and (self._peers or self._peers_old):
                    self._retract_peer(out, tenant, key)
                # the common case, inlined: a known parent of the same service is no edge
                if parent is None or parent[0] != service:
                    self._pair(out, tenant, key, parent,
                               _Child(service, s.kind, s.start_time_ns // MINUTE_NS, s.status.code is error, False))
            for link in s.links:
                if (link.trace_id, link.span_id) != (s.trace_id, pid):
                    key = (link.trace_id & _LOW64, link.span_id)
                    self._pair(out, tenant, key, self._parent(key),
                               _Child(s.resource.service_name, s.kind, s.start_time_ns // MINUTE_NS,
                                      s.status.code is error, True))
        if len(recent) >= self.max_recent // 2:
            self._recent_old, self._recent = recent, {}
            self._peers_old, self._peers = self._peers, {}
        if len(self._waiting) >= self.max_waiting // 2:
            self.unpaired_evicted += sum(len(lost) for lost in self._waiting_old.values())
            self._waiting_old, self._waiting = self._waiting, {}
        return out

    def _count_peer(self, out: dict[EdgeKey, list[int]], tenant: str, key: tuple[int, int], s: Span) -> None:
        peer = peer_service_of(s)
        service = s.resource.service_name
        if not peer or peer == service:
            return
        entry = _Peer(service, s.kind, peer, s.start_time_ns // MINUTE_NS, s.status.code is StatusCode.ERROR)
        self._peers[key] = entry
        _add(out, (tenant, entry.minute, service, peer, _peer_kind(entry.kind)), 1, entry.error)

    def _retract_peer(self, out: dict[EdgeKey, list[int]], tenant: str, key: tuple[int, int]) -> None:
        entry = self._peers.pop(key, None) or self._peers_old.pop(key, None)
        if entry is not None:
            _add(out, (tenant, entry.minute, entry.service, entry.peer, _peer_kind(entry.kind)), -1, entry.error)

    def _pair(self, out: dict[EdgeKey, list[int]], tenant: str, parent_key: tuple[int, int],
              parent: tuple[str, int] | None, child: _Child) -> None:
        if parent is not None:
            _emit(out, tenant, parent, child)
            return
        waiting = self._waiting.get(parent_key)
        if waiting is None:
            self._waiting[parent_key] = [child]
        else:
            waiting.append(child)


class _Peer(NamedTuple):
    service: str
    kind: int
    peer: str
    minute: int
    error: bool


def _peer_kind(kind: int) -> str:
    return EDGE_MESSAGING if kind == SpanKind.PRODUCER else EDGE_CALL


def _add(out: dict[EdgeKey, list[int]], key: EdgeKey, calls: int, error: bool) -> None:
    row = out.get(key)
    if row is None:
        row = out[key] = [0, 0]
    row[0] += calls
    if error:
        row[1] += calls


def _emit(out: dict[EdgeKey, list[int]], tenant: str, parent: tuple[str, int], child: _Child) -> None:
    if parent[0] == child.service:
        return
    if child.link:
        kind = EDGE_LINK
    elif parent[1] == SpanKind.PRODUCER or child.kind == SpanKind.CONSUMER:
        kind = EDGE_MESSAGING
    else:
        kind = EDGE_CALL
    key = (tenant, child.minute, parent[0], child.service, kind)
    row = out.get(key)
    if row is None:
        row = out[key] = [0, 0]
    row[0] += 1
    if child.error:
        row[1] += 1


class Rollup:
    """Both rollups of a stream of batches: what a backend's writer holds one of."""

    def __init__(self, max_recent: int = 400_000, max_waiting: int = 200_000) -> None:
        self.pairer = EdgePairer(max_recent, max_waiting)

    def rows(self, spans: Sequence[Span], tenant: str = DEFAULT_TENANT) -> RollupRows:
        return RollupRows(red_rows(spans, tenant), self.pairer.edges(spans, tenant))
