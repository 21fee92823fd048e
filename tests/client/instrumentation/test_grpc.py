"""gRPC client and server interceptors on a real grpcio server, end to end into a
running all-in-one: unary, server streaming, abort and a crashing handler."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from support import wait_for

from spyglass.client import Config
from spyglass.client.instrumentation.grpc import ClientInterceptor, ServerInterceptor
from spyglass.model import SpanKind, StatusCode


def tracer_for(service, all_in_one):
    return Config({"sampler": {"type": "const", "param": 1},
                   "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": all_in_one.ports["agent_jaeger_compact"]}},
                  service_name=service, environ={}).new_tracer()


@pytest.fixture
def rpc(all_in_one):
    client_tracer, server_tracer = tracer_for("frontend", all_in_one), tracer_for("backend", all_in_one)

    def say(request, context):
        server_tracer.start_span("lookup").finish()  # a child of the server span
        return b"hello " + request

    def stream(request, context):
        for i in range(3):
            yield bytes([i])

    def deny(request, context):
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")

    def crash(request, context):
        raise RuntimeError("handler bug")

    server = grpc.server(ThreadPoolExecutor(4), interceptors=[ServerInterceptor(server_tracer)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("demo.Echo", {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Deny": grpc.unary_unary_rpc_method_handler(deny),
        "Crash": grpc.unary_unary_rpc_method_handler(crash),
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{port}"), ClientInterceptor(client_tracer))
    yield client_tracer, server_tracer, channel
    channel.close()
    server.stop(None)
    client_tracer.close()
    server_tracer.close()


def test_calls_are_traced_end_to_end(all_in_one, rpc):
    client_tracer, server_tracer, channel = rpc
    with client_tracer.start_active_span("page") as root:
        assert channel.unary_unary("/demo.Echo/Say")(b"bob") == b"hello bob"
        assert list(channel.unary_stream("/demo.Echo/Stream")(b"")) == [b"\x00", b"\x01", b"\x02"]
        with pytest.raises(grpc.RpcError) as denied:
            channel.unary_unary("/demo.Echo/Deny")(b"")
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as crashed:
            channel.unary_unary("/demo.Echo/Crash")(b"")
        assert crashed.value.code() is grpc.StatusCode.UNKNOWN
    client_tracer.flush()
    server_tracer.flush()
    reader = all_in_one.app.storage.trace_reader()
    spans = wait_for(lambda: len(reader.get_trace(root.span.trace_id)) == 10 and reader.get_trace(root.span.trace_id))
    by_id = {s.span_id: s for s in spans}

    def pair(method):
        client = next(s for s in spans if s.name == method and s.kind is SpanKind.CLIENT)
        server = next(s for s in spans if s.name == method and s.kind is SpanKind.SERVER)
        assert client.parent_span_id == root.span.span_id and server.parent_span_id == client.span_id
        assert client.service_name == "frontend" and server.service_name == "backend"
        return client, server

    say_client, say_server = pair("/demo.Echo/Say")
    lookup = next(s for s in spans if s.name == "lookup")
    assert by_id[lookup.parent_span_id] is say_server
    assert dict(say_server.attributes)["rpc.grpc.status_code"] == 0 and say_server.status.code is StatusCode.UNSET
    stream_client, stream_server = pair("/demo.Echo/Stream")
    assert dict(stream_client.attributes)["rpc.grpc.status_code"] == 0
    for method, code in (("/demo.Echo/Deny", 7), ("/demo.Echo/Crash", 2)):
        client, server = pair(method)
        assert dict(client.attributes)["rpc.grpc.status_code"] == dict(server.attributes)["rpc.grpc.status_code"] == code
        assert client.status.code is server.status.code is StatusCode.ERROR
    crash_server = pair("/demo.Echo/Crash")[1]
    assert [e.name for e in crash_server.events] == ["error"]
    assert dict(crash_server.events[0].attributes)["error.kind"] == "RuntimeError"
