"""Counts root spans per (service, operation) on each collector (Jaeger's aggregator).

Only root spans (parent span ID 0) with ``sampler.type`` and ``sampler.param`` tags count:
``probabilistic`` roots add to the throughput; ``lowerbound``, ``ratelimiting`` and ``const``
roots add the operation with no count, so the leader knows the endpoint exists. Up to 10
distinct ``sampler.param`` values are remembered per operation. ``flush`` hands the counts
over (every calculation interval) and starts new ones.

``observe`` is called from the span path with each accepted batch; it is one pass over the
spans with a dict look-up for roots, cheap next to decoding.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from spyglass.model import Span
from spyglass.storage.api.sampling import Throughput
from spyglass.tenancy.sampling import qualify

RECOGNISED = frozenset(("probabilistic", "lowerbound", "ratelimiting", "const"))
MAX_PROBABILITIES = 10
_MAX_OPERATIONS = 100_000  # distinct (service, operation) per interval; more are ignored


def truncate_float(value: float) -> str:
    """Jaeger's ``TruncateFloat``: the probability as text with at most 10 decimals, so
    values that went through float32 or JSON still compare equal."""
    return f"{value:.10f}".rstrip("0").rstrip(".") or "0"


def sampler_tags(span: Span) -> tuple[str, float] | None:
    kind: object = None
    param: object = None
    for kv in span.attributes:
        if kv.key == "sampler.type":
            kind = kv.value
        elif kv.key == "sampler.param":
            param = kv.value
    if not isinstance(kind, str) or kind not in RECOGNISED or param is None:
        return None
    if isinstance(param, bool):
        value = float(param)
    elif isinstance(param, (int, float)):
        value = float(param)
    else:
        try:
            value = float(str(param))
        except ValueError:
            value = 0.0
    return kind, value


class Aggregator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[tuple[str, str], Throughput] = {}
        self.roots_seen = 0

    def observe(self, spans: Sequence[Span]) -> None:
        """Count the root spans of one accepted batch."""
        found = []
        for span in spans:
            if span.parent_span_id or not span.name:
                continue
            service = span.resource.service_name
            if not service:
                continue
            if span.tenant:  # each tenant's throughput apart (spyglass.tenancy.sampling)
                service = qualify(span.tenant, service)
            tags = sampler_tags(span)
            if tags is not None:
                found.append((service, span.name, tags[0], tags[1]))
        if not found:
            return
        with self._lock:
            for service, operation, kind, param in found:
                self.record(service, operation, kind, param)

    def record(self, service: str, operation: str, kind: str, probability: float) -> None:
        """One root span (the caller holds the lock, or is single-threaded)."""
        key = (service, operation)
        t = self._current.get(key)
        if t is None:
            if len(self._current) >= _MAX_OPERATIONS:
                return
            t = self._current[key] = Throughput(service, operation)
        if len(t.probabilities) < MAX_PROBABILITIES:
            t.probabilities.add(truncate_float(probability))
        if kind == "probabilistic":
            t.count += 1
        self.roots_seen += 1

    def flush(self) -> list[Throughput]:
        """The counts since the last flush; counting starts afresh."""
        with self._lock:
            out = list(self._current.values())
            self._current = {}
        return out
