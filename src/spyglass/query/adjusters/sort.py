"""Sort tags, process tags and log fields by key (Jaeger's SortTagsAndLogFields).

Stored attribute order depends on the client; sorting makes the UI stable and lets the
span-hash deduper see equal spans as equal. A log's ``event`` field stays first: it is the
event name here, written ahead of the attributes by the Jaeger codecs. The sort is stable,
so repeated keys keep their relative order.
"""

from __future__ import annotations

from operator import itemgetter

from spyglass.model import Trace

_by_key = itemgetter(0)


def sort_tags_and_log_fields(trace: Trace) -> None:
    """Adjuster: sort span attributes, resource attributes and event attributes by key."""
    seen_resources: set[int] = set()
    for span in trace.spans:
        if len(span.attributes) > 1:
            span.attributes.sort(key=_by_key)
        resource = span.resource
        if id(resource) not in seen_resources:
            seen_resources.add(id(resource))
            if len(resource.attributes) > 1:
                resource.attributes.sort(key=_by_key)
        for event in span.events:
            if len(event.attributes) > 1:
                event.attributes.sort(key=_by_key)
