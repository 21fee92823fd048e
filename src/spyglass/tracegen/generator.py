"""Realistic traces in the canonical model, for load tests: a call tree over a set of services.

Each trace is a tree ``depth`` levels deep where every span below the last level calls
``fan_out`` children, so a trace has ``1 + f + f^2 + ... + f^(depth-1)`` spans. Children run
inside their parent's time and each level's spans belong to the next service in turn (SERVER
spans; INTERNAL when there is one service). The shape is what storage and query costs depend on (span count,
attributes, events, errors, links), so each of those is a knob; the values are random but
reproducible from ``seed``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from spyglass.model import Event, KeyValue, Link, RefType, Resource, Span, SpanKind, Status, StatusCode


@dataclass(frozen=True, slots=True)
class TraceShape:
    """What the generated traces look like (the ``--services``, ``--depth``, ... flags)."""

    services: int = 3
    service_prefix: str = "tracegen"
    operations: int = 5
    depth: int = 3
    fan_out: int = 2
    attributes: int = 8
    events: int = 1
    error_ratio: float = 0.01
    links: int = 0

    def __post_init__(self) -> None:
        for name in ("services", "operations", "depth", "fan_out"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1")
        for name in ("attributes", "events", "links"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0.0 <= self.error_ratio <= 1.0:
            raise ValueError(f"error-ratio {self.error_ratio} is not between 0 and 1")

    @property
    def spans_per_trace(self) -> int:
        return sum(self.fan_out**level for level in range(self.depth))

    def service_names(self) -> list[str]:
        """``tracegen`` for one service (Jaeger's default), ``tracegen-00``... for several."""
        if self.services == 1:
            return [self.service_prefix]
        return [f"{self.service_prefix}-{i:02d}" for i in range(self.services)]


_METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
_ATTRIBUTE_MAKERS = (
    lambda rng, i: KeyValue("http.method", rng.choice(_METHODS)),
    lambda rng, i: KeyValue("http.url", f"https://example.com/api/v1/items/{rng.randrange(100_000)}"),
    lambda rng, i: KeyValue("http.status_code", rng.choice((200, 200, 200, 201, 404))),
    lambda rng, i: KeyValue("component", "tracegen"),
    lambda rng, i: KeyValue("retry", rng.random() < 0.1),
    lambda rng, i: KeyValue("ratio", round(rng.random(), 6)),
    lambda rng, i: KeyValue("peer.service", "db"),
    lambda rng, i: KeyValue("user.id", rng.randrange(1_000_000)),
)


class TraceGenerator:
    """Makes traces of one ``TraceShape``; one generator per worker (not thread-safe)."""

    def __init__(self, shape: TraceShape, seed: int | None = None, worker: int = 0) -> None:
        self.shape = shape
        self._rng = random.Random(seed)
        self._worker = worker
        self._resources = [
            Resource(name, [KeyValue("hostname", f"host-{i}"), KeyValue("ip", f"10.0.{worker % 256}.{i % 256}"),
                            KeyValue("tracegen.worker", worker)])
            for i, name in enumerate(shape.service_names())
        ]
        self._operations = [f"operation-{i:02d}" for i in range(shape.operations)]
        self._previous_roots: list[tuple[int, int]] = []

    def trace(self, now_ns: int | None = None) -> list[Span]:
        """One trace's spans, root first, ending at about ``now_ns`` (default: now)."""
        rng = self._rng
        shape = self.shape
        trace_id = rng.getrandbits(128) or 1
        end = time.time_ns() if now_ns is None else now_ns
        # ~1 ms per span of the tree, so children fit inside their parents with room to spare
        root_duration = 1_000_000 * shape.spans_per_trace + rng.randrange(1_000_000)
        spans: list[Span] = []
        self._add(spans, trace_id, 0, 0, end - root_duration, root_duration, SpanKind.SERVER)
        root = spans[0]
        if shape.links:
            for linked_trace, linked_span in self._previous_roots[-shape.links:]:
                root.links.append(Link(linked_trace, linked_span, RefType.FOLLOWS_FROM,
                                       attributes=[KeyValue("tracegen.link", "previous-trace")]))
            self._previous_roots.append((trace_id, root.span_id))
            del self._previous_roots[:-shape.links]
        return spans

    def _add(self, spans: list[Span], trace_id: int, parent: int, level: int,
             start: int, duration: int, kind: SpanKind) -> None:
        rng = self._rng
        shape = self.shape
        span_id = rng.getrandbits(64) or 1
        error = rng.random() < shape.error_ratio
        attributes = [_ATTRIBUTE_MAKERS[i % len(_ATTRIBUTE_MAKERS)](rng, i) for i in range(shape.attributes)]
        if shape.attributes > len(_ATTRIBUTE_MAKERS):  # more than the realistic set: numbered extras
            attributes[len(_ATTRIBUTE_MAKERS):] = [
                KeyValue(f"attr.{i:03d}", f"value-{rng.randrange(1000)}")
                for i in range(len(_ATTRIBUTE_MAKERS), shape.attributes)
            ]
        events = [
            Event(start + duration * (e + 1) // (shape.events + 1), "log",
                  [KeyValue("event", "cache miss" if e % 2 == 0 else "retrying"), KeyValue("key", f"k{rng.randrange(10_000)}")])
            for e in range(shape.events)
        ]
        spans.append(Span(
            trace_id=trace_id,
            span_id=span_id,
            name=self._operations[rng.randrange(len(self._operations))],
            start_time_ns=start,
            duration_ns=duration,
            resource=self._resources[level % len(self._resources)],
            parent_span_id=parent,
            kind=kind,
            status=Status(StatusCode.ERROR, "tracegen: simulated failure") if error else Status(),
            attributes=attributes + ([KeyValue("error", True)] if error else []),
            events=events,
            flags=1,
        ))
        if level + 1 >= shape.depth:
            return
        slot = duration // (shape.fan_out + 1)
        for child in range(shape.fan_out):
            child_start = start + slot // 2 + child * slot
            child_duration = max(1_000, slot - rng.randrange(max(1, slot // 4)))
            self._add(spans, trace_id, span_id, level + 1, child_start, child_duration,
                      SpanKind.SERVER if shape.services > 1 else SpanKind.INTERNAL)
