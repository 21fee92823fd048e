"""Drop exact duplicate spans (Jaeger's DedupeBySpanHash).

Archive copies and client retries can store one span twice; the UI would show it twice.
Only spans with the same span ID can be equal, so the full comparison (every field, the
resource included) runs within those small groups. Unlike Jaeger, which rebuilds the span
list from a map, the first copy of each span keeps its place.
"""

from __future__ import annotations

from spyglass.model import Span, Trace


def _identity(span: Span) -> str:
    # The dataclass repr covers every field, nested resource, scope, events and links.
    return repr(span)


def dedupe_spans(trace: Trace) -> None:
    """Adjuster: keep one copy of spans that are equal in every field."""
    by_id: dict[int, int] = {}
    repeated = False
    for span in trace.spans:
        count = by_id.get(span.span_id, 0)
        by_id[span.span_id] = count + 1
        repeated = repeated or count > 0
    if not repeated:
        return
    seen: set[tuple[int, str]] = set()
    kept = []
    for span in trace.spans:
        if by_id[span.span_id] > 1:
            key = (span.span_id, _identity(span))
            if key in seen:
                continue
            seen.add(key)
        kept.append(span)
    trace.spans = kept
