"""``--collector.auth bearer`` on every receiver, with real clients: the OpenTelemetry SDK's OTLP
exporters (gRPC and HTTP) configured only through ``OTEL_EXPORTER_OTLP_HEADERS``, Jaeger Thrift over
HTTP, Jaeger gRPC ``PostSpans``, Zipkin JSON, and ``spyglass agent`` forwarding with
``--reporter.grpc.auth.token-file``. A refused request stores nothing and is counted; the sampling
endpoints tracers poll stay open; sampling changes need admin."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests

from conftest import RunningAllInOne
from security.creds import ADMIN_TOKEN, READ_TOKEN, WRITE_TOKEN, WRONG_TOKEN, bearer
from spyglass.codecs import jaeger_thrift as jt
from spyglass.codecs.jaeger_proto import spans_to_proto
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2, collector_pb2_grpc, sampling_pb2, sampling_pb2_grpc
from spyglass.model import KeyValue, Resource, Span


@pytest.fixture(scope="module")
def aio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAllInOne]:
    d = tmp_path_factory.mktemp("ingest")
    tokens = d / "tokens"  # the write token relies on the collector's default role (write)
    tokens.write_text(f"{READ_TOKEN} acme read\n{WRITE_TOKEN} acme\n{ADMIN_TOKEN} - admin\n")
    running = RunningAllInOne(collector_auth="bearer", collector_auth_tokens_file=str(tokens))
    yield running
    running.close()


def services(aio: RunningAllInOne) -> set[str]:
    return set(aio.app.storage.trace_reader().get_services())


def wait_service(aio: RunningAllInOne, name: str) -> None:
    deadline = time.time() + 10
    while name not in services(aio):
        assert time.time() < deadline, f"{name} not stored"
        time.sleep(0.05)


def refused(aio: RunningAllInOne, server: str, reason: str) -> float:
    return aio.app.metrics.registry.get_sample_value("spyglass_auth_refused_total",
                                                     {"server": server, "reason": reason}) or 0.0


def model_spans(service: str, trace: int = 0xABC) -> list[Span]:
    resource = Resource(service, [KeyValue("hostname", "h1")])
    return [Span(trace_id=(1 << 100) | trace, span_id=trace + 1, name="op", start_time_ns=time.time_ns() - 10_000,
                 duration_ns=2_000, resource=resource)]


# -- OpenTelemetry SDK exporters ---------------------------------------------------------------


def _export(kind: str, endpoint: str, service: str) -> bool:
    from opentelemetry.sdk.resources import Resource as OtelResource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    if kind == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        exporter = GrpcExporter(endpoint=endpoint, insecure=True, timeout=5)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        exporter = HttpExporter(endpoint=endpoint, timeout=5)
    provider = TracerProvider(resource=OtelResource.create({"service.name": service}))
    span = provider.get_tracer("auth-test").start_span("checkout")
    span.end()
    try:
        return exporter.export([span]) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


@pytest.mark.parametrize("kind", ["grpc", "http"])
def test_otel_exporters_send_the_token_from_the_environment(aio, monkeypatch, kind):
    endpoint = (f"http://127.0.0.1:{aio.ports['otlp_grpc']}" if kind == "grpc"
                else aio.url("otlp_http", "/v1/traces"))
    server = "otlp_grpc" if kind == "grpc" else "otlp_http"
    before = refused(aio, server, "missing")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
    assert not _export(kind, endpoint, f"otel-{kind}-anonymous")
    assert refused(aio, server, "missing") == before + 1
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{WRONG_TOKEN}")
    assert not _export(kind, endpoint, f"otel-{kind}-wrong")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{READ_TOKEN}")
    assert not _export(kind, endpoint, f"otel-{kind}-reader")  # a query token cannot ingest
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{WRITE_TOKEN}")
    assert _export(kind, endpoint, f"otel-{kind}-ok")
    wait_service(aio, f"otel-{kind}-ok")
    time.sleep(0.3)
    assert not {f"otel-{kind}-anonymous", f"otel-{kind}-wrong", f"otel-{kind}-reader"} & services(aio)


# -- Jaeger Thrift HTTP, Zipkin, OTLP HTTP by hand ---------------------------------------------


def _zipkin_body(service: str) -> str:
    now_us = int(time.time() * 1e6)
    return json.dumps([{"traceId": "a" * 32, "id": "b" * 16, "name": "get", "timestamp": now_us, "duration": 10,
                        "localEndpoint": {"serviceName": service}}])


@pytest.mark.parametrize("receiver", ["jaeger_thrift", "zipkin_v2", "otlp_json"])
def test_http_receivers(aio, receiver):
    def post(service: str, authorization: str | None) -> requests.Response:
        headers = {"Authorization": authorization} if authorization else {}
        if receiver == "jaeger_thrift":
            url, data = aio.url("collector_http", "/api/traces"), jt.encode_batch(model_spans(service))
            headers["Content-Type"] = "application/x-thrift"
        elif receiver == "zipkin_v2":
            url, data = aio.url("zipkin_http", "/api/v2/spans"), _zipkin_body(service).encode()
            headers["Content-Type"] = "application/json"
        else:
            url = aio.url("otlp_http", "/v1/traces")
            data = json.dumps({"resourceSpans": [{"resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": service}}]}, "scopeSpans": [{"spans": [
                {"traceId": "c" * 32, "spanId": "d" * 16, "name": "x", "startTimeUnixNano": str(time.time_ns()),
                 "endTimeUnixNano": str(time.time_ns())}]}]}]}).encode()
            headers["Content-Type"] = "application/json"
        return requests.post(url, data=data, headers=headers, timeout=10)

    for authorization in (None, bearer(WRONG_TOKEN), "Basic dTpw", bearer(READ_TOKEN)):
        r = post(f"{receiver}-refused", authorization)
        assert r.status_code in (401, 403), (authorization, r.status_code)
        assert r.status_code == (403 if authorization == bearer(READ_TOKEN) else 401)
        if r.status_code == 401:
            assert r.headers["WWW-Authenticate"] == 'Bearer realm="spyglass"'
        assert WRITE_TOKEN not in r.text
    r = post(f"{receiver}-ok", bearer(WRITE_TOKEN))
    assert r.status_code in (200, 202), r.text
    wait_service(aio, f"{receiver}-ok")
    assert f"{receiver}-refused" not in services(aio)


# -- gRPC: Jaeger PostSpans and the sampling manager -------------------------------------------


def test_jaeger_grpc_post_spans(aio):
    def post(service: str, authorization: str | None) -> grpc.StatusCode:
        request = collector_pb2.PostSpansRequest()
        request.batch.spans.extend(spans_to_proto(model_spans(service)))
        request.batch.process.service_name = service
        md = (("authorization", authorization),) if authorization else None
        with grpc.insecure_channel(f"127.0.0.1:{aio.ports['collector_grpc']}") as ch:
            try:
                collector_pb2_grpc.CollectorServiceStub(ch).PostSpans(request, metadata=md, timeout=10)
                return grpc.StatusCode.OK
            except grpc.RpcError as exc:
                assert WRITE_TOKEN not in (exc.details() or "")
                return exc.code()

    assert post("jgrpc-anon", None) == grpc.StatusCode.UNAUTHENTICATED
    assert post("jgrpc-wrong", bearer(WRONG_TOKEN)) == grpc.StatusCode.UNAUTHENTICATED
    assert post("jgrpc-reader", bearer(READ_TOKEN)) == grpc.StatusCode.PERMISSION_DENIED
    assert post("jgrpc-ok", bearer(WRITE_TOKEN)) == grpc.StatusCode.OK
    wait_service(aio, "jgrpc-ok")
    assert not {"jgrpc-anon", "jgrpc-wrong", "jgrpc-reader"} & services(aio)
    assert refused(aio, "collector_grpc", "forbidden") >= 1


def test_sampling_stays_open_to_tracers_but_changes_need_admin(aio):
    r = requests.get(aio.url("collector_http", "/api/sampling?service=x"), timeout=10)
    assert r.status_code == 200 and "strategyType" in r.text
    with grpc.insecure_channel(f"127.0.0.1:{aio.ports['collector_grpc']}") as ch:
        resp = sampling_pb2_grpc.SamplingManagerStub(ch).GetSamplingStrategy(
            sampling_pb2.SamplingStrategyParameters(serviceName="x"), timeout=10)
    assert resp.probabilisticSampling.samplingRate == 1.0
    assert requests.get(aio.url("agent_sampling", "/sampling?service=x"), timeout=10).status_code == 200
    # changing sampling is an admin's: refused before anything else for other roles
    for authorization, status in ((None, 401), (bearer(WRITE_TOKEN), 403)):
        headers = {"Authorization": authorization} if authorization else {}
        r = requests.post(aio.url("collector_http", "/api/sampling?service=x"), data=b"{}", headers=headers, timeout=10)
        assert r.status_code == status
    r = requests.post(aio.url("collector_http", "/api/sampling?service=x"), data=b"{}",
                      headers={"Authorization": bearer(ADMIN_TOKEN)}, timeout=10)
    assert r.status_code == 405  # authorized, but no such route to change it over HTTP


# -- the agent forwarding to an authenticating collector ---------------------------------------


async def test_agent_sends_its_token_file(aio, tmp_path: Path):
    from spyglass.cmd.agent import Agent
    from spyglass.config import Settings

    ports = {"agent_jaeger_compact_port": 0, "agent_jaeger_binary_port": 0, "agent_zipkin_compact_port": 0,
             "agent_sampling_port": 0, "admin_port": 0}
    target = f"127.0.0.1:{aio.ports['collector_grpc']}"

    async def run(service: str, **auth: str) -> Agent:
        agent = Agent(Settings.from_env({}, **ports, reporter_grpc_host_port=target, reporter_grpc_retry_max=0, **auth))
        await agent.start()
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(jt.encode_agent_message(model_spans(service), "compact"),
                    ("127.0.0.1", agent.ports["agent_jaeger_compact"]))
        sock.close()
        return agent

    token_file = tmp_path / "token"
    token_file.write_text(WRITE_TOKEN + "\n")
    agent = await run("agent-with-token", reporter_grpc_auth_token_file=str(token_file))
    try:
        deadline = time.time() + 15
        while "agent-with-token" not in services(aio):
            assert time.time() < deadline, "agent spans not stored"
            await asyncio.sleep(0.05)
    finally:
        await agent.stop()
    agent = await run("agent-without-token")
    try:
        deadline = time.time() + 15
        while not agent.metrics.registry.get_sample_value("spyglass_spans_dropped_total", {"reason": "rejected"}):
            assert time.time() < deadline, "refused batch not counted by the agent"
            await asyncio.sleep(0.05)
    finally:
        await agent.stop()
    assert "agent-without-token" not in services(aio)


def test_collector_auth_needs_a_readable_tokens_file(tmp_path):
    from spyglass.cmd.all_in_one import AllInOne
    from spyglass.config import Settings

    with pytest.raises(ValueError, match="--collector.auth=bearer needs --collector.auth.tokens-file"):
        AllInOne(Settings.from_env({}, storage="memory", collector_auth="bearer"))
    with pytest.raises(ValueError, match="--collector.auth: unknown mode"):
        AllInOne(Settings.from_env({}, storage="memory", collector_auth="basic"))
    bad = tmp_path / "tokens"
    bad.write_text("short acme\n")
    with pytest.raises(ValueError, match="line 1: token shorter than 16"):
        AllInOne(Settings.from_env({}, storage="memory", collector_auth="bearer", collector_auth_tokens_file=str(bad)))


# -- Spyglass's own tracer (JAEGER_AUTH_TOKEN, as jaeger-client's HTTP sender) ------------------


def test_spyglass_tracer_sends_jaeger_auth_token(aio, monkeypatch):
    from spyglass.client import Config

    def trace(service: str, token: str | None) -> None:
        if token is None:
            monkeypatch.delenv("JAEGER_AUTH_TOKEN", raising=False)
        else:
            monkeypatch.setenv("JAEGER_AUTH_TOKEN", token)
        tracer = Config(config={"sampler": {"type": "const", "param": 1}, "logging": False,
                                "sender": {"type": "http", "endpoint": aio.url("collector_http", "/api/traces")}},
                        service_name=service, validate=True).new_tracer()
        tracer.start_span("op").finish()
        tracer.close().result(10)

    trace("tracer-anonymous", None)
    trace("tracer-with-token", WRITE_TOKEN)
    wait_service(aio, "tracer-with-token")
    assert "tracer-anonymous" not in services(aio)
    assert refused(aio, "collector_http", "missing") >= 1
