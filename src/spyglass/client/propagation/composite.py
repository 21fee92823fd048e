"""Several formats at once: inject writes all of them; extract takes the trace from the
first format that has one and merges every format's baggage (earlier formats win on a
key clash), so a service can accept W3C, B3 and Jaeger callers side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spyglass.client.context import SpanContext
from spyglass.client.propagation.base import Headers, Propagator, Setter, dict_setter, log


class CompositePropagator(Propagator):
    def __init__(self, propagators: Sequence[Propagator]) -> None:
        self.propagators = tuple(propagators)
        self.fields = tuple(f for p in self.propagators for f in p.fields)

    def inject(self, context: SpanContext, carrier: Any, setter: Setter = dict_setter) -> None:
        for p in self.propagators:
            p.inject(context, carrier, setter)

    def extract(self, headers: Headers) -> SpanContext | None:
        found: SpanContext | None = None
        baggage: dict[str, str] = {}
        debug_id = None
        for p in self.propagators:
            try:
                ctx = p.extract(headers)
            except Exception as exc:  # a propagator bug must not break the request
                log.debug("%r failed to extract: %s", p, exc)
                continue
            if ctx is None:
                continue
            if found is None and ctx.trace_id:
                found = ctx
            for key, value in ctx.baggage.items():
                baggage.setdefault(key, value)
            if debug_id is None and ctx.debug_id:
                debug_id = ctx.debug_id
        if found is not None:
            if baggage and dict(found.baggage) != baggage:
                return SpanContext(found.trace_id, found.span_id, found.parent_id, found.flags, baggage,
                                   None, found.trace_state)
            return found
        if debug_id is not None or baggage:
            return SpanContext(0, 0, 0, 0, baggage or None, debug_id)
        return None
