"""The OTLP/HTTP sender end to end into a running all-in-one's ``/v1/traces``."""

from __future__ import annotations

from support import wait_for

from spyglass.client import Config
from spyglass.model import SpanKind


def test_end_to_end(all_in_one):
    tracer = Config(
        {"sampler": {"type": "const", "param": 1},
         "sender": {"type": "otlp_http", "endpoint": all_in_one.url("otlp_http", "/v1/traces")}},
        service_name="otlp-e2e",
    ).new_tracer()
    with tracer.start_active_span("parent", tags={"span.kind": "client"}) as scope:
        tracer.start_span("child").log_kv({"event": "hello"}).finish()
    tracer.close()
    reader = all_in_one.app.storage.trace_reader()
    spans = wait_for(lambda: len(reader.get_trace(scope.span.trace_id)) == 2 and reader.get_trace(scope.span.trace_id))
    by_name = {s.name: s for s in spans}
    assert by_name["child"].parent_span_id == by_name["parent"].span_id
    assert by_name["parent"].kind is SpanKind.CLIENT
    assert by_name["child"].events[0].name == "hello"
    assert by_name["parent"].resource.service_name == "otlp-e2e"
