"""Two tenants through every receiver and every query API of a real all-in-one, on every
backend: no request of one tenant ever sees the other's spans, services, operations,
dependencies, metrics or archive; a request without a tenant or for an unknown one is
refused (401 / 403, UNAUTHENTICATED / PERMISSION_DENIED); UDP spans are dropped and counted.

Clients are real: the OpenTelemetry SDK's OTLP gRPC and HTTP exporters with their
``headers``, generated gRPC stubs with metadata, and HTTP over urllib.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import RunningAllInOne
from support import storage_settings, wait_for

from spyglass.codecs import jaeger_proto, jaeger_thrift
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2, collector_pb2_grpc, query_pb2, query_pb2_grpc
from spyglass.codecs.proto.jaeger.api_v3 import query_service_pb2 as v3_pb, query_service_pb2_grpc as v3_grpc
from spyglass.model import Resource, Span, SpanKind

TENANTS = ("acme", "globex")
S = 1_000_000_000
SHARED_TRACE = 0xABCDEF  # both tenants write a trace with this ID
ONLY = {"acme": 0xA1, "globex": 0xB1}  # a trace only one tenant has


def http(url: str, *, tenant: str | None = None, data: bytes | None = None, headers: dict[str, str] | None = None,
         method: str | None = None) -> tuple[int, bytes]:
    h = dict(headers or {})
    if tenant is not None:
        h["x-tenant"] = tenant
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def now_ns() -> int:
    return time.time_ns() - 60 * S


def spans_of(tenant: str, trace_id: int, service: str, *, parent_service: str | None = None) -> list[Span]:
    """One span of ``service`` (and, with ``parent_service``, its parent in that service)."""
    start = now_ns()
    out = []
    if parent_service:
        out.append(Span(trace_id, 1, f"{parent_service}-op", start, 10_000_000, Resource(parent_service),
                        kind=SpanKind.SERVER))
    out.append(Span(trace_id, 2, f"{service}-op", start + 1000, 5_000_000, Resource(service),
                    parent_span_id=1 if parent_service else 0, kind=SpanKind.SERVER))
    return out


def send_all_receivers(app: RunningAllInOne, tenant: str) -> set[str]:
    """Spans for ``tenant`` through all five TCP receivers; the services they name."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    from opentelemetry.sdk.resources import Resource as OtelResource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    p = app.ports
    services = set()
    for name, exporter in (
        ("otlp-grpc", GrpcExporter(endpoint=f"127.0.0.1:{p['otlp_grpc']}", insecure=True, headers={"x-tenant": tenant})),
        ("otlp-http", HttpExporter(endpoint=f"http://127.0.0.1:{p['otlp_http']}/v1/traces", headers={"x-tenant": tenant})),
    ):
        service = f"{tenant}-{name}"
        provider = TracerProvider(resource=OtelResource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("t").start_as_current_span(f"{service}-op"):
            pass
        provider.shutdown()
        services.add(service)
    # Jaeger gRPC: the shared trace ID, a parent and a child service (a dependency edge).
    front, back = f"{tenant}-jaeger-grpc-front", f"{tenant}-jaeger-grpc"
    with grpc.insecure_channel(f"127.0.0.1:{p['collector_grpc']}") as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        spans = spans_of(tenant, SHARED_TRACE, back, parent_service=front)
        for group in (spans[:1], spans[1:]):
            stub.PostSpans(collector_pb2.PostSpansRequest(batch=jaeger_proto.batch_from_spans(group)),
                           metadata=[("x-tenant", tenant)], timeout=30)
    services |= {front, back}
    # Jaeger Thrift over HTTP: the trace only this tenant has.
    service = f"{tenant}-jaeger-http"
    status, body = http(f"http://127.0.0.1:{p['collector_http']}/api/traces", tenant=tenant,
                        data=jaeger_thrift.encode_batch(spans_of(tenant, ONLY[tenant], service)),
                        headers={"Content-Type": "application/x-thrift"})
    assert status == 202, body
    services.add(service)
    # Zipkin JSON v2.
    service = f"{tenant}-zipkin"
    zipkin = [{"traceId": f"{0x5151:016x}", "id": f"{7:016x}", "name": f"{service}-op", "kind": "SERVER",
               "timestamp": now_ns() // 1000, "duration": 1000, "localEndpoint": {"serviceName": service}}]
    status, body = http(f"http://127.0.0.1:{p['zipkin_http']}/api/v2/spans", tenant=tenant,
                        data=json.dumps(zipkin).encode(), headers={"Content-Type": "application/json"})
    assert status == 202, body
    services.add(service)
    return services


@pytest.fixture(scope="module", params=["memory", "sqlite", "clickhouse"])
def tenants_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningAllInOne, dict[str, set[str]]]]:
    overrides = storage_settings(request.param, str(tmp_path_factory.mktemp(request.param)))
    app = RunningAllInOne(**overrides, archive_enabled=True, multi_tenancy_enabled=True,
                          multi_tenancy_tenants=",".join(TENANTS))
    try:
        expected = {t: send_all_receivers(app, t) for t in TENANTS}
        for t in TENANTS:
            wait_for(lambda t=t: set(services_http(app, t)) == expected[t], timeout=30)
        yield app, expected
    finally:
        app.close()


def services_http(app: RunningAllInOne, tenant: str) -> list[str]:
    status, body = http(app.url("query_http", "/api/services"), tenant=tenant)
    assert status == 200, body
    return json.loads(body)["data"] or []


def other(tenant: str) -> str:
    return TENANTS[1 - TENANTS.index(tenant)]


# -- HTTP /api ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", TENANTS)
def test_services_and_operations_are_the_tenants_own(tenants_app: Any, tenant: str) -> None:
    app, expected = tenants_app
    assert set(services_http(app, tenant)) == expected[tenant]
    for service in expected[other(tenant)]:
        status, body = http(app.url("query_http", f"/api/services/{service}/operations"), tenant=tenant)
        assert status == 200 and not json.loads(body)["data"]
        status, body = http(app.url("query_http", f"/api/operations?service={service}"), tenant=tenant)
        assert status == 200 and not json.loads(body)["data"]
    mine = f"{tenant}-jaeger-http"
    status, body = http(app.url("query_http", f"/api/services/{mine}/operations"), tenant=tenant)
    assert json.loads(body)["data"] == [f"{mine}-op"]


@pytest.mark.parametrize("tenant", TENANTS)
def test_searches_and_traces_by_id_are_the_tenants_own(tenants_app: Any, tenant: str) -> None:
    app, expected = tenants_app
    for service in expected[other(tenant)]:
        status, body = http(app.url("query_http", f"/api/traces?service={service}&lookback=2h"), tenant=tenant)
        assert status == 200 and json.loads(body)["data"] == [], body
    status, body = http(app.url("query_http", f"/api/traces?service={tenant}-zipkin&lookback=2h"), tenant=tenant)
    assert [len(t["spans"]) for t in json.loads(body)["data"]] == [1]
    # The shared trace ID: each tenant gets its own two spans only.
    status, body = http(app.url("query_http", f"/api/traces/{SHARED_TRACE:x}"), tenant=tenant)
    assert status == 200
    processes = json.loads(body)["data"][0]["processes"].values()
    assert {p["serviceName"] for p in processes} == {f"{tenant}-jaeger-grpc-front", f"{tenant}-jaeger-grpc"}
    # The other tenant's own trace does not exist for this one, in any API.
    status, _ = http(app.url("query_http", f"/api/traces/{ONLY[other(tenant)]:x}"), tenant=tenant)
    assert status == 404
    status, _ = http(app.url("query_http", f"/api/v3/traces/{ONLY[other(tenant)]:032x}"), tenant=tenant)
    assert status == 404
    status, body = http(app.url("query_http", f"/api/traces?traceID={ONLY[other(tenant)]:x}"), tenant=tenant)
    assert json.loads(body)["data"] == []


@pytest.mark.parametrize("tenant", TENANTS)
def test_dependencies_are_the_tenants_own(tenants_app: Any, tenant: str) -> None:
    app, _ = tenants_app
    end_ms = time.time_ns() // 1_000_000 + 60_000
    status, body = http(app.url("query_http", f"/api/dependencies?endTs={end_ms}&lookback=7200000"), tenant=tenant)
    assert status == 200, body
    links = {(d["parent"], d["child"]) for d in json.loads(body)["data"]}
    assert links == {(f"{tenant}-jaeger-grpc-front", f"{tenant}-jaeger-grpc")}


@pytest.mark.parametrize("tenant", TENANTS)
def test_red_metrics_are_the_tenants_own(tenants_app: Any, tenant: str) -> None:
    app, _ = tenants_app
    mine, theirs = f"{tenant}-jaeger-http", f"{other(tenant)}-jaeger-http"
    status, body = http(app.url("query_http", f"/api/metrics/calls?service={mine}&service={theirs}&step=60000"),
                        tenant=tenant)
    if status == 501:  # clickhouse has no RED rollups (Jaeger's answer without a metrics store)
        return
    assert status == 200, body
    seen = {label["value"] for m in json.loads(body)["metrics"] for label in m["labels"]
            if label["name"] == "service_name" and any(p["gaugeValue"]["doubleValue"] for p in m["metricPoints"])}
    assert seen == {mine}


def test_archive_is_the_tenants_own(tenants_app: Any) -> None:
    app, _ = tenants_app
    a, b = TENANTS
    status, body = http(app.url("query_http", f"/api/archive/{ONLY[a]:x}"), tenant=a, data=b"", method="POST")
    assert status == 200, body
    status, _ = http(app.url("query_http", f"/api/archive/{ONLY[a]:x}"), tenant=b, data=b"", method="POST")
    assert status == 404  # b cannot archive (nor learn of) a's trace
    status, _ = http(app.url("query_http", f"/api/traces/{ONLY[a]:x}"), tenant=b)
    assert status == 404


# -- HTTP /api/v3 ------------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", TENANTS)
def test_api_v3_is_the_tenants_own(tenants_app: Any, tenant: str) -> None:
    app, expected = tenants_app
    status, body = http(app.url("query_http", "/api/v3/services"), tenant=tenant)
    assert set(json.loads(body)["services"]) == expected[tenant]
    theirs = f"{other(tenant)}-zipkin"
    status, body = http(app.url("query_http", f"/api/v3/operations?service={theirs}"), tenant=tenant)
    assert status == 200 and not json.loads(body).get("operations")
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7200))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    q = f"query.start_time_min={start}&query.start_time_max={end}"
    status, body = http(app.url("query_http", f"/api/v3/traces?query.service_name={theirs}&{q}"), tenant=tenant)
    assert status in (200, 404) and theirs.encode() not in body  # Jaeger answers 404 for an empty search
    status, body = http(app.url("query_http", f"/api/v3/traces?query.service_name={tenant}-zipkin&{q}"), tenant=tenant)
    assert status == 200 and f"{tenant}-zipkin".encode() in body and other(tenant).encode() not in body
    status, body = http(app.url("query_http", f"/api/v3/traces/{SHARED_TRACE:032x}"), tenant=tenant)
    assert status == 200 and other(tenant).encode() not in body and tenant.encode() in body


# -- gRPC api_v2 and api_v3 ------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", TENANTS)
def test_grpc_query_apis_are_the_tenants_own(tenants_app: Any, tenant: str) -> None:
    app, expected = tenants_app
    md = [("x-tenant", tenant)]
    with grpc.insecure_channel(f"127.0.0.1:{app.ports['query_grpc']}") as channel:
        v2 = query_pb2_grpc.QueryServiceStub(channel)
        assert set(v2.GetServices(query_pb2.GetServicesRequest(), metadata=md, timeout=30).services) == expected[tenant]
        ops = v2.GetOperations(query_pb2.GetOperationsRequest(service=f"{other(tenant)}-zipkin"), metadata=md, timeout=30)
        assert list(ops.operations) == []
        chunks = list(v2.GetTrace(query_pb2.GetTraceRequest(trace_id=SHARED_TRACE.to_bytes(16, "big")), metadata=md, timeout=30))
        assert {s.process.service_name for c in chunks for s in c.spans} <= expected[tenant]
        with pytest.raises(grpc.RpcError) as err:
            list(v2.GetTrace(query_pb2.GetTraceRequest(trace_id=ONLY[other(tenant)].to_bytes(16, "big")), metadata=md, timeout=30))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        v3 = v3_grpc.QueryServiceStub(channel)
        assert set(v3.GetServices(v3_pb.GetServicesRequest(), metadata=md, timeout=30).services) == expected[tenant]
        with pytest.raises(grpc.RpcError) as err:
            list(v3.GetTrace(v3_pb.GetTraceRequest(trace_id=f"{ONLY[other(tenant)]:032x}"), metadata=md, timeout=30))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


# -- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("tenant,status", [(None, 401), ("initech", 403), ("bad/name", 400)])
def test_query_http_refuses_requests_without_a_known_tenant(tenants_app: Any, tenant: str | None, status: int) -> None:
    app, _ = tenants_app
    for path in ("/api/services", "/api/traces?service=acme-zipkin", f"/api/traces/{SHARED_TRACE:x}",
                 "/api/dependencies?endTs=1&lookback=1", "/api/metrics/calls?service=acme-zipkin",
                 "/api/v3/services", f"/api/v3/traces/{SHARED_TRACE:032x}"):
        got, body = http(app.url("query_http", path), tenant=tenant)
        assert got == status, (path, body)
        assert b"acme" not in body.replace(b"acme-zipkin", b"") and b"globex" not in body
    got, _ = http(app.url("query_http", f"/api/archive/{SHARED_TRACE:x}"), tenant=tenant, data=b"", method="POST")
    assert got == status
    got, _ = http(app.url("query_http", "/"))  # the UI's files need no tenant
    assert got == 200


@pytest.mark.parametrize("metadata,code", [([], grpc.StatusCode.UNAUTHENTICATED),
                                           ([("x-tenant", "initech")], grpc.StatusCode.PERMISSION_DENIED)])
def test_grpc_apis_refuse_calls_without_a_known_tenant(tenants_app: Any, metadata: list[tuple[str, str]],
                                                       code: grpc.StatusCode) -> None:
    app, _ = tenants_app
    with grpc.insecure_channel(f"127.0.0.1:{app.ports['query_grpc']}") as channel:
        for call in (lambda: query_pb2_grpc.QueryServiceStub(channel).GetServices(query_pb2.GetServicesRequest(), metadata=metadata, timeout=30),
                     lambda: v3_grpc.QueryServiceStub(channel).GetServices(v3_pb.GetServicesRequest(), metadata=metadata, timeout=30)):
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == code
    with grpc.insecure_channel(f"127.0.0.1:{app.ports['collector_grpc']}") as channel:
        batch = jaeger_proto.batch_from_spans(spans_of("x", 0x77, "intruder"))
        with pytest.raises(grpc.RpcError) as err:
            collector_pb2_grpc.CollectorServiceStub(channel).PostSpans(
                collector_pb2.PostSpansRequest(batch=batch), metadata=metadata, timeout=30)
        assert err.value.code() == code


@pytest.mark.parametrize("tenant,status", [(None, 401), ("initech", 403)])
def test_receivers_refuse_spans_without_a_known_tenant(tenants_app: Any, tenant: str | None, status: int) -> None:
    app, _ = tenants_app
    p = app.ports
    body = jaeger_thrift.encode_batch(spans_of("x", 0x78, "intruder"))
    got, _ = http(f"http://127.0.0.1:{p['collector_http']}/api/traces", tenant=tenant, data=body,
                  headers={"Content-Type": "application/x-thrift"})
    assert got == status
    got, _ = http(f"http://127.0.0.1:{p['zipkin_http']}/api/v2/spans", tenant=tenant, data=b"[]",
                  headers={"Content-Type": "application/json"})
    assert got == status
    got, _ = http(f"http://127.0.0.1:{p['otlp_http']}/v1/traces", tenant=tenant, data=b"{}",
                  headers={"Content-Type": "application/json"})
    assert got == status
    for t in TENANTS:
        assert "intruder" not in services_http(app, t)


def test_udp_spans_are_dropped_and_counted(tenants_app: Any) -> None:
    app, _ = tenants_app
    packet = jaeger_thrift.encode_agent_message(spans_of("x", 0x79, "udp-sender"), "compact")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(packet, ("127.0.0.1", app.ports["agent_jaeger_compact"]))

    def counted() -> bool:
        _, text = http(app.url("admin", "/metrics"))
        return b'spyglass_tenancy_udp_spans_dropped_total{receiver="agent_jaeger_compact"} 1.0' in text

    wait_for(counted)
    for t in TENANTS:
        assert "udp-sender" not in services_http(app, t)
