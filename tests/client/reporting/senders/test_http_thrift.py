"""The HTTP Thrift sender end to end into a running all-in-one's ``/api/traces``."""

from __future__ import annotations

import pytest
from support import wait_for

from spyglass.client import Config
from spyglass.client.reporting.senders import HTTPSender, SenderError
from spyglass.model import Resource, Span


def test_end_to_end_via_config_and_jaeger_endpoint(all_in_one):
    endpoint = all_in_one.url("collector_http", "/api/traces")
    tracer = Config({"sampler": {"type": "const", "param": 1}}, service_name="http-e2e",
                    environ={"JAEGER_ENDPOINT": endpoint}).new_tracer()
    assert isinstance(tracer.reporter.sender, HTTPSender)
    with tracer.start_active_span("parent") as scope:
        tracer.start_span("child", tags={"k": "v"}).finish()
    tracer.close()
    reader = all_in_one.app.storage.trace_reader()
    spans = wait_for(lambda: len(reader.get_trace(scope.span.trace_id)) == 2 and reader.get_trace(scope.span.trace_id))
    child = next(s for s in spans if s.name == "child")
    assert child.parent_span_id == scope.span.span_id and dict(child.attributes) == {"k": "v"}


def test_error_status_raises_sender_error(all_in_one):
    sender = HTTPSender(all_in_one.url("collector_http", "/nope"))
    with pytest.raises(SenderError, match="HTTP 404"):
        sender.send([Span(1, 1, "x", 1, 1, Resource("s"))])
    sender.close()


def test_basic_auth_and_token_headers():
    assert HTTPSender("http://h/api/traces", username="u", password="p")._poster.headers["Authorization"] == "Basic dTpw"
    assert HTTPSender("http://h/api/traces", auth_token="t")._poster.headers["Authorization"] == "Bearer t"
