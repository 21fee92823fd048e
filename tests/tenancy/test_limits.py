"""Per-tenant limits: the ingest rate (a request over it is refused whole with 429 /
RESOURCE_EXHAUSTED and counted per tenant, other tenants unaffected) and retention
(``--multi-tenancy.retention`` overrides the backend's for one tenant's store)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from conftest import RunningAllInOne
from support import clickhouse_factory, wait_for

from spyglass.codecs import jaeger_proto, jaeger_thrift, otlp_proto
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2, collector_pb2_grpc
from spyglass.model import Resource, Span
from spyglass.storage.api.tenants import TenantRoutingWriter
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory
from spyglass.storage.sqlite.days import day_start

S = 1_000_000_000


def post(url: str, body: bytes, tenant: str, content_type: str) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type, "x-tenant": tenant})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def batch(service: str, n: int = 3) -> list[Span]:
    r = Resource(service)
    return [Span(0x99 + i, 1, "op", time.time_ns(), 1000, r) for i in range(n)]


def services(app: RunningAllInOne, tenant: str) -> set[str]:
    req = urllib.request.Request(app.url("query_http", "/api/services"), headers={"x-tenant": tenant})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return set(json.loads(resp.read())["data"] or [])


@pytest.mark.parametrize("workers", [1, 2])
def test_a_tenant_over_its_ingest_rate_is_refused_whole_and_counted(workers: int) -> None:
    # 0.01 span/s: the first request passes (a full bucket takes a larger request and goes
    # into debt), then the bucket needs minutes to refill, so every later one is refused.
    # With 2 workers every request opens a new connection, which the kernel gives to either
    # worker: the limit holds over both (the parent keeps the one bucket per tenant).
    app = RunningAllInOne(multi_tenancy_enabled=True, multi_tenancy_ingest_rate="acme=0.01", collector_workers=workers)
    try:
        thrift = app.url("collector_http", "/api/traces")
        assert post(thrift, jaeger_thrift.encode_batch(batch("acme-first")), "acme", "application/x-thrift") == 202
        assert post(thrift, jaeger_thrift.encode_batch(batch("acme-refused")), "acme", "application/x-thrift") == 429
        otlp = otlp_proto.encode_export_request(batch("acme-refused"))
        assert post(app.url("otlp_http", "/v1/traces"), otlp, "acme", "application/x-protobuf") == 429
        assert post(app.url("zipkin_http", "/api/v2/spans"), b"[]", "acme", "application/json") == 202  # 0 spans
        for port, call in (
            ("collector_grpc", lambda ch: collector_pb2_grpc.CollectorServiceStub(ch).PostSpans(
                collector_pb2.PostSpansRequest(batch=jaeger_proto.batch_from_spans(batch("acme-refused"))),
                metadata=[("x-tenant", "acme")], timeout=10)),
            ("otlp_grpc", lambda ch: ch.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")(
                otlp, metadata=[("x-tenant", "acme")], timeout=10)),
        ):
            with grpc.insecure_channel(f"127.0.0.1:{app.ports[port]}") as channel, pytest.raises(grpc.RpcError) as err:
                call(channel)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, port
        # Another tenant is not limited by acme's bucket.
        assert post(thrift, jaeger_thrift.encode_batch(batch("globex-ok", 50)), "globex", "application/x-thrift") == 202
        wait_for(lambda: services(app, "globex") == {"globex-ok"} and services(app, "acme") == {"acme-first"})
        with urllib.request.urlopen(app.url("admin", "/metrics"), timeout=10) as resp:
            text = resp.read().decode()
        assert 'spyglass_tenancy_spans_rate_limited_total{tenant="acme"} 12.0' in text
        assert 'tenant="globex"' not in text
        assert 'spyglass_spans_dropped_total{reason="rate_limited"} 12.0' in text
    finally:
        app.close()


class Clock:
    def __init__(self, day: str) -> None:
        self.now = day_start(day) + 3600.0

    def __call__(self) -> float:
        return self.now


def stamped(tenant: str, trace: int, start_ns: int) -> Span:
    return Span(trace, 1, "op", start_ns, 1000, Resource(f"{tenant}-svc"), tenant=tenant)


def test_sqlite_retention_per_tenant(tmp_path: Path) -> None:
    clock = Clock("2024-03-01")
    factory = SqliteFactory(SqliteConfig(data_dir=str(tmp_path / "data"), retention="72h"), clock=clock)
    factory.tenant_retention = {"acme": 24 * 3600.0}
    try:
        writer = TenantRoutingWriter(factory)
        t0 = int(clock.now * S)
        writer.write_spans([stamped("acme", 1, t0), stamped("globex", 1, t0)])
        acme, globex = factory.for_tenant("acme"), factory.for_tenant("globex")
        assert acme.trace_reader().get_trace(1) and globex.trace_reader().get_trace(1)
        assert (tmp_path / "data" / "tenants" / "acme" / "2024-03-01.db").exists()
        # 03-01 ends at 03-02 00:00: with 24 h it expires at 03-03 00:00, with 72 h at 03-05.
        clock.now = day_start("2024-03-03") + 60
        t1 = int(clock.now * S)
        writer.write_spans([stamped("acme", 2, t1), stamped("globex", 2, t1)])
        assert acme.trace_reader().get_trace(1) == [] and acme.trace_reader().get_trace(2)
        assert globex.trace_reader().get_trace(1) and globex.trace_reader().get_trace(2)
        assert not (tmp_path / "data" / "tenants" / "acme" / "2024-03-01.db").exists()
        assert (tmp_path / "data" / "tenants" / "globex" / "2024-03-01.db").exists()
    finally:
        factory.close()


def test_clickhouse_retention_per_tenant() -> None:
    factory = clickhouse_factory()  # the backend's retention: 0, keep everything
    factory.tenant_retention = {"acme": 24 * 3600.0}
    try:
        now = time.time()
        old = int((now - 3 * 86_400) * S)
        TenantRoutingWriter(factory).write_spans([stamped("acme", 1, old), stamped("globex", 1, old)])
        acme, globex = factory.for_tenant("acme"), factory.for_tenant("globex")
        assert acme.config.database == f"{factory.config.database}_tenant_acme"
        assert acme.trace_reader().get_trace(1) and globex.trace_reader().get_trace(1)
        for store in (acme, globex):  # what each writer's thread does hourly (18.16 has no TTL: day partitions go)
            store.writer._next_retention = 0.0
            store.writer._retention()
        assert acme.trace_reader().get_trace(1) == []
        assert globex.trace_reader().get_trace(1)
        assert factory.trace_reader().get_trace(1) == []  # the root database never had either
    finally:
        factory.close()
