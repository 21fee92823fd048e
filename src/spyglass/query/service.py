"""The query service: reads traces from storage, aggregates and adjusts them.

Every query API (HTTP ``/api``, ``/api/v3``, gRPC api_v2/api_v3) goes through this one
class, so they all answer alike: storage chunks are merged into one trace per ID, the
archive store is asked for traces the primary store lacks, and the standard adjusters
(``spyglass.query.adjusters``) run unless the caller asks for raw traces.

Storage readers are synchronous (and may block on disk); each call runs in a worker thread
so the event loop keeps serving other requests. Adjusting runs in the same thread for the
same reason: a 10,000-span trace takes a while.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TypeVar

from spyglass.model import DependencyLink, Resource, Span, Trace
from spyglass.query.adjusters import Adjuster, apply_adjusters, standard_adjusters
from spyglass.query.summaries import TraceSummary, summarize
from spyglass.storage.api import DependencyReader, Operation, SpanWriter, TraceQuery, TraceReader

T = TypeVar("T")

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


class QueryService:
    """Reads, aggregates and adjusts traces for the query APIs.

    ``adjusters`` defaults to ``standard_adjusters(max_clock_skew_ns)``. The archive reader
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
    ) -> None:
        self.reader = reader
        self.dependencies = dependencies
        self.archive_reader = archive_reader
        self.archive_writer = archive_writer
        self.adjusters: list[Adjuster] = (
            list(adjusters) if adjusters is not None else standard_adjusters(max_clock_skew_ns)
        )

    @property
    def archive_enabled(self) -> bool:
        """Whether traces can be archived (the UI shows its Archive button then)."""
        return self.archive_writer is not None

    @staticmethod
    async def _run(func: Callable[..., T], *args: object) -> T:
        return await asyncio.to_thread(partial(func, *args))

    # -- sync cores (run in a worker thread) ---------------------------------------------

    def _finish(self, trace: Trace, raw: bool) -> Trace:
        if not raw:
            share_resources(trace)
            apply_adjusters(trace, self.adjusters)
        return trace

    def _read_trace(self, trace_id: int, start_ns: int, end_ns: int) -> list[Span]:
        spans = self.reader.get_trace(trace_id, start_ns, end_ns)
        if not spans and self.archive_reader is not None:
            spans = self.archive_reader.get_trace(trace_id, start_ns, end_ns)
        return spans

    def _get_traces(self, trace_ids: Sequence[int], raw: bool, start_ns: int, end_ns: int) -> list[Trace]:
        found = []
        for trace_id in dict.fromkeys(trace_ids):
            spans = self._read_trace(trace_id, start_ns, end_ns)
            if spans:
                for trace in aggregate([spans]):
                    found.append(self._finish(trace, raw))
        return found

    def _find_traces(self, query: TraceQuery, raw: bool) -> list[Trace]:
        return [self._finish(trace, raw) for trace in aggregate(self.reader.find_traces(query))]

    # -- API ---------------------------------------------------------------------------

    async def get_trace(self, trace_id: int, raw: bool = False, start_ns: int = 0, end_ns: int = 0) -> Trace:
        """One trace, from the primary store or else the archive; raises
        ``TraceNotFoundError`` when neither has it. ``start_ns``/``end_ns`` are an optional
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
        if query.num_traces <= 0:
            query = dataclasses.replace(query, num_traces=DEFAULT_SEARCH_DEPTH)
        return await self._run(self._find_traces, query, raw)

    async def find_trace_summaries(self, query: TraceQuery) -> list[TraceSummary]:
        """Summaries of the (adjusted) traces ``find_traces`` would return."""
        traces = await self.find_traces(query)
        return [summarize(trace) for trace in traces]

    async def get_services(self) -> list[str]:
        return await self._run(self.reader.get_services)

    async def get_operations(self, service: str, span_kind: str = "") -> list[Operation]:
        return await self._run(self.reader.get_operations, service, span_kind)

    async def get_dependencies(self, end_ns: int, lookback_ns: int) -> list[DependencyLink]:
        return await self._run(self.dependencies.get_dependencies, end_ns, lookback_ns)

    async def archive_trace(self, trace_id: int, start_ns: int = 0, end_ns: int = 0) -> None:
        """Copy a trace (as stored, not adjusted) to the archive store.

        Raises ``ArchiveNotConfiguredError`` without an archive store (checked first, as
        Jaeger does) and ``TraceNotFoundError`` for an unknown trace.
        """
        writer = self.archive_writer
        if writer is None:
            raise ArchiveNotConfiguredError()

        def archive() -> None:
            spans = self._read_trace(trace_id, start_ns, end_ns)
            if not spans:
                raise TraceNotFoundError()
            writer.write_spans(spans)

        await self._run(archive)
