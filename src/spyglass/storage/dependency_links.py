"""The dependency rule every backend computes, in one place.

For each trace:

1. **Calls between traced services.** For every span whose parent span is in the trace
   (the last written one when a span ID repeats), one call from the parent's service to
   the span's service when they differ (Jaeger's memory and Badger stores).
2. **Calls to services that are not traced.** A client or producer span with no child in
   the trace (no span names it as parent, no other span shares its ID as a Zipkin server
   half would) and a string ``peer.service`` attribute is one call from its service to
   that peer, unless the peer is its own service. This is the virtual child that Jaeger's
   dependency job (spark-dependencies) derives, so a database, a queue or a third-party
   API named by the caller appears on the dependency graph.

Backends that hold spans in Python (memory, and any that reads whole traces) call
``trace_links`` per trace. The SQLite backend computes the same in SQL over narrow rows
(``storage.sqlite.dependencies``, ``peers`` table), and the shared storage suite checks
every backend gives the same links. ``peer_service_of`` decides which spans can carry
rule 2, so writers that index it call it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from spyglass.model import Span, SpanKind

PEER_SERVICE_KEY = "peer.service"
PEER_KINDS = frozenset({SpanKind.CLIENT, SpanKind.PRODUCER})


def peer_service_of(span: Span) -> str:
    """The ``peer.service`` of a client or producer span ("" for any other span or when
    the attribute is absent, empty or not a string)."""
    if span.kind not in PEER_KINDS:
        return ""
    for kv in span.attributes:
        if kv.key == PEER_SERVICE_KEY:
            return kv.value if isinstance(kv.value, str) else ""
    return ""


def trace_links(spans: Sequence[Span]) -> Iterator[tuple[str, str]]:
    """Every (caller service, callee service) call of one trace, one pair per call."""
    by_id: dict[int, Span] = {}
    id_counts: dict[int, int] = {}
    for span in spans:
        by_id[span.span_id] = span
        id_counts[span.span_id] = id_counts.get(span.span_id, 0) + 1
    parents = set()
    for span in spans:
        if not span.parent_span_id:
            continue
        parents.add(span.parent_span_id)
        parent = by_id.get(span.parent_span_id)
        if parent is None:
            continue
        caller, callee = parent.resource.service_name, span.resource.service_name
        if caller != callee:
            yield caller, callee
    for span in spans:
        if span.span_id in parents or id_counts[span.span_id] > 1:
            continue
        peer = peer_service_of(span)
        if peer and peer != span.resource.service_name:
            yield span.resource.service_name, peer
