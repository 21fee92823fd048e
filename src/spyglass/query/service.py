"""The query service: reads traces from storage, aggregates and adjusts them.

Every query API (HTTP ``/api``, ``/api/v3``, gRPC api_v2/api_v3) goes through this one
class, so they all answer alike: storage chunks are merged into one trace per ID, the
archive store is asked for traces the primary store lacks, and the standard adjusters
(``spyglass.query.adjusters``) run unless the caller asks for raw traces.

Storage readers are synchronous (and may block on disk); each call runs in a worker thread
so the event loop keeps serving other requests. Adjusting runs in the same thread for the
same reason: a 10,000-span trace takes a while. The threads, the admission limit, the
deadline and the size limits of every call are ``spyglass.query.limits``: heavy calls may
raise ``QueryBusy`` or ``QueryTimeout``, which the APIs turn into 503 / RESOURCE_EXHAUSTED
and 503 / DEADLINE_EXCEEDED. Search windows and trace hints are clamped into the storable
time range (``spyglass.model.timerange``) here, so no API can hand a backend a time its
integer columns cannot hold.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from spyglass.analytics import series
from spyglass.analytics.series import MetricsRequest
from spyglass.model import DependencyLink, Resource, Span, Trace
from spyglass.model.timerange import MAX_TIME_NS, clamp_time_ns
from spyglass.query.adjusters import Adjuster, apply_adjusters, standard_adjusters
from spyglass.query.limits import QueryLimits, QueryRunner
from spyglass.query.summaries import TraceSummary, summarize
from spyglass.storage.api import DependencyReader, Operation, SpanWriter, TraceQuery, TraceReader
from spyglass.storage.api.deadline import check_deadline
from spyglass.storage.api.metrics import MetricsReader
from spyglass.storage.api.traceql import TraceQLReader
from spyglass.traceql import ast as tql
from spyglass.traceql.engine import Series
from spyglass.traceql.evaluate import TraceMatch

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_SEARCH_DEPTH = 100


class TraceNotFoundError(LookupError):
    """No store has the trace. The text is Jaeger's (``spanstore.ErrTraceNotFound``)."""

    def __init__(self, message: str = "trace not found") -> None:
        super().__init__(message)


class ArchiveNotConfiguredError(RuntimeError):
    """Archiving was asked for, but no archive store is configured (Jaeger's text)."""

    def __init__(self, message: str = "archive span storage was not configured") -> None:
        super().__init__(message)


def aggregate(chunks: Iterable[Sequence[Span]]) -> list[Trace]:
    """Merge span chunks into one ``Trace`` per trace ID, in order of first appearance."""
    traces: dict[int, Trace] = {}
    for chunk in chunks:
        for span in chunk:
            trace = traces.get(span.trace_id)
            if trace is None:
                trace = traces[span.trace_id] = Trace(span.trace_id)
            trace.spans.append(span)
    return list(traces.values())


def truncation_warning(max_spans: int) -> str:
    """Jaeger's text (``jptrace.AggregateTracesWithLimit``) for a trace cut to ``max_spans``."""
    return f"trace has more than {max_spans} spans, showing first {max_spans} spans only"


def clamp_query(query: TraceQuery) -> TraceQuery:
    """``query`` with its time window inside the storable range. 0 stays "unbounded"; a
    bound before 1970 becomes 0 (unbounded: nothing is stored earlier)."""
    lo, hi = query.start_time_min_ns, query.start_time_max_ns
    if 0 <= lo <= MAX_TIME_NS and 0 <= hi <= MAX_TIME_NS:
        return query
    return dataclasses.replace(query, start_time_min_ns=clamp_time_ns(lo), start_time_max_ns=clamp_time_ns(hi))


def share_resources(trace: Trace) -> None:
    """Make spans with equal resources share one ``Resource`` object.

    Storage hands out clones, one resource per span; in Jaeger v2 the spans of one process
    share it (one OTLP ResourceSpans). Adjusters that change a process (moving SDK tags to
    it, fixing IP tags) must change it for all of its spans, or the UI would show the
    process split in two.
    """
    shared: dict[str, Resource] = {}
    for span in trace.spans:
        key = repr(span.resource)
        resource = shared.get(key)
        if resource is None:
            shared[key] = span.resource
        else:
            span.resource = resource


@dataclasses.dataclass(slots=True)
class TenantReaders:
    """One tenant's stores, as the query service reads them (``spyglass.tenancy``)."""

    reader: TraceReader
    dependencies: DependencyReader
    archive_reader: TraceReader | None = None
    archive_writer: SpanWriter | None = None
    metrics: MetricsReader | None = None


class QueryService:
    """Reads, aggregates and adjusts traces for the query APIs.

    With multi-tenancy, ``tenants`` gives each tenant's readers and ``tenancy`` (a
    ``TenancyGate``) tells the APIs how to find a request's tenant; each API then works on
    ``for_tenant(tenant)``, a view of this service over that tenant's stores only (sharing
    the limits, pools and adjusters).

    ``adjusters`` defaults to ``standard_adjusters(max_clock_skew_ns)``; ``limits`` and
    ``registry`` (for the ``spyglass_query_*`` metrics) go to its ``QueryRunner``. The archive reader
    is consulted for traces the primary store does not have; the archive writer receives
    traces archived with ``archive_trace``.
    """

    def __init__(
        self,
        reader: TraceReader,
        dependencies: DependencyReader,
        archive_reader: TraceReader | None = None,
        archive_writer: SpanWriter | None = None,
        adjusters: Sequence[Adjuster] | None = None,
        max_clock_skew_ns: int = 0,
        limits: QueryLimits | None = None,
        registry: CollectorRegistry | None = None,
        metrics: MetricsReader | None = None,
        tenants: Callable[[str], TenantReaders] | None = None,
        tenancy: Any = None,
    ) -> None:
        self.tenants = tenants
        self.tenancy = tenancy  # spyglass.tenancy.gate.TenancyGate, None without multi-tenancy
        self._views: dict[str, QueryService] = {}
        self._views_lock = threading.Lock()
        self.metrics = metrics  # RED rollups (``spyglass.analytics``); None: /api/metrics answers 501
        self.runner = QueryRunner(limits, registry)
        self.limits = self.runner.limits
        self.reader = reader
        self.dependencies = dependencies
        self.archive_reader = archive_reader
        self.archive_writer = archive_writer
        self.adjusters: list[Adjuster] = (
            list(adjusters) if adjusters is not None else standard_adjusters(max_clock_skew_ns)
        )

    def for_tenant(self, tenant: str) -> QueryService:
        """This service over ``tenant``'s stores; ``""`` (no tenancy) is this service."""
        if not tenant:
            return self
        if self.tenants is None:  # never fall back to the shared stores: that would leak
            raise RuntimeError(f"no stores for tenant {tenant!r}: multi-tenancy is not configured")
        view = self._views.get(tenant)
        if view is None:
            with self._views_lock:
                view = self._views.get(tenant)
                if view is None:
                    readers = self.tenants(tenant)
                    view = copy.copy(self)
                    view.reader, view.dependencies = readers.reader, readers.dependencies
                    view.archive_reader, view.archive_writer = readers.archive_reader, readers.archive_writer
                    view.metrics = readers.metrics
                    view.tenants, view._views = None, {}
                    self._views[tenant] = view
        return view

    @property
    def archive_enabled(self) -> bool:
        """Whether traces can be archived (the UI shows its Archive button then)."""
        return self.archive_writer is not None

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        """Heavy work: admission limit, query pool, deadline."""
        return await self.runner.heavy(func, *args)

    async def render(self, func: Callable[..., T], *args: object) -> T:
        """Encode an answer on the query side's render pool (never ingest's threads)."""
        return await self.runner.render(func, *args)

    def close(self) -> None:
        self.runner.close()

    # -- sync cores (run in a worker thread) ---------------------------------------------

    def _finish(self, trace: Trace, raw: bool) -> Trace:
        if not raw:
            share_resources(trace)
            apply_adjusters(trace, self.adjusters)
        return trace

    def _read_trace(self, trace_id: int, start_ns: int, end_ns: int) -> list[Span]:
        start_ns, end_ns = clamp_time_ns(start_ns), clamp_time_ns(end_ns)
        spans = self.reader.get_trace(trace_id, start_ns, end_ns)
        if not spans and self.archive_reader is not None:
            spans = self.archive_reader.get_trace(trace_id, start_ns, end_ns)
        return spans

    def _collect(self, trace_ids: Iterable[int], raw: bool, start_ns: int, end_ns: int) -> list[Trace]:
        """The traces of ``trace_ids`` (each once, in order) within the span budget: whole
        traces until the next would pass ``max_spans_per_response``; a first trace larger
        than the budget is cut to it with Jaeger's warning. The deadline is checked
        between traces."""
        budget = self.limits.max_spans_per_response
        found: list[Trace] = []
        total = 0
        for trace_id in dict.fromkeys(trace_ids):
            check_deadline()
            if not trace_id:  # the all-zero ID is invalid: nothing with it is served
                continue
            spans = self._read_trace(trace_id, start_ns, end_ns)
            if not spans:
                continue
            if budget and total + len(spans) > budget:
                if found:
                    log.debug("query answer cut at %d traces: the next would pass %d spans "
                             "(--query.max-spans-per-response)", len(found), budget)
                    break
                del spans[budget:]
                spans[0].warnings.append(truncation_warning(budget))
            total += len(spans)
            for trace in aggregate([spans]):
                found.append(self._finish(trace, raw))
        return found

    def _get_traces(self, trace_ids: Sequence[int], raw: bool, start_ns: int, end_ns: int) -> list[Trace]:
        return self._collect(trace_ids, raw, start_ns, end_ns)

    def _find_traces(self, query: TraceQuery, raw: bool) -> list[Trace]:
        return self._collect(self.reader.find_trace_ids(query), raw, 0, 0)

    # -- API ---------------------------------------------------------------------------

    async def get_trace(self, trace_id: int, raw: bool = False, start_ns: int = 0, end_ns: int = 0) -> Trace:
        """One trace, from the primary store or else the archive; raises
        ``TraceNotFoundError`` when neither has it (always for the invalid all-zero ID,
        as Jaeger's HTTP API answers 404 for it). ``start_ns``/``end_ns`` are an optional
        hint of where to look."""
        traces = await self._run(self._get_traces, [trace_id], raw, start_ns, end_ns)
        if not traces:
            raise TraceNotFoundError()
        return traces[0]

    async def get_traces(
        self, trace_ids: Sequence[int], raw: bool = False, start_ns: int = 0, end_ns: int = 0
    ) -> list[Trace]:
        """The traces of ``trace_ids`` that exist (each ID once, in the order given)."""
        return await self._run(self._get_traces, list(trace_ids), raw, start_ns, end_ns)

    async def find_traces(self, query: TraceQuery, raw: bool = False) -> list[Trace]:
        """Whole traces matching ``query`` (spec G), as the store orders them (newest first)."""
        num_traces = self.limits.clamp_traces(query.num_traces if query.num_traces > 0 else DEFAULT_SEARCH_DEPTH)
        if num_traces != query.num_traces:
            query = dataclasses.replace(query, num_traces=num_traces)
        return await self._run(self._find_traces, clamp_query(query), raw)

    async def find_trace_summaries(self, query: TraceQuery) -> list[TraceSummary]:
        """Summaries of the (adjusted) traces ``find_traces`` would return."""
        traces = await self.find_traces(query)
        return [summarize(trace) for trace in traces]

    async def get_services(self) -> list[str]:
        return await self.runner.light(self.reader.get_services)

    async def get_operations(self, service: str, span_kind: str = "") -> list[Operation]:
        return await self.runner.light(self.reader.get_operations, service, span_kind)

    async def get_dependencies(self, end_ns: int, lookback_ns: int) -> list[DependencyLink]:
        """Links of ``[end - lookback, end]``, the window clamped into the storable range."""
        end = clamp_time_ns(end_ns)
        start = clamp_time_ns(end_ns - lookback_ns)
        return await self._run(self.dependencies.get_dependencies, end, end - start)

    async def get_metrics(self, metric: str, request: MetricsRequest) -> dict[str, Any]:
        """Jaeger's ``MetricFamily`` for ``metric`` (latencies, calls or errors)."""
        metrics = self.metrics
        assert metrics is not None
        return await self._run(series.query, metric, metrics, request)

    # -- query language (``spyglass.traceql``; Tempo's API) -------------------------------------------
    def _tql(self) -> TraceQLReader:
        if not isinstance(self.reader, TraceQLReader):
            raise NotImplementedError("this storage backend does not support TraceQL queries")
        return self.reader

    async def traceql_search(self, query: tql.Query, start_ns: int, end_ns: int, limit: int) -> list[TraceMatch]:
        """Traces matching ``query`` (newest first); the limit is capped by ``--query.max-traces``."""
        reader = self._tql()
        cap = self.limits.max_traces
        limit = min(limit, cap) if cap else limit
        return await self._run(reader.find_traces_traceql, query, clamp_time_ns(start_ns), clamp_time_ns(end_ns), limit)

    async def traceql_metrics(self, query: tql.Query, start_ns: int, end_ns: int, step_ns: int) -> list[Series]:
        reader = self._tql()
        return await self._run(reader.traceql_metrics, query, clamp_time_ns(start_ns), clamp_time_ns(end_ns), step_ns)

    async def traceql_instant(self, query: tql.Query, start_ns: int, end_ns: int) -> list[tuple[tuple, float]]:
        reader = self._tql()
        return await self._run(reader.traceql_instant, query, clamp_time_ns(start_ns), clamp_time_ns(end_ns))

    async def traceql_tag_names(self, start_ns: int, end_ns: int) -> dict[str, set[str]]:
        reader = self._tql()
        return await self._run(reader.traceql_tag_names, clamp_time_ns(start_ns), clamp_time_ns(end_ns))

    async def traceql_tag_values(self, fld: tql.Field, cond: tql.Cond, start_ns: int, end_ns: int) -> list[tuple[str, object]]:
        reader = self._tql()
        return await self._run(reader.traceql_tag_values, fld, cond, clamp_time_ns(start_ns), clamp_time_ns(end_ns))

    async def archive_trace(self, trace_id: int, start_ns: int = 0, end_ns: int = 0) -> None:
        """Copy a trace (as stored, not adjusted) to the archive store.

        Raises ``ArchiveNotConfiguredError`` without an archive store (checked first, as
        Jaeger does) and ``TraceNotFoundError`` for an unknown trace.
        """
        writer = self.archive_writer
        if writer is None:
            raise ArchiveNotConfiguredError()

        def archive() -> None:
            spans = self._read_trace(trace_id, start_ns, end_ns) if trace_id else []
            if not spans:
                raise TraceNotFoundError()
            writer.write_spans(spans)

        await self._run(archive)
