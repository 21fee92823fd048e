"""Column batches prepared by a collector worker (``storage.clickhouse.prepared``) store
exactly what ``write_spans`` stores (the same traces, searches, services, operations and
dependencies, on a real 18.16 server), and ``spyglass all-in-one --storage clickhouse
--workers 2`` stores what its workers receive."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

import clickhouse_servers
from spyglass.collector.buffer.encoding import encode_batch
from spyglass.storage.api import TraceQuery
from spyglass.storage.clickhouse import ClickHouseConfig, ClickHouseFactory
from spyglass.storage.clickhouse.prepared import MAGIC, PreparedColumns, Preparer, decode
from spyglass.storage.sqlite.prepared import PreparedDecodeError, PreparedSpans
from spyglass.storage.sqlite.prepared import Preparer as SqlitePreparer
from support import free_port
from tests.storage.test_analytics_suite import random_traces
from tests.storage.test_sqlite_prepared import assert_same_answers, tagged_traces, worker_batches


def _factory() -> ClickHouseFactory:
    return ClickHouseFactory(ClickHouseConfig(addresses=clickhouse_servers.single_node().address,
                                              database=clickhouse_servers.fresh_database(), retention="0"))


def test_prepared_batches_store_what_write_spans_stores() -> None:
    rng = random.Random(7)
    traces = tagged_traces(rng, with_ratio=True)
    batches = worker_batches(traces, rng)
    plain, ready = _factory(), _factory()
    try:
        preparer = Preparer()
        for batch in batches:
            plain.span_writer().write_spans(batch)
            ready.span_writer().write_prepared([PreparedColumns(preparer.prepare(batch))])  # type: ignore[attr-defined]
        assert_same_answers(plain, ready, traces)
    finally:
        plain.close()
        ready.close()


def test_prepared_columns_count_and_are_told_from_sqlite_batches() -> None:
    spans = [s for t in random_traces(random.Random(3), 10) for s in t]
    prepared = decode(Preparer().prepare(spans))
    assert isinstance(prepared, PreparedColumns) and len(prepared) == len(spans)
    assert sorted(prepared.services()) == sorted(s.resource.service_name for s in spans)
    assert isinstance(decode(SqlitePreparer().prepare(spans)), PreparedSpans)
    with pytest.raises(PreparedDecodeError):
        PreparedColumns(encode_batch(spans))
    with pytest.raises(PreparedDecodeError):
        PreparedColumns(MAGIC + b"\xc1garbage")


def test_all_in_one_with_workers_stores_spans_in_clickhouse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two worker processes decode and prepare; the parent inserts (prepared mode)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource as OtelResource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    node = clickhouse_servers.single_node()
    database = clickhouse_servers.fresh_database()
    ports = {f: free_port() for f in ("collector.otlp-http-port", "admin.port", "query.http-port")}
    args = [sys.executable, "-m", "spyglass.cli", "all-in-one", "--storage", "clickhouse", "--clickhouse.addresses",
            node.address, "--clickhouse.database", database, "--clickhouse.retention", "0", "--workers", "2",
            "--collector.grpc-port", "0", "--collector.otlp-grpc-port", "0", "--collector.http-port", "0",
            "--collector.zipkin-port", "0", "--query.grpc-port", "0", "--tempo-api.port", "0",
            "--agent.jaeger-compact-port", "0", "--agent.jaeger-binary-port", "0", "--agent.zipkin-compact-port", "0",
            "--agent.sampling-port", "0", "--log-level", "info"]
    for flag, port in ports.items():
        args += [f"--{flag}", str(port)]
    log = tmp_path / "log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        provider = TracerProvider(resource=OtelResource.create({"service.name": "checkout"}))
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{ports['collector.otlp-http-port']}/v1/traces")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("t")
        deadline = time.monotonic() + 60
        sent: set[int] = set()
        factory = ClickHouseFactory(ClickHouseConfig(addresses=node.address, database=database, retention="0"),
                                    connect=False)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(log.read_text())
            with tracer.start_as_current_span("pay", attributes={"order": "o-1"}) as span:
                sent.add(span.get_span_context().trace_id)
            try:
                found = {t for t in factory.trace_reader().find_trace_ids(
                    TraceQuery(service_name="checkout", attributes={"order": "o-1"}, num_traces=1000))}
            except ConnectionError:
                found = set()
            if len(found) >= 5:
                break
            time.sleep(0.3)
        assert len(found) >= 5 and found <= sent, log.read_text()
        trace = factory.trace_reader().get_trace(next(iter(found)))
        assert [s.name for s in trace] == ["pay"] and trace[0].resource.service_name == "checkout"
        factory.close()
        provider.shutdown()
        assert "prepared mode" in log.read_text()
    finally:
        proc.terminate()
        proc.wait(30)


def test_prepared_columns_in_the_write_ahead_log_are_replayed_into_clickhouse(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``--collector.queue.durable`` with workers logs the prepared bytes; a restart stores
    them (told from sqlite's by their magic) and commits before deleting the segment."""
    from spyglass.collector.metrics import IngestMetrics
    from spyglass.collector.wal import DurableSpanProcessor, WriteAheadLog, segment_ids

    spans = [s for t in random_traces(random.Random(5), 20) for s in t]
    log = WriteAheadLog(tmp_path / "wal")
    log.append([Preparer().prepare(spans[:30]), Preparer().prepare(spans[30:])])
    log.rotate()
    factory = _factory()
    try:
        processor = DurableSpanProcessor(factory.span_writer(), IngestMetrics(), None, tmp_path / "wal")
        assert processor.replay() == len(spans)
        assert segment_ids(tmp_path / "wal") == []
        for trace_id in {s.trace_id for s in spans}:
            assert sorted(s.span_id for s in factory.trace_reader().get_trace(trace_id)) == \
                sorted(s.span_id for s in spans if s.trace_id == trace_id)
    finally:
        factory.close()
