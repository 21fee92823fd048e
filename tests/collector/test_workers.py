"""``--workers N``: N processes receive on the same ports, the parent stores (real
processes, real clients on 127.0.0.1; see src/spyglass/collector/workers/)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from spyglass.codecs import jaeger_thrift, otlp_proto
from spyglass.model import Resource, Span
from tests.pipeline_procs import UNCAPPED_QUERY, Spyglass, get_json, otlp_json, post, traces_by_id
from tests.support import alive, children, wait_for

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def start(tmp_path: Path, *args: str, name: str = "aio") -> Spyglass:
    return Spyglass(tmp_path, name, "all-in-one", *UNCAPPED_QUERY, *args).start()


def otlp_grpc_request(trace_id: int, n: int, service: str) -> bytes:
    r = Resource(service)
    now = time.time_ns()
    return otlp_proto.encode_export_request([Span(trace_id, i + 1, f"op{i}", now + i, 1000, r, parent_span_id=i)
                                             for i in range(n)])


def test_workers_share_the_ports_and_store_every_span_once(tmp_path: Path) -> None:
    aio = start(tmp_path, "--workers", "2")
    try:
        assert aio.proc is not None
        workers = children(aio.proc.pid)
        assert len(workers) == 2, workers
        assert aio.metric("spyglass_collector_workers") == 2
        # 1. The OpenTelemetry SDK's OTLP gRPC exporter.
        provider = TracerProvider(resource=OtelResource.create({"service.name": "otel-sdk"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
            endpoint=f"127.0.0.1:{aio.ports['collector.otlp-grpc-port']}", insecure=True)))
        tracer = provider.get_tracer("t")
        sdk_traces = set()
        for _ in range(20):
            with tracer.start_as_current_span("root") as root:
                sdk_traces.add(root.get_span_context().trace_id)
                with tracer.start_as_current_span("child"):
                    pass
        provider.shutdown()
        # 2. Raw OTLP gRPC and OTLP/HTTP, each request on a new connection, so the kernel
        # spreads them over both workers.
        expected: dict[int, int] = {}
        for k in range(30):
            tid = 0xA000 + k
            channel = grpc.insecure_channel(f"127.0.0.1:{aio.ports['collector.otlp-grpc-port']}")
            call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            call(otlp_grpc_request(tid, 5, "raw-grpc"), timeout=10)
            channel.close()
            expected[tid] = 5
        for k in range(30):
            tid = 0xB000 + k
            assert post(aio.url("collector.otlp-http-port", "/v1/traces"), otlp_json(tid, 3, "raw-http"),
                        "application/json") == 200
            expected[tid] = 3
        total = len(sdk_traces) * 2 + sum(expected.values())
        wait_for(lambda: aio.metric("spyglass_spans_written_total") >= total, timeout=30)
        time.sleep(1.5)  # a further status report from every worker: nothing more arrives
        assert aio.metric("spyglass_spans_written_total") == total  # each span written exactly once
        # counted by the workers (sqlite: they validate), summed on the parent's admin port
        assert aio.metric("spyglass_spans_received_total") == total
        for worker in ("0", "1"):  # both processes received requests
            assert aio.metric("spyglass_collector_worker_requests_total", worker=worker) > 0
        # the per-service write counts (from the prepared batches' per-operation counts)
        for svc, n in (("raw-grpc", 150), ("raw-http", 90), ("otel-sdk", len(sdk_traces) * 2)):
            assert aio.metric("jaeger_collector_spans_saved_by_svc_total", svc=svc, result="ok") == n
        got = {**traces_by_id(aio, "raw-grpc"), **traces_by_id(aio, "raw-http")}
        assert {t: len(s) for t, s in got.items()} == expected
        sdk = traces_by_id(aio, "otel-sdk")
        assert set(sdk) == sdk_traces and all(len(s) == 2 for s in sdk.values())
    finally:
        assert aio.stop() == 0


def test_sigterm_of_the_parent_stops_every_worker(tmp_path: Path) -> None:
    aio = start(tmp_path, "--workers", "2")
    assert aio.proc is not None
    workers = children(aio.proc.pid)
    assert len(workers) == 2
    assert aio.stop() == 0
    wait_for(lambda: not any(alive(p) for p in workers), timeout=10)


def test_sigkill_of_the_parent_leaves_no_orphan(tmp_path: Path) -> None:
    aio = start(tmp_path, "--workers", "2")
    assert aio.proc is not None
    workers = children(aio.proc.pid)
    assert len(workers) == 2
    aio.kill(signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in workers), timeout=10)  # PR_SET_PDEATHSIG


def test_killed_worker_is_restarted_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    aio = start(tmp_path, "--workers", "2", "--collector.queue.durable")
    assert aio.proc is not None
    acked: list[int] = []
    stop = threading.Event()
    url = aio.url("collector.otlp-http-port", "/v1/traces")

    def client(base: int) -> None:
        k = 0
        while not stop.is_set():
            tid = base + k
            k += 1
            if post(url, otlp_json(tid, 4, "durable"), "application/json", timeout=10) == 200:
                acked.append(tid)

    threads = [threading.Thread(target=client, args=(base,)) for base in (0x1_0000, 0x2_0000, 0x3_0000)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(acked) > 30, timeout=30)
        victim = children(aio.proc.pid)[0]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: aio.metric("spyglass_collector_worker_restarts_total") == 1, timeout=20)
        wait_for(lambda: aio.metric("spyglass_collector_workers") == 2, timeout=30)
        # a first death is restarted at once, even seconds after the start (no crash-loop wait)
        assert time.monotonic() - killed_at < 8
        assert victim not in children(aio.proc.pid) and len(children(aio.proc.pid)) == 2
        before = len(acked)
        wait_for(lambda: len(acked) > before + 30, timeout=30)  # still serving
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    aio.kill(signal.SIGKILL)  # then the whole collector: the write-ahead log has every acknowledged span
    again = Spyglass(tmp_path, "again", "all-in-one", *UNCAPPED_QUERY, "--workers", "1", "--collector.queue.durable",
                     data_dir=aio.data_dir).start()
    try:
        got = traces_by_id(again, "durable")
        missing = [t for t in acked if t not in got]
        assert not missing, f"{len(missing)} of {len(acked)} acknowledged traces lost"
        assert all(len(got[t]) == 4 for t in acked)
    finally:
        again.stop()


def test_port_zero_is_chosen_once_for_every_worker(tmp_path: Path) -> None:
    flags = ("collector.http-port", "collector.grpc-port", "collector.otlp-grpc-port", "collector.otlp-http-port",
             "collector.zipkin-port", "admin.port", "agent.sampling-port", "query.http-port", "query.grpc-port",
             "agent.jaeger-compact-port", "agent.jaeger-binary-port", "agent.zipkin-compact-port")
    aio = Spyglass(tmp_path, "zero", "all-in-one", *UNCAPPED_QUERY, "--workers", "2", ports={f: 0 for f in flags})
    aio.start(wait=False)
    try:
        def ports() -> dict[str, int] | None:
            text = aio.log_tail() if aio.log_path.exists() else ""
            found = dict(re.findall(r"(\w+) listening on 127\.0\.0\.1:(\d+)", text))
            return {k: int(v) for k, v in found.items()} if {"admin", "otlp_http", "query_http"} <= set(found) else None

        bound = wait_for(ports, timeout=60)
        assert all(p != 0 for p in bound.values())
        aio.ports = {"admin.port": bound["admin"], "collector.otlp-http-port": bound["otlp_http"],
                     "query.http-port": bound["query_http"]}
        aio.wait_healthy()
        for k in range(20):  # new connections: both workers answer on the one chosen port
            assert post(aio.url("collector.otlp-http-port", "/v1/traces"), otlp_json(0xC000 + k, 2, "zero"),
                        "application/json") == 200
        wait_for(lambda: len(traces_by_id(aio, "zero")) == 20, timeout=30)
        for worker in ("0", "1"):
            assert aio.metric("spyglass_collector_worker_requests_total", worker=worker) > 0
    finally:
        assert aio.stop() == 0


def test_unhealthy_storage_makes_the_parent_unhealthy_and_workers_refuse(tmp_path: Path) -> None:
    import fcntl

    aio = start(tmp_path, "--workers", "2")
    try:
        lock = aio.data_dir / "writer.lock"
        lock.unlink()  # another process takes the data directory's lock: storage cannot be written
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

        def unhealthy() -> bool:
            status, body = get_json(aio.url("admin.port", "/"))
            return status == 503 and "storage unhealthy" in body.get("reason", "")

        wait_for(unhealthy, timeout=20, interval=0.2)
        url = aio.url("collector.otlp-http-port", "/v1/traces")
        wait_for(lambda: post(url, otlp_json(0xD001, 2, "refused"), "application/json") == 503, timeout=20)
        assert aio.metric("spyglass_spans_dropped_total", reason="storage_unavailable") >= 2
        os.close(fd)  # released: the writer takes the lock again
        wait_for(lambda: get_json(aio.url("admin.port", "/"))[0] == 200, timeout=20, interval=0.2)
        wait_for(lambda: post(url, otlp_json(0xD002, 2, "accepted"), "application/json") == 200, timeout=20)
    finally:
        assert aio.stop() == 0


def test_workers_refuse_before_decoding_while_the_parents_queue_is_full(tmp_path: Path) -> None:
    """A queue of 1,000 spans and senders of 1,000-span requests keep it full: the parent
    tells the workers, which refuse requests undecoded (UNAVAILABLE, counted per request);
    every acknowledged span is stored once, and no refused one."""
    aio = start(tmp_path, "--workers", "2", "--collector.queue-size", "1000")
    port = aio.ports["collector.otlp-grpc-port"]
    stop = threading.Event()
    acked: list[int] = []
    codes: set[grpc.StatusCode] = set()

    def send(k: int) -> None:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        n = 0
        while not stop.is_set():
            tid = 0xF0000 + k * 100_000 + n
            n += 1
            try:
                call(otlp_grpc_request(tid, 1000, "flood"), timeout=30)
                acked.append(tid)
            except grpc.RpcError as exc:
                codes.add(exc.code())
        channel.close()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: aio.metric("spyglass_requests_rejected_total", reason="queue_full") > 0, timeout=60,
                 interval=0.5)
        stop.set()
        for t in threads:
            t.join(60)
        assert codes == {grpc.StatusCode.UNAVAILABLE}
        assert aio.metric("spyglass_requests_rejected_total", receiver="otlp_grpc", format="otlp_proto",
                          reason="queue_full") > 0
        wait_for(lambda: aio.metric("spyglass_spans_written_total") >= 1000 * len(acked), timeout=60)
        time.sleep(1.5)  # a further status report from every worker: nothing more arrives
        assert aio.metric("spyglass_spans_written_total") == 1000 * len(acked)
        stored = traces_by_id(aio, "flood")
        assert set(stored) == set(acked) and all(len(spans) == 1000 for spans in stored.values())
    finally:
        stop.set()
        assert aio.stop() == 0


def test_workers_publish_to_nats_themselves(tmp_path: Path) -> None:
    from tests.pipeline_procs import NatsServer

    nats = NatsServer(tmp_path)
    nats.start()
    procs: list[Spyglass] = []
    try:
        flags = ("--nats.url", nats.url, "--nats.stream", "workers")
        collector = Spyglass(tmp_path, "collector", "collector", "--workers", "2", "--collector.buffer", "nats", *flags,
                             "--storage", "memory")
        data = tmp_path / "storage"
        ingester = Spyglass(tmp_path, "ingester", "ingester", *flags, "--storage", "sqlite", data_dir=data)
        query = Spyglass(tmp_path, "query", "query", *UNCAPPED_QUERY, data_dir=data)
        for p in (collector, ingester, query):
            procs.append(p.start())
        for k in range(20):
            assert post(collector.url("collector.otlp-http-port", "/v1/traces"), otlp_json(0xE000 + k, 3, "via-nats"),
                        "application/json") == 200
        wait_for(lambda: len(traces_by_id(query, "via-nats")) == 20, timeout=30)
        assert all(len(s) == 3 for s in traces_by_id(query, "via-nats").values())
        wait_for(lambda: collector.metric("spyglass_buffer_published_messages_total") == 20, timeout=10)
        # The workers published (their counts reach the parent's admin port); nothing went
        # through the parent.
        assert collector.metric("spyglass_spans_received_total") == 60
        assert collector.metric("spyglass_collector_worker_requests_total") == 0
    finally:
        for p in reversed(procs):
            p.stop()
        nats.close()


def test_a_tenants_rate_holds_over_workers_that_publish_to_nats(tmp_path: Path) -> None:
    """Direct mode: the workers publish themselves, but ask the parent for each request's
    tokens, so one bucket per tenant limits every worker (not one bucket per worker)."""
    from tests.pipeline_procs import NatsServer

    nats = NatsServer(tmp_path)
    nats.start()
    collector = Spyglass(tmp_path, "collector", "collector", "--workers", "2", "--collector.buffer", "nats",
                         "--nats.url", nats.url, "--nats.stream", "limited", "--storage", "memory",
                         "--multi-tenancy.enabled", "--multi-tenancy.ingest-rate", "acme=0.01")
    try:
        collector.start()

        def send(tenant: str, tid: int) -> int:
            req = urllib.request.Request(collector.url("collector.otlp-http-port", "/v1/traces"),
                                         data=otlp_json(tid, 2, "limited"),
                                         headers={"Content-Type": "application/json", "x-tenant": tenant})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:  # a new connection each: either worker
                    return resp.status
            except urllib.error.HTTPError as exc:
                return exc.code

        # 0.01 span/s: the first request empties the bucket, which then needs minutes to refill
        assert [send("acme", 0xF300 + k) for k in range(12)] == [200] + [429] * 11
        assert [send("globex", 0xF400 + k) for k in range(4)] == [200] * 4  # a bucket of its own: no limit
        wait_for(lambda: collector.metric("spyglass_tenancy_spans_rate_limited_total", tenant="acme") == 22,
                 timeout=10)
        wait_for(lambda: collector.metric("spyglass_buffer_published_messages_total") == 5, timeout=10)
    finally:
        collector.stop()
        nats.close()


def test_tenants_stay_apart_through_the_workers(tmp_path: Path) -> None:
    aio = start(tmp_path, "--workers", "2", "--multi-tenancy.enabled")
    try:
        def send(tenant: str, tid: int) -> int:
            req = urllib.request.Request(aio.url("collector.otlp-http-port", "/v1/traces"),
                                         data=otlp_json(tid, 2, "shared-name"),
                                         headers={"Content-Type": "application/json", "x-tenant": tenant})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status

        for k in range(10):  # new connections: both workers, both tenants
            assert send("acme", 0xF100 + k) == 200
            assert send("globex", 0xF200 + k) == 200

        def traces(tenant: str) -> set[int]:
            req = urllib.request.Request(
                aio.url("query.http-port", "/api/traces?service=shared-name&limit=100&lookback=1h"),
                headers={"x-tenant": tenant})
            with urllib.request.urlopen(req, timeout=30) as resp:
                return {int(t["traceID"], 16) for t in json.loads(resp.read())["data"] or []}

        wait_for(lambda: len(traces("acme")) == 10 and len(traces("globex")) == 10, timeout=30)
        assert traces("acme") == {0xF100 + k for k in range(10)}
        assert traces("globex") == {0xF200 + k for k in range(10)}
    finally:
        assert aio.stop() == 0


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_far_times_through_a_worker_get_the_in_process_answer(tmp_path: Path, storage: str) -> None:
    """A worker refuses spans whose times no storage can hold with validation's reason,
    as an in-process collector does, whether it forwards spans (memory) or prepared rows
    (sqlite): the good span of the batch is stored, the others are counted by reason."""
    aio = start(tmp_path, "--workers", "2", "--storage", storage)
    try:
        now = time.time_ns()
        far = 1 << 62  # µs from the epoch: ~146,000 years
        body = jaeger_thrift.encode_batch([Span(0x7001, 1, "op", far * 1000, 1000, Resource("far")),
                                           Span(0x7001, 2, "op", -far * 1000, 1000, Resource("far")),
                                           Span(0x7001, 3, "op", now, 1000, Resource("far"))])
        req = urllib.request.Request(aio.url("collector.http-port", "/api/traces"), data=body,
                                     headers={"Content-Type": "application/x-thrift"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        text = info.value.read().decode()
        assert info.value.code == 400
        assert "2 of 3 spans refused" in text and "1970-01-01..2262-04-11" in text, text
        wait_for(lambda: aio.metric("spyglass_spans_rejected_total", reason="invalid_time") == 2, timeout=10)
        wait_for(lambda: traces_by_id(aio, "far").get(0x7001) is not None, timeout=20)
        assert [s["spanID"] for s in traces_by_id(aio, "far")[0x7001]] == ["0000000000000003"]
        assert aio.metric("spyglass_spans_received_total") == 3
    finally:
        assert aio.stop() == 0
