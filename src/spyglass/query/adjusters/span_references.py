"""Remove references to an all-zero trace ID (Jaeger's SpanReferences adjuster).

Such a reference points nowhere, and the UI would try to follow it.
"""

from __future__ import annotations

from spyglass.model import RefType, Trace, format_span_id, format_trace_id

_REF_NAMES = {RefType.CHILD_OF: "CHILD_OF", RefType.FOLLOWS_FROM: "FOLLOWS_FROM"}


def invalid_reference_warning(trace_id: int, span_id: int, ref_type: RefType) -> str:
    """Jaeger's warning, which prints the reference as Go's ``%+v`` of a ``SpanRef``."""
    name = _REF_NAMES.get(ref_type, str(int(ref_type)))
    return (
        "Invalid span reference removed "
        f"{{TraceID:{format_trace_id(trace_id)} SpanID:{format_span_id(span_id)} RefType:{name}}}"
    )


def remove_invalid_references(trace: Trace) -> None:
    """Adjuster: drop links whose trace ID is 0, with a warning for each."""
    for span in trace.spans:
        if not any(link.trace_id == 0 for link in span.links):
            continue
        kept = []
        for link in span.links:
            if link.trace_id == 0:
                span.warnings.append(invalid_reference_warning(0, link.span_id, link.ref_type))
            else:
                kept.append(link)
        span.links = kept
