"""A trace: the spans that share one trace ID, plus trace-level warnings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from spyglass.model.span import Span


@dataclass(slots=True)
class Trace:
    trace_id: int
    spans: list[Span] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def group_by_trace(spans: Iterable[Span]) -> list[Trace]:
    """Group spans into traces, in order of each trace's first span."""
    traces: dict[int, Trace] = {}
    for span in spans:
        trace = traces.get(span.trace_id)
        if trace is None:
            trace = traces[span.trace_id] = Trace(span.trace_id)
        trace.spans.append(span)
    return list(traces.values())
