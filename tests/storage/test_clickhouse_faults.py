"""ClickHouse servers that go down under the real roles: a ``spyglass all-in-one`` process on
the test suite's two 18.16 servers (``clickhouse_servers.cluster()``), spans sent over
OTLP/HTTP, one server stopped, then started again.

* 2 shards, no replication: a shard down means no insert can be complete (each insert
  spreads its rows over both shards) and no search can be answered whole. Spyglass inserts
  synchronously (``insert_distributed_sync``), so a failed insert stays in its own bounded
  buffer and is retried; the collector stops acknowledging spans (HTTP 503) and health says
  why; the query API answers 503 (gRPC UNAVAILABLE) at once, never a hang; once the shard is
  back, every acknowledged span is found exactly once, without restarting Spyglass.
* the same with separate collector and query processes, the first address down.
* 2 replicas: the replica Spyglass was connected to goes down; writes and reads go on
  through the other one, and nothing acknowledged is lost.
* 2 shards, one frozen (SIGSTOP): reads still answer within ``--query.timeout``, the
  collector stops acknowledging after one insert timeout, nothing is lost.

The servers are shared with ``test_clickhouse_cluster.py`` (separate databases); every test
starts the server it stopped again, even when it fails.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import clickhouse_servers
from pipeline_procs import UNCAPPED_QUERY, Spyglass, get_json, otlp_json, post
from spyglass.codecs.proto.jaeger.api_v2 import query_pb2, query_pb2_grpc
from support import wait_for

pytestmark = pytest.mark.slow

SPANS_PER_TRACE = 3
SERVICE = "faulty"


def start_all_in_one(tmp_path: Path, cluster: str, db: str, *extra: str, command: str = "all-in-one") -> Spyglass:
    servers = clickhouse_servers.cluster()
    query = UNCAPPED_QUERY + ("--query.timeout", "10s") if command != "collector" else ()
    writer = ("--clickhouse.flush-interval", "100ms", "--clickhouse.batch-size", "50",
              "--clickhouse.buffer-size", "1000") if command != "query" else ()  # the query role writes nothing
    return Spyglass(
        tmp_path, f"{command}-{cluster}", command, *query, *writer,
        "--storage", "clickhouse", "--clickhouse.addresses", servers.addresses,
        "--clickhouse.database", db, "--clickhouse.cluster", cluster,
        "--clickhouse.retention", "0", "--clickhouse.timeout", "5s", *extra,
    ).start()


class Sender:
    """Sends one trace per OTLP/HTTP request and remembers which ones were acknowledged."""

    def __init__(self, aio: Spyglass) -> None:
        self.url = aio.url("collector.otlp-http-port", "/v1/traces")
        self.next_id = 1
        self.acknowledged: list[int] = []
        self.refused = 0

    def send(self) -> int:
        trace_id, self.next_id = self.next_id, self.next_id + 1
        status = post(self.url, otlp_json(trace_id, SPANS_PER_TRACE, SERVICE), "application/json")
        if status == 200:
            self.acknowledged.append(trace_id)
        elif status == 503:
            self.refused += 1
        else:
            raise AssertionError(f"trace {trace_id}: HTTP {status}, expected 200 or a retryable 503")
        return status

    def send_until_refused(self, timeout: float = 30, pause: float = 0.02) -> None:
        deadline = time.monotonic() + timeout
        while self.send() != 503:
            assert time.monotonic() < deadline, "the collector still acknowledges spans it cannot store"
            time.sleep(pause)


def found_exactly_once(aio: Spyglass, acknowledged: list[int]) -> bool:
    """True once every acknowledged trace is found whole and no span twice (raises on a
    duplicate: a retried insert must never show a span twice). False while the query
    answers 503: a server that just came back may be slow to answer the first reads."""
    status, body = get_json(aio.url("query.http-port", f"/api/traces?service={SERVICE}&limit=100000&lookback=1h"),
                            timeout=60)
    if status == 503:
        return False
    assert status == 200, body
    traces = {int(t["traceID"], 16): t["spans"] for t in body["data"] or []}
    for trace_id, spans in traces.items():
        ids = [s["spanID"] for s in spans]
        assert len(ids) == len(set(ids)), f"trace {trace_id:x} shows a span twice"
    return all(len(traces.get(t, ())) == SPANS_PER_TRACE for t in acknowledged)


def health(aio: Spyglass) -> tuple[int, dict[str, str]]:
    return get_json(aio.url("admin.port", "/"))


@pytest.fixture
def restart_servers() -> Iterator[None]:
    yield
    for node in clickhouse_servers.cluster().nodes:
        if not node.process.running:
            node.start()


def test_a_shard_down_stops_acknowledgements_answers_errors_and_loses_nothing(
        tmp_path: Path, restart_servers: None) -> None:
    nodes = clickhouse_servers.cluster().nodes
    aio = start_all_in_one(tmp_path, "two_shards", clickhouse_servers.fresh_database())
    try:
        sender = Sender(aio)
        for _ in range(20):
            assert sender.send() == 200
        wait_for(lambda: found_exactly_once(aio, sender.acknowledged), timeout=30, interval=0.2)

        down = nodes[1]  # a shard Spyglass is not connected to: its inserts and reads go through nodes[0]
        down.stop()
        before = len(sender.acknowledged)
        sender.send_until_refused()
        # Refused because inserts fail, not only once the writer's buffer (1000 spans) is full.
        assert (len(sender.acknowledged) - before) * SPANS_PER_TRACE < 1000
        # Once refusing, it keeps refusing while the shard is down (health is polled, the
        # failing insert keeps failing): no span is acknowledged that cannot be stored.
        acknowledged_while_down = len(sender.acknowledged)
        for _ in range(10):
            assert sender.send() == 503
        assert len(sender.acknowledged) == acknowledged_while_down

        status, body = health(aio)
        assert status == 503 and "clickhouse inserts failing" in body["reason"] and down.address in body["reason"], body
        assert aio.metric("spyglass_spans_dropped_total", reason="storage_unavailable") >= 11 * SPANS_PER_TRACE
        # The spans acknowledged before the refusals wait in the writer's buffer, retried.
        assert aio.metric("spyglass_clickhouse_buffered_spans", store="primary") > 0
        failures = aio.metric("spyglass_clickhouse_insert_failures_total", store="primary")
        assert failures >= 1
        wait_for(lambda: aio.metric("spyglass_clickhouse_insert_failures_total", store="primary") > failures,
                 timeout=20, interval=0.2)

        # Reads: a clear error in Jaeger's shape, at once (the query timeout is 10 s).
        started = time.monotonic()
        status, body = get_json(aio.url("query.http-port", f"/api/traces?service={SERVICE}&lookback=1h"), timeout=30)
        assert status == 503, body
        assert body["errors"][0]["code"] == 503 and down.address in body["errors"][0]["msg"], body
        status, body = get_json(aio.url("query.http-port", "/api/services"), timeout=30)
        assert status == 503 and down.address in body["errors"][0]["msg"], body
        with grpc.insecure_channel(f"127.0.0.1:{aio.ports['query.grpc-port']}") as channel:
            with pytest.raises(grpc.RpcError) as err:
                query_pb2_grpc.QueryServiceStub(channel).GetServices(query_pb2.GetServicesRequest(), timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE and down.address in err.value.details()
        assert time.monotonic() - started < 10
        assert aio.proc is not None and aio.proc.poll() is None

        down.start()  # recovers without a restart of Spyglass
        wait_for(lambda: health(aio)[0] == 200, timeout=60, interval=0.2)
        for _ in range(10):
            assert sender.send() == 200
        wait_for(lambda: found_exactly_once(aio, sender.acknowledged), timeout=30, interval=0.2)
        assert aio.metric("spyglass_spans_dropped_total", reason="retry_buffer_full") == 0
        assert aio.metric("spyglass_clickhouse_buffered_spans", store="primary") == 0
        assert aio.metric("spyglass_clickhouse_spans_dropped_total") == 0
        assert "Traceback" not in aio.log_tail()
    finally:
        aio.stop()


def test_a_shard_down_with_separate_collector_and_query_processes(tmp_path: Path, restart_servers: None) -> None:
    """The same outage seen by the two roles apart: the collector refuses spans and reports
    unhealthy; the query process, which writes nothing, answers every read with a clear 503
    (gRPC UNAVAILABLE); both recover by themselves."""
    nodes = clickhouse_servers.cluster().nodes
    db = clickhouse_servers.fresh_database()
    collector = start_all_in_one(tmp_path, "two_shards", db, command="collector")
    query = start_all_in_one(tmp_path, "two_shards", db, command="query")
    try:
        sender = Sender(collector)
        for _ in range(10):
            assert sender.send() == 200
        wait_for(lambda: found_exactly_once(query, sender.acknowledged), timeout=30, interval=0.2)

        down = nodes[0]  # the first address: both processes fail over to the other server
        down.stop()
        sender.send_until_refused()
        status, body = health(collector)
        assert status == 503 and "clickhouse inserts failing" in body["reason"] and down.address in body["reason"]
        status, body = get_json(query.url("query.http-port", f"/api/traces?service={SERVICE}&lookback=1h"), timeout=30)
        assert status == 503 and down.address in body["errors"][0]["msg"], body
        with grpc.insecure_channel(f"127.0.0.1:{query.ports['query.grpc-port']}") as channel:
            with pytest.raises(grpc.RpcError) as err:
                query_pb2_grpc.QueryServiceStub(channel).GetServices(query_pb2.GetServicesRequest(), timeout=30)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE

        down.start()
        wait_for(lambda: health(collector)[0] == 200, timeout=60, interval=0.2)
        for _ in range(5):
            assert sender.send() == 200
        wait_for(lambda: found_exactly_once(query, sender.acknowledged), timeout=30, interval=0.2)
    finally:
        collector.stop()
        query.stop()


def test_a_replica_down_under_the_roles_keeps_writes_and_reads_going(tmp_path: Path, restart_servers: None) -> None:
    nodes = clickhouse_servers.cluster().nodes
    db = clickhouse_servers.fresh_database()
    aio = start_all_in_one(tmp_path, "two_replicas", db, "--clickhouse.replication")
    try:
        sender = Sender(aio)
        for _ in range(20):
            assert sender.send() == 200
        wait_for(lambda: found_exactly_once(aio, sender.acknowledged), timeout=30, interval=0.2)
        # Replication is asynchronous: lose the replica once the other one has its rows.
        wait_for(lambda: _local_count(nodes[1], f"{db}.spans_local") == 20 * SPANS_PER_TRACE, timeout=30)

        nodes[0].stop()  # the replica Spyglass is connected to
        deadline = time.monotonic() + 60
        while len(sender.acknowledged) < 40:  # a moment of 503 while the writer fails over is allowed
            sender.send()
            assert time.monotonic() < deadline, "writes did not fail over to the surviving replica"
            time.sleep(0.05)
        # Reads are answered by the surviving replica.
        wait_for(lambda: found_exactly_once(aio, sender.acknowledged), timeout=30, interval=0.2)
        status, body = get_json(aio.url("query.http-port", "/api/services"))
        assert status == 200 and SERVICE in body["data"], body
        wait_for(lambda: health(aio)[0] == 200, timeout=30, interval=0.2)

        nodes[0].start()
        for _ in range(10):
            assert sender.send() in (200, 503)
        wait_for(lambda: found_exactly_once(aio, sender.acknowledged), timeout=60, interval=0.2)
        wait_for(lambda: _local_count(nodes[0], f"{db}.spans_local") >= len(sender.acknowledged) * SPANS_PER_TRACE,
                 timeout=60, interval=0.2)
        assert aio.metric("spyglass_spans_dropped_total", reason="retry_buffer_full") == 0
    finally:
        aio.stop()


def _local_count(node: clickhouse_servers.ClickHouse, table: str) -> int:
    from clickhouse_driver import Client

    client = Client("127.0.0.1", port=node.tcp_port)
    try:
        return int(client.execute(f"SELECT count() FROM {table}")[0][0])
    except Exception:  # noqa: BLE001 - not there yet (the table is created ON CLUSTER)
        return -1
    finally:
        client.disconnect()



def test_a_frozen_shard_never_holds_a_request_past_its_timeout(tmp_path: Path, restart_servers: None) -> None:
    """A shard that hangs (SIGSTOP: its port still accepts, nothing answers) is worse than one
    that is gone: nothing fails fast. Reads must still be answered within ``--query.timeout``,
    even when ``--clickhouse.timeout`` is longer; inserts fail after ``--clickhouse.timeout``
    and are retried, and the collector stops
    acknowledging until the shard answers again."""
    nodes = clickhouse_servers.cluster().nodes
    aio = start_all_in_one(tmp_path, "two_shards", clickhouse_servers.fresh_database(),
                           "--clickhouse.timeout", "15s", "--query.timeout", "4s")
    frozen = nodes[1]
    try:
        sender = Sender(aio)
        for _ in range(10):
            assert sender.send() == 200
        wait_for(lambda: found_exactly_once(aio, sender.acknowledged), timeout=30, interval=0.2)

        assert frozen.process.proc is not None
        frozen_at = time.monotonic()
        frozen.process.proc.send_signal(signal.SIGSTOP)
        # Acknowledged until the first insert times out (15 s): a few spans a second keep the
        # traces the test reads back small enough for --query.timeout on a busy machine.
        sender.send_until_refused(timeout=60, pause=0.2)
        # One insert timeout, not two: the collector's writer thread that waited behind the
        # failed insert must not try one of its own before it polls health again.
        assert time.monotonic() - frozen_at < 15 + 8
        status, body = health(aio)
        assert status == 503 and "clickhouse" in body["reason"], body

        for path in (f"/api/traces?service={SERVICE}&lookback=1h", "/api/services"):
            started = time.monotonic()
            status, body = get_json(aio.url("query.http-port", path), timeout=30)
            assert status == 503 and body["errors"][0]["code"] == 503, body
            assert time.monotonic() - started < 8  # 4 s of --query.timeout, and slack for a busy machine
        started = time.monotonic()
        with grpc.insecure_channel(f"127.0.0.1:{aio.ports['query.grpc-port']}") as channel:
            with pytest.raises(grpc.RpcError) as err:
                query_pb2_grpc.QueryServiceStub(channel).GetServices(query_pb2.GetServicesRequest(), timeout=30)
        assert err.value.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
        assert time.monotonic() - started < 8

        frozen.process.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: health(aio)[0] == 200, timeout=60, interval=0.2)
        for _ in range(5):
            assert sender.send() == 200
        wait_for(lambda: found_exactly_once(aio, sender.acknowledged), timeout=30, interval=0.2)
        assert aio.metric("spyglass_clickhouse_buffered_spans", store="primary") == 0
        assert aio.proc is not None and aio.proc.poll() is None
    finally:
        if frozen.process.proc is not None:
            frozen.process.proc.send_signal(signal.SIGCONT)
        aio.stop()
