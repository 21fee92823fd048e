"""The clickhouse backend on a cluster the tests start: two 18.16 servers and ZooKeeper,
configured both as a 2-shard cluster (``two_shards``) and as one shard of two replicas
(``two_replicas``, ReplicatedMergeTree). The schema is created ``ON CLUSTER``, spans go
through Distributed tables sharded by trace ID, and reads go through them too.

Each schema takes a few seconds of ``ON CLUSTER`` DDL, so each cluster gets one database
for the random cross-check against the memory backend (search, traces, dependencies), and
the replica test its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_driver import Client

import clickhouse_servers
from clickhouse_checks import check_against_memory
from spyglass.model import Resource, Span
from spyglass.storage.api import TraceQuery
from spyglass.storage.clickhouse import ClickHouseConfig, ClickHouseFactory
from support import wait_for

pytestmark = pytest.mark.slow

S = 1_000_000_000
T0 = 1_700_000_000 * S


def factory_on(cluster: str, replication: bool, **kw: object) -> ClickHouseFactory:
    servers = clickhouse_servers.cluster()
    return ClickHouseFactory(ClickHouseConfig(
        addresses=servers.addresses, database=clickhouse_servers.fresh_database(), cluster=cluster,
        replication=replication, retention="0", **kw))  # type: ignore[arg-type]


def local_rows(node: clickhouse_servers.ClickHouse, sql: str) -> list[tuple[object, ...]]:
    client = Client("127.0.0.1", port=node.tcp_port)
    try:
        return client.execute(sql)
    finally:
        client.disconnect()


@pytest.fixture(params=[("two_shards", False), ("two_replicas", True)], ids=["two-shards", "replicated"])
def clustered(request: pytest.FixtureRequest) -> Iterator[ClickHouseFactory]:
    f = factory_on(*request.param)
    yield f
    f.close()


def test_cluster_answers_what_the_memory_backend_answers(clustered: ClickHouseFactory) -> None:
    check_against_memory(clustered, seed=11)
    db = clustered.config.database
    nodes = clickhouse_servers.cluster().nodes
    per_node = [{(hi, lo) for hi, lo in local_rows(n, f"SELECT DISTINCT trace_hi, trace_lo FROM {db}.spans_local")}
                for n in nodes]
    if clustered.config.replication:
        wait_for(lambda: all(
            local_rows(n, f"SELECT count() FROM {db}.spans_local") == [(500,)] for n in nodes), timeout=20)
    else:  # each shard holds some traces, and a trace is whole on one shard
        assert per_node[0] and per_node[1] and not per_node[0] & per_node[1]


def _batch(first: int, n: int) -> list[Span]:
    return [Span(t, 1, "op", T0 + t * S, S, Resource("svc")) for t in range(first, first + n)]


def test_a_replica_stopped_mid_test_loses_nothing_and_reads_still_answer() -> None:
    servers = clickhouse_servers.cluster()
    first = servers.nodes[0]  # the one the clients are connected to
    f = factory_on("two_replicas", True, timeout="5s", flush_interval="100ms")
    try:
        w, r = f.span_writer(), f.trace_reader()
        w.write_spans(_batch(1, 100))
        assert len(r.find_trace_ids(TraceQuery(service_name="svc", num_traces=1000))) == 100
        # Replication is asynchronous (the other replica fetches new parts within a fraction
        # of a second): a replica that dies before that keeps the newest rows to itself until
        # it is back. The case under test is losing a replica that was caught up.
        db, other = f.config.database, servers.nodes[1]
        wait_for(lambda: all(local_rows(other, f"SELECT count() FROM {db}.{t}_local") != [(0,)]
                             for t in ("spans", "span_index", "trace_ranges", "operations")), timeout=20)
        first.stop()
        w.write_spans(_batch(101, 100))  # fails over to the other replica (retried from the buffer)
        everything = TraceQuery(service_name="svc", num_traces=1000)
        wait_for(lambda: len(r.find_trace_ids(everything)) == 200, timeout=30)
        assert len(r.get_trace(150)) == 1 and len(r.get_trace(50)) == 1
        assert f.writer.dropped == 0
    finally:
        first.start()
        f.close()
    wait_for(lambda: local_rows(first, f"SELECT count() FROM {db}.spans_local") == [(200,)], timeout=30)
