"""Give Zipkin-style shared span IDs back their uniqueness (Jaeger's ZipkinSpanIDUniquifier).

Zipkin clients use one span ID for both sides of an RPC: the CLIENT span and the SERVER
span. The Jaeger UI needs unique IDs, so the SERVER span gets a fresh ID, its parent becomes
the shared ID (the client span), and its own children are re-pointed at the fresh ID. Fresh
IDs count up from 1, skipping IDs the trace already uses, as Jaeger does.
"""

from __future__ import annotations

from spyglass.model import SpanKind, Trace

WARNING_TOO_MANY_SPANS = "cannot assign unique span ID, too many spans in the trace"
_MAX_SPAN_ID = (1 << 64) - 1


def uniquify_span_ids(trace: Trace) -> None:
    """Adjuster: re-ID SERVER spans that share their span ID with a CLIENT span."""
    client_ids = {s.span_id for s in trace.spans if s.kind is SpanKind.CLIENT}
    if not client_ids:
        return
    used = {s.span_id for s in trace.spans}
    old_to_new: dict[int, int] = {}
    last = 0
    for span in trace.spans:
        if span.kind is not SpanKind.SERVER or span.span_id not in client_ids:
            continue
        new_id = last + 1
        while new_id < _MAX_SPAN_ID and new_id in used:
            new_id += 1
        if new_id >= _MAX_SPAN_ID:
            span.warnings.append(WARNING_TOO_MANY_SPANS)
            continue
        last = new_id
        old_to_new[span.span_id] = new_id
        span.parent_span_id = span.span_id  # the client span, which had the shared ID
        span.span_id = new_id
    if not old_to_new:
        return
    for span in trace.spans:
        new_parent = old_to_new.get(span.parent_span_id)
        if new_parent is not None and span.span_id != new_parent:
            span.parent_span_id = new_parent
