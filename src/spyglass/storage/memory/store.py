"""Traces kept in process memory: writer, trace reader and dependency reader in one.

Traces are held in arrival order; past ``max_traces`` the trace that arrived first is
evicted whole. Searches scan time-ordered span indexes (per service, per service and
operation, and one over everything) newest first and stop once ``num_traces`` traces are
found, so the common searches touch few spans. Readers get clones, so nothing they change
reaches the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence

from spyglass.model import DependencyLink, Span
from spyglass.storage.dependency_links import trace_links
from spyglass.storage.api import DependencyReader, Operation, SpanWriter, TraceQuery, TraceReader
from spyglass.storage.api.deadline import check_deadline
from spyglass.storage.api.traceql import TraceQLReader
from spyglass.analytics.rollup import Rollup
from spyglass.storage.matching import span_matches
from spyglass.storage.memory.index import SpanTimeIndex
from spyglass.storage.memory.rollup import MemoryRollup
from spyglass.traceql import ast
from spyglass.traceql.evaluate import matches

_CHECK_EVERY = 4096


class MemoryStore(SpanWriter, TraceReader, DependencyReader, TraceQLReader):
    def __init__(self, max_traces: int = 100_000, *, analytics: bool = True) -> None:
        self.max_traces = max_traces
        # RED and dependency rollups written with every batch (``spyglass.analytics``);
        # the archive store has none.
        self.rollup: MemoryRollup | None = MemoryRollup() if analytics else None
        self._roller = Rollup()
        self._lock = threading.RLock()
        self._traces: OrderedDict[int, list[Span]] = OrderedDict()
        self._all = SpanTimeIndex()
        self._by_service: dict[str, SpanTimeIndex] = {}
        self._by_operation: dict[tuple[str, str], SpanTimeIndex] = {}
        self._kinds: dict[tuple[str, str], set[str]] = {}
        self._live_spans = 0
        self._dead_spans = 0

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
                op_key = (service, span.name)
                by_op = self._by_operation.get(op_key)
                if by_op is None:
                    by_op = self._by_operation[op_key] = SpanTimeIndex()
                    self._kinds[op_key] = set()
                    if service not in self._by_service:
                        self._by_service[service] = SpanTimeIndex()
                by_op.add(span)
                self._by_service[service].add(span)
                self._all.add(span)
                self._kinds[op_key].add(span.kind.jaeger_name)
            self._live_spans += len(spans)
            if self.rollup is not None:
                self.rollup.add(self._roller.rows(spans))
            while len(traces) > self.max_traces:
                _, evicted = traces.popitem(last=False)
                self._live_spans -= len(evicted)
                self._dead_spans += len(evicted)
            if self._dead_spans > self._live_spans:
                self._compact()

    def _compact(self) -> None:
        traces = self._traces

        def is_live(span: Span) -> bool:
            trace = traces.get(span.trace_id)
            return trace is not None and any(s is span for s in trace)

        for index in [self._all, *self._by_service.values(), *self._by_operation.values()]:
            index.compact(is_live)
        self._dead_spans = 0

    # -- reader -----------------------------------------------------------------------
    def get_trace(self, trace_id: int, start_time_ns: int = 0, end_time_ns: int = 0) -> list[Span]:
        with self._lock:
            spans = self._traces.get(trace_id)
            return [s.clone() for s in spans] if spans else []

    def _index_for(self, query: TraceQuery) -> SpanTimeIndex | None:
        if query.service_name and query.operation_name:
            return self._by_operation.get((query.service_name, query.operation_name))
        if query.service_name:
            return self._by_service.get(query.service_name)
        return self._all

    def find_trace_ids(self, query: TraceQuery) -> list[int]:
        limit = query.num_traces if query.num_traces > 0 else 100
        found: dict[int, None] = {}
        with self._lock:
            index = self._index_for(query)
            if index is None:
                return []
            for scanned, (_, trace_id, span) in enumerate(
                index.newest_first(query.start_time_min_ns, query.start_time_max_ns)
            ):
                if not scanned % _CHECK_EVERY:
                    check_deadline()
                if trace_id in found or trace_id not in self._traces or not span_matches(span, query):
                    continue
                found[trace_id] = None
                if len(found) >= limit:
                    break
        return list(found)

    def find_traces(self, query: TraceQuery) -> list[list[Span]]:
        result = []
        for trace_id in self.find_trace_ids(query):
            check_deadline()
            spans = self.get_trace(trace_id)
            if spans:
                result.append(spans)
        return result

    def get_services(self) -> list[str]:
        with self._lock:
            return sorted(self._by_service)

    def get_operations(self, service: str, span_kind: str = "") -> list[Operation]:
        with self._lock:
            return sorted(
                Operation(name, kind)
                for (svc, name), kinds in self._kinds.items()
                if svc == service
                for kind in kinds
                if not span_kind or kind == span_kind
            )

    # -- query language (``spyglass.traceql``): the AST evaluated over the time index ---------------
    def _tql_window(self, cond: ast.Cond, start_ns: int, end_ns: int) -> list[tuple[int, int, Span]]:
        service, name = _required(cond)
        with self._lock:
            if service and name:
                index = self._by_operation.get((service, name))
            elif service:
                index = self._by_service.get(service)
            else:
                index = self._all
            return index.window(start_ns, end_ns) if index is not None else []

    def tql_candidates(self, cond: ast.Cond, start_ns: int, end_ns: int) -> Iterator[tuple[int, int]]:
        traces = self._traces
        entries = self._tql_window(cond, start_ns, end_ns)
        for n in range(len(entries) - 1, -1, -1):
            if not n % _CHECK_EVERY:
                check_deadline()
            start, trace_id, span = entries[n]
            if trace_id in traces and matches(cond, span, None):
                yield start, trace_id

    def tql_trace(self, trace_id: int) -> list[Span]:
        return self.get_trace(trace_id)

    def tql_window_spans(self, cond: ast.Cond, start_ns: int, end_ns: int,
                         fields: frozenset[ast.Field]) -> Iterator[tuple[Span, bool]]:
        traces = self._traces
        for start, trace_id, span in self._tql_window(cond, start_ns, end_ns):
            if trace_id in traces:
                yield span, False

    # -- dependencies -----------------------------------------------------------------
    def get_dependencies(self, end_time_ns: int, lookback_ns: int) -> list[DependencyLink]:
        start = end_time_ns - lookback_ns
        in_window: dict[int, None] = {}
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for scanned, (_, trace_id, span) in enumerate(self._all.newest_first(start, end_time_ns)):
                if not scanned % _CHECK_EVERY:
                    check_deadline()
                if trace_id in self._traces:
                    in_window[trace_id] = None
            for n, trace_id in enumerate(in_window):
                if not n % 256:
                    check_deadline()
                for key in trace_links(self._traces[trace_id]):
                    counts[key] = counts.get(key, 0) + 1
        return [DependencyLink(p, c, n) for (p, c), n in sorted(counts.items())]


def _required(cond: ast.Cond) -> tuple[str, str]:
    """The service and span name every span satisfying ``cond`` must have (``""`` = any),
    from its top-level ``&&`` terms: they pick the smallest time index to walk."""
    service = name = ""
    terms = [cond]
    while terms:
        c = terms.pop()
        if isinstance(c, ast.BoolOp) and c.op == "&&":
            terms += [c.left, c.right]
        elif isinstance(c, ast.Compare) and c.op == "=" and c.value.type == "str":
            if c.field == ast.Intrinsic("name"):
                name = str(c.value.value)
            elif c.field == ast.Attribute("resource", "service.name"):
                service = str(c.value.value)
    return service, name
