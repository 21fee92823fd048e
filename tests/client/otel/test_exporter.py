"""The OpenTelemetry SDK exporting through ``SpyglassSpanExporter`` into a running
all-in-one: over UDP to the agent port and over HTTP to the collector."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind as OtelKind, Status, StatusCode as OtelStatus
from support import wait_for

from spyglass.client.otel import SpyglassSpanExporter
from spyglass.client.reporting.senders import HTTPSender
from spyglass.model import RefType, SpanKind, StatusCode


@pytest.mark.parametrize("transport", ["udp", "http"])
def test_sdk_spans_are_stored(all_in_one, transport):
    if transport == "udp":
        exporter = SpyglassSpanExporter(agent_host_name="127.0.0.1", agent_port=all_in_one.ports["agent_jaeger_compact"])
    else:
        exporter = SpyglassSpanExporter(HTTPSender(all_in_one.url("collector_http", "/api/traces")))
    provider = TracerProvider(resource=Resource.create({"service.name": f"otel-{transport}", "deployment": "test"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("checkout.lib", "1.2")
    with tracer.start_as_current_span("GET /cart", kind=OtelKind.SERVER, attributes={"http.method": "GET", "ids": (1, 2)}) as root:
        other = tracer.start_span("background")
        other.end()
        with tracer.start_as_current_span("db", kind=OtelKind.CLIENT, links=[Link(other.get_span_context())]) as child:
            child.add_event("retry", {"attempt": 2})
            child.set_status(Status(OtelStatus.ERROR, "timeout"))
    provider.shutdown()
    assert exporter.exported == 3 and exporter.failed == 0
    trace_id = root.get_span_context().trace_id
    reader = all_in_one.app.storage.trace_reader()
    spans = wait_for(lambda: len(reader.get_trace(trace_id)) == 3 and reader.get_trace(trace_id))
    by_name = {s.name: s for s in spans}
    cart, db = by_name["GET /cart"], by_name["db"]
    assert db.parent_span_id == cart.span_id and cart.parent_span_id == 0
    assert cart.kind is SpanKind.SERVER and db.kind is SpanKind.CLIENT
    assert dict(cart.attributes)["http.method"] == "GET" and dict(cart.attributes)["ids"] == "[1,2]"
    assert db.status.code is StatusCode.ERROR and db.status.message == "timeout"
    assert db.events[0].name == "retry" and dict(db.events[0].attributes) == {"attempt": 2}
    assert [(l.ref_type, l.span_id) for l in db.links] == [(RefType.FOLLOWS_FROM, other.get_span_context().span_id)]
    assert cart.scope.name == "checkout.lib" and cart.scope.version == "1.2"
    assert cart.resource.service_name == f"otel-{transport}" and dict(cart.resource.attributes)["deployment"] == "test"
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_failure_is_reported_to_the_sdk():
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter = SpyglassSpanExporter(HTTPSender("http://127.0.0.1:9/api/traces", timeout=1))
    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("x")
    span.end()
    assert exporter.export([span]) is SpanExportResult.FAILURE and exporter.failed == 1
    exporter.shutdown()
    assert exporter.export([span]) is SpanExportResult.FAILURE
