"""An OpenTelemetry SDK ``SpanExporter`` that sends to Spyglass (or Jaeger) through the
client's senders: UDP Thrift compact to the agent (the default, like the retired
``opentelemetry-exporter-jaeger``), HTTP Thrift to the collector, or OTLP/HTTP.

Use it under the SDK's ``BatchSpanProcessor``, which already batches on its own thread::

    provider.add_span_processor(BatchSpanProcessor(SpyglassSpanExporter(agent_port=6831)))

SDK spans become model spans here: OTel kinds, status, events, links (as FOLLOWS_FROM
references, as Jaeger's exporter did), the instrumentation scope and the trace state map
onto their model fields; ``service.name`` and the other resource attributes become the
Jaeger process. Resources are converted once and shared, so each batch groups into one
Jaeger process per resource.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind as OtelKind
from opentelemetry.trace import StatusCode as OtelStatus

from spyglass.client.constants import DEFAULT_REPORTING_HOST, DEFAULT_REPORTING_PORT
from spyglass.client.reporting.senders import Sender, UDPSender
from spyglass.model import Event, KeyValue, Link, RefType, Resource, Scope, Span, SpanKind, Status, StatusCode

log = logging.getLogger(__name__)

_KINDS = {
    OtelKind.INTERNAL: SpanKind.INTERNAL,
    OtelKind.SERVER: SpanKind.SERVER,
    OtelKind.CLIENT: SpanKind.CLIENT,
    OtelKind.PRODUCER: SpanKind.PRODUCER,
    OtelKind.CONSUMER: SpanKind.CONSUMER,
}
_STATUS = {OtelStatus.UNSET: StatusCode.UNSET, OtelStatus.OK: StatusCode.OK, OtelStatus.ERROR: StatusCode.ERROR}


def _value(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def _attrs(attributes: Any) -> list[KeyValue]:
    return [KeyValue(k, _value(v)) for k, v in attributes.items()] if attributes else []


class _ResourceCache:
    """OTel resources to model resources, converted once per distinct resource."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[OtelResource, Resource]] = {}

    def get(self, resource: OtelResource) -> Resource:
        hit = self._by_id.get(id(resource))
        if hit is not None and hit[0] is resource:
            return hit[1]
        attrs = dict(resource.attributes)
        service = str(attrs.pop("service.name", "unknown_service"))
        converted = Resource(service, _attrs(attrs), schema_url=resource.schema_url or "")
        if len(self._by_id) > 64:
            self._by_id.clear()
        self._by_id[id(resource)] = (resource, converted)
        return converted


def to_model(span: ReadableSpan, resource: Resource) -> Span:
    ctx = span.context
    scope = span.instrumentation_scope
    status = span.status
    return Span(
        trace_id=ctx.trace_id,
        span_id=ctx.span_id,
        name=span.name,
        start_time_ns=span.start_time or 0,
        duration_ns=max(0, (span.end_time or 0) - (span.start_time or 0)),
        resource=resource,
        parent_span_id=span.parent.span_id if span.parent is not None else 0,
        kind=_KINDS.get(span.kind, SpanKind.UNSPECIFIED),
        status=Status(_STATUS[status.status_code], status.description or "") if status is not None else Status(),
        attributes=_attrs(span.attributes),
        events=[Event(e.timestamp, e.name, _attrs(e.attributes)) for e in span.events],
        links=[Link(l.context.trace_id, l.context.span_id, RefType.FOLLOWS_FROM, attributes=_attrs(l.attributes))
               for l in span.links],
        flags=1 if ctx.trace_flags.sampled else 0,
        trace_state=ctx.trace_state.to_header() if ctx.trace_state else "",
        scope=Scope(scope.name, scope.version or "") if scope is not None and scope.name else Scope(),
        dropped_attributes_count=span.dropped_attributes,
        dropped_events_count=span.dropped_events,
        dropped_links_count=span.dropped_links,
    )


class SpyglassSpanExporter(SpanExporter):
    """Exports SDK spans with ``sender`` (default: UDP to ``agent_host_name:agent_port``)."""

    def __init__(
        self,
        sender: Sender | None = None,
        agent_host_name: str = DEFAULT_REPORTING_HOST,
        agent_port: int = DEFAULT_REPORTING_PORT,
    ) -> None:
        self.sender = sender or UDPSender(agent_host_name, agent_port)
        self._resources = _ResourceCache()
        self._lock = threading.Lock()
        self._shutdown = False
        self.exported = 0
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        with self._lock:  # senders are used by one thread at a time
            try:
                model = [to_model(s, self._resources.get(s.resource)) for s in spans]
                skipped = self.sender.send(model)
            except Exception as exc:
                self.failed += len(spans)
                log.warning("Spyglass exporter could not send %d span(s): %s", len(spans), exc)
                return SpanExportResult.FAILURE
        self.exported += len(spans) - skipped
        self.failed += skipped
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.sender.flush()

    def shutdown(self) -> None:
        self._shutdown = True
        with self._lock:
            self.sender.close()
