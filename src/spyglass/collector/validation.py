"""The one check every decoded span passes before it is queued: can it be stored and served?

Codecs accept whatever their wire format can express, and some of that no storage can hold
or no client can ask for. ``SpanProcessor.submit`` runs ``validate`` on every request's
spans, for every receiver (OTLP, Jaeger, Zipkin, UDP agent ports), so the rule lives here
once instead of in eleven decoders. A span is refused when:

* ``invalid_trace_id``: its trace ID is all zeros (OTLP and W3C call that invalid; Jaeger's
  formats can carry it, and such a trace could never be looked up: Jaeger's query API
  rejects the zero ID) or does not fit 128 bits;
* ``invalid_time``: its start, its end (start + duration) or an event's time is outside
  ``spyglass.model.timerange`` (1970-01-01 .. 2262-04-11, the signed 64-bit nanosecond
  range every backend stores), or its duration is negative. A Jaeger span starting at
  ±2^62 µs or an OTLP span starting at 2^64-1 ns is refused here rather than acknowledged
  and then lost in the storage writer.

Refused spans are counted in ``spyglass_spans_rejected_total{reason=...}`` and
``spyglass_spans_dropped_total{reason=...}`` and never reach the queue, so they are never
counted as written. The receivers report them: OTLP as ``partial_success``
(``rejected_spans`` and the message), Jaeger and Zipkin (HTTP 400 / gRPC
INVALID_ARGUMENT naming how many of the request's spans were refused and why; the valid
spans of the same request are stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from spyglass.model import Span
from spyglass.model.timerange import MAX_TIME_NS, MIN_TIME_NS

REASON_TRACE_ID = "invalid_trace_id"
REASON_TIME = "invalid_time"

_TRACE_ID_LIMIT = 1 << 128
_MESSAGES = {
    REASON_TRACE_ID: "trace ID is zero or longer than 128 bits",
    REASON_TIME: "start, end or event time outside 1970-01-01..2262-04-11 (signed 64-bit nanoseconds) "
    "or negative duration",
}


class Validated(NamedTuple):
    """The spans that may be stored, and how many of the others were refused for what."""

    good: Sequence[Span]
    rejected: dict[str, int]

    @property
    def rejected_count(self) -> int:
        return sum(self.rejected.values())

    def message(self) -> str:
        """One line naming each reason, e.g. ``2 spans rejected: trace ID is zero ...``."""
        parts = [f"{n} span{'s' if n != 1 else ''} rejected: {_MESSAGES[r]}" for r, n in self.rejected.items()]
        return "; ".join(parts)


def problem(span: Span) -> str | None:
    """Why ``span`` cannot be stored (a reason label), or None when it can."""
    trace_id = span.trace_id
    if not 0 < trace_id < _TRACE_ID_LIMIT:
        return REASON_TRACE_ID
    start = span.start_time_ns
    duration = span.duration_ns
    if not (MIN_TIME_NS <= start <= MAX_TIME_NS and 0 <= duration <= MAX_TIME_NS - start):
        return REASON_TIME
    for event in span.events:
        if not MIN_TIME_NS <= event.time_ns <= MAX_TIME_NS:
            return REASON_TIME
    return None


def _events_ok(span: Span) -> bool:
    return all(MIN_TIME_NS <= e.time_ns <= MAX_TIME_NS for e in span.events)


def validate(spans: Sequence[Span]) -> Validated:
    """Split ``spans`` into the storable ones (the same sequence when all are) and counts
    of the refused ones by reason.

    Every ingested span passes here, so the common case (all valid) is one inlined loop
    of comparisons (~0.2 µs a span); ``problem`` names the reasons only when one fails.
    """
    lo, hi, ids = MIN_TIME_NS, MAX_TIME_NS, _TRACE_ID_LIMIT
    for s in spans:
        start = s.start_time_ns
        if not (0 < s.trace_id < ids and lo <= start <= hi and 0 <= s.duration_ns <= hi - start) or (
            s.events and not _events_ok(s)
        ):
            break
    else:
        return Validated(spans, {})
    good: list[Span] = []
    rejected: dict[str, int] = {}
    for span in spans:
        reason = problem(span)
        if reason is None:
            good.append(span)
        else:
            rejected[reason] = rejected.get(reason, 0) + 1
    return Validated(good, rejected)
