"""Per-trace summaries for search result lists (api_v3 ``FindTraceSummaries``).

The UI's result list needs, per trace, only its root, time span, span and error counts and
the services involved, not every span. Computed here from whole traces, as Jaeger does for
backends without a native summary query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spyglass.model import Span, StatusCode, Trace


@dataclass(slots=True)
class ServiceSummary:
    name: str
    span_count: int = 0
    error_span_count: int = 0


@dataclass(slots=True)
class TraceSummary:
    """One trace in brief. Times are Unix nanoseconds (0 when unknown)."""

    trace_id: int
    root_service_name: str = ""
    root_operation_name: str = ""
    min_start_time_ns: int = 0
    max_end_time_ns: int = 0
    span_count: int = 0
    error_span_count: int = 0
    orphan_span_count: int = 0
    services: list[ServiceSummary] = field(default_factory=list)


def _root(spans: list[Span], ids: set[int]) -> Span | None:
    """The earliest span without a parent; else the earliest whose parent is missing; else
    the earliest span (a trace with a parent cycle)."""
    best: Span | None = None
    for span in spans:
        if span.parent_span_id == 0 and (best is None or span.start_time_ns < best.start_time_ns):
            best = span
    if best is not None:
        return best
    for span in spans:
        if span.parent_span_id not in ids and (best is None or span.start_time_ns < best.start_time_ns):
            best = span
    if best is not None:
        return best
    return min(spans, key=lambda s: s.start_time_ns, default=None)


def summarize(trace: Trace) -> TraceSummary:
    """The summary of one (aggregated, usually adjusted) trace."""
    spans = trace.spans
    summary = TraceSummary(trace.trace_id, span_count=len(spans))
    if not spans:
        return summary
    ids = {s.span_id for s in spans}
    services: dict[str, ServiceSummary] = {}
    min_start = spans[0].start_time_ns
    max_end = spans[0].end_time_ns
    for span in spans:
        if span.start_time_ns < min_start:
            min_start = span.start_time_ns
        end = span.end_time_ns
        if end > max_end:
            max_end = end
        is_error = span.status.code is StatusCode.ERROR
        if is_error:
            summary.error_span_count += 1
        if span.parent_span_id and span.parent_span_id not in ids:
            summary.orphan_span_count += 1
        name = span.resource.service_name
        service = services.get(name)
        if service is None:
            service = services[name] = ServiceSummary(name)
        service.span_count += 1
        if is_error:
            service.error_span_count += 1
    summary.min_start_time_ns = max(0, min_start)
    summary.max_end_time_ns = max(0, max_end)
    root = _root(spans, ids)
    if root is not None:
        summary.root_service_name = root.resource.service_name
        summary.root_operation_name = root.name
    summary.services = [services[name] for name in sorted(services)]
    return summary
