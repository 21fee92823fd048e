"""Put the parent reference first (Jaeger's ParentReference adjuster).

The UI takes ``references[0]`` as the parent. The codecs already write the parent (a
CHILD_OF reference) first; this covers spans without a parent whose links point into the
same trace: the first same-trace CHILD_OF link, or else the first same-trace link of any
type, moves to the front so the UI can place the span in the tree.
"""

from __future__ import annotations

from spyglass.model import RefType, Trace


def parent_reference_first(trace: Trace) -> None:
    """Adjuster: for parentless spans, move the best same-trace link to the front."""
    for span in trace.spans:
        if span.parent_span_id or len(span.links) < 2:
            continue
        first_child_of = -1
        first_other = -1
        for i, link in enumerate(span.links):
            if link.trace_id != span.trace_id:
                continue
            if link.ref_type is RefType.CHILD_OF:
                first_child_of = i
                break
            if first_other == -1:
                first_other = i
        pick = first_child_of if first_child_of != -1 else first_other
        if pick > 0:
            links = span.links
            links[0], links[pick] = links[pick], links[0]
