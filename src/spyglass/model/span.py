"""Span, its parts (resource, scope, events, links, status) and their enums.

Times are integer nanoseconds since the Unix epoch; durations are integer nanoseconds.
``Resource`` objects are usually shared by all spans of one batch (one Jaeger process, one
OTLP ResourceSpans), which keeps memory per span low: treat them as read-only, and use
``Span.clone`` before changing a span that storage handed out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from spyglass.model.attributes import KeyValue


class SpanKind(IntEnum):
    """OTLP span kinds (same numbers as OTLP); Jaeger carries them as the ``span.kind`` tag."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5

    @property
    def jaeger_name(self) -> str:
        """The ``span.kind`` tag value, ``""`` for UNSPECIFIED."""
        return "" if self is SpanKind.UNSPECIFIED else self.name.lower()

    @classmethod
    def from_jaeger_name(cls, name: str) -> SpanKind:
        """Parse a ``span.kind`` tag value; unknown text is UNSPECIFIED."""
        return _KIND_BY_NAME.get(name.lower(), SpanKind.UNSPECIFIED)


_KIND_BY_NAME = {k.name.lower(): k for k in SpanKind if k is not SpanKind.UNSPECIFIED}


class StatusCode(IntEnum):
    """OTLP status codes."""

    UNSET = 0
    OK = 1
    ERROR = 2


class Status(NamedTuple):
    """A span's status: code and, for errors, a description."""

    code: StatusCode = StatusCode.UNSET
    message: str = ""


class RefType(IntEnum):
    """Jaeger reference types, kept on links so Jaeger references survive a round trip."""

    CHILD_OF = 0
    FOLLOWS_FROM = 1


@dataclass(slots=True)
class Resource:
    """Who emitted the span: Jaeger's process, OTLP's resource, Zipkin's local endpoint."""

    service_name: str
    attributes: list[KeyValue] = field(default_factory=list)
    dropped_attributes_count: int = 0
    schema_url: str = ""


@dataclass(slots=True, frozen=True)
class Scope:
    """The instrumentation scope (OTLP), or ``otel.scope.*`` tags (Jaeger). Frozen, because
    one instance is shared by many spans; its attribute list must not be changed in place."""

    name: str = ""
    version: str = ""
    attributes: list[KeyValue] = field(default_factory=list)
    dropped_attributes_count: int = 0
    schema_url: str = ""


EMPTY_SCOPE = Scope()


@dataclass(slots=True)
class Event:
    """A timed event: OTLP's span event, Jaeger's log, Zipkin's annotation."""

    time_ns: int
    name: str = ""
    attributes: list[KeyValue] = field(default_factory=list)
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class Link:
    """A reference to another span other than the parent (OTLP link, Jaeger reference)."""

    trace_id: int
    span_id: int
    ref_type: RefType = RefType.FOLLOWS_FROM
    trace_state: str = ""
    attributes: list[KeyValue] = field(default_factory=list)
    flags: int = 0
    dropped_attributes_count: int = 0


@dataclass(slots=True)
class Span:
    """One span. ``parent_span_id`` 0 means a root span (or an unknown parent).

    ``flags`` holds Jaeger's flags (1 sampled, 2 debug, 8 firehose) for spans that came in
    through a Jaeger format, and OTLP's span flags (W3C trace flags in the low byte) for the
    others. ``warnings`` are Jaeger's span warnings, added by clients or by query adjusters.
    ``tenant`` is the tenant the receiver took the span for (``spyglass.tenancy``; ``""``
    without multi-tenancy): it travels with the span through the queue, the write-ahead log
    and the NATS buffer to the writer, which stores the span in that tenant's store.
    """

    trace_id: int
    span_id: int
    name: str
    start_time_ns: int
    duration_ns: int
    resource: Resource
    parent_span_id: int = 0
    kind: SpanKind = SpanKind.UNSPECIFIED
    status: Status = Status()
    attributes: list[KeyValue] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    flags: int = 0
    trace_state: str = ""
    scope: Scope = EMPTY_SCOPE
    warnings: list[str] = field(default_factory=list)
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0
    tenant: str = ""

    @property
    def end_time_ns(self) -> int:
        return self.start_time_ns + self.duration_ns

    @property
    def service_name(self) -> str:
        return self.resource.service_name

    def clone(self) -> Span:
        """A copy whose lists, events, links, resource and scope can be changed freely.

        Query adjusters change spans in place; storage hands out clones so that nothing a
        caller does reaches the stored data (Jaeger's reader contract).
        """
        r = self.resource
        s = self.scope
        return Span(
            trace_id=self.trace_id,
            span_id=self.span_id,
            name=self.name,
            start_time_ns=self.start_time_ns,
            duration_ns=self.duration_ns,
            resource=Resource(r.service_name, list(r.attributes), r.dropped_attributes_count, r.schema_url),
            parent_span_id=self.parent_span_id,
            kind=self.kind,
            status=self.status,
            attributes=list(self.attributes),
            events=[Event(e.time_ns, e.name, list(e.attributes), e.dropped_attributes_count) for e in self.events],
            links=[
                Link(l.trace_id, l.span_id, l.ref_type, l.trace_state, list(l.attributes), l.flags, l.dropped_attributes_count)
                for l in self.links
            ],
            flags=self.flags,
            trace_state=self.trace_state,
            scope=Scope(s.name, s.version, list(s.attributes), s.dropped_attributes_count, s.schema_url),
            warnings=list(self.warnings),
            dropped_attributes_count=self.dropped_attributes_count,
            dropped_events_count=self.dropped_events_count,
            dropped_links_count=self.dropped_links_count,
            tenant=self.tenant,
        )
