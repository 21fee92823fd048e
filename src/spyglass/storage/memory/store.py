"""Traces kept in process memory: writer, trace reader and dependency reader in one.

Traces are held in arrival order; past ``max_traces`` the trace that arrived first is
evicted whole. Readers get clones, so nothing they change reaches the store.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Sequence

from spyglass.model import DependencyLink, Span
from spyglass.storage.api import DependencyReader, Operation, SpanWriter, TraceQuery, TraceReader
from spyglass.storage.matching import span_matches


class MemoryStore(SpanWriter, TraceReader, DependencyReader):
    def __init__(self, max_traces: int = 100_000) -> None:
        self.max_traces = max_traces
        self._lock = threading.RLock()
        self._traces: OrderedDict[int, list[Span]] = OrderedDict()
        # service -> trace IDs that have a span of that service (insertion ordered set)
        self._by_service: dict[str, dict[int, None]] = {}
        # service -> {(operation, kind)}
        self._operations: dict[str, set[tuple[str, str]]] = {}

    # -- writer -----------------------------------------------------------------------
    def write_spans(self, spans: Sequence[Span]) -> None:
        with self._lock:
            traces = self._traces
            for span in spans:
                trace = traces.get(span.trace_id)
                if trace is None:
                    trace = traces[span.trace_id] = []
                trace.append(span)
                service = span.resource.service_name
                ids = self._by_service.get(service)
                if ids is None:
                    ids = self._by_service[service] = {}
                    self._operations[service] = set()
                ids[span.trace_id] = None
                self._operations[service].add((span.name, span.kind.jaeger_name))
            while len(traces) > self.max_traces:
                self._evict_oldest()

    def _evict_oldest(self) -> None:
        trace_id, spans = self._traces.popitem(last=False)
        for service in {s.resource.service_name for s in spans}:
            ids = self._by_service.get(service)
            if ids is not None:
                ids.pop(trace_id, None)

    # -- reader -----------------------------------------------------------------------
    def get_trace(self, trace_id: int, start_time_ns: int = 0, end_time_ns: int = 0) -> list[Span]:
        with self._lock:
            spans = self._traces.get(trace_id)
            return [s.clone() for s in spans] if spans else []

    def find_trace_ids(self, query: TraceQuery) -> list[int]:
        with self._lock:
            if query.service_name:
                candidates = list(self._by_service.get(query.service_name, ()))
            else:
                candidates = list(self._traces)
            scored: list[tuple[int, int]] = []
            for trace_id in candidates:
                newest = -1
                for span in self._traces[trace_id]:
                    if span.start_time_ns > newest and span_matches(span, query):
                        newest = span.start_time_ns
                if newest >= 0:
                    scored.append((newest, trace_id))
        limit = query.num_traces if query.num_traces > 0 else 100
        return [trace_id for _, trace_id in heapq.nlargest(limit, scored)]

    def find_traces(self, query: TraceQuery) -> list[list[Span]]:
        result = []
        for trace_id in self.find_trace_ids(query):
            spans = self.get_trace(trace_id)
            if spans:
                result.append(spans)
        return result

    def get_services(self) -> list[str]:
        with self._lock:
            return sorted(self._operations)

    def get_operations(self, service: str, span_kind: str = "") -> list[Operation]:
        with self._lock:
            ops = self._operations.get(service, set())
            return sorted(Operation(n, k) for n, k in ops if not span_kind or k == span_kind)

    # -- dependencies -----------------------------------------------------------------
    def get_dependencies(self, end_time_ns: int, lookback_ns: int) -> list[DependencyLink]:
        start = end_time_ns - lookback_ns
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for spans in self._traces.values():
                if not any(start <= s.start_time_ns <= end_time_ns for s in spans):
                    continue
                by_id = {s.span_id: s for s in spans}
                for span in spans:
                    parent = by_id.get(span.parent_span_id) if span.parent_span_id else None
                    if parent is None:
                        continue
                    key = (parent.resource.service_name, span.resource.service_name)
                    if key[0] != key[1]:
                        counts[key] = counts.get(key, 0) + 1
        return [DependencyLink(p, c, n) for (p, c), n in sorted(counts.items())]
