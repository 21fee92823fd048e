"""Traces by ID read from the one shard that holds them (``storage/clickhouse/shards.py``).

The reader computes the servers' sharding key itself and maps it to a shard as
``Distributed`` does; these tests hold it to the servers: the key against 18.16 and the
current engine, the shard against where the 2-shard test cluster really put each trace, and
the fallbacks (a shard that does not answer, a trace not on the shard its ID names) against
the answers through the ``Distributed`` tables.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator

import pytest
from chdb import session as chdb_session
from clickhouse_driver import Client
from prometheus_client import CollectorRegistry, generate_latest

import clickhouse_servers
from spyglass.model import KeyValue, Resource, Span
from spyglass.storage.clickhouse import ClickHouseConfig, ClickHouseFactory
from spyglass.storage.clickhouse.connection import ClickHouseUnavailable
from spyglass.storage.clickhouse.rows import split_id
from spyglass.storage.clickhouse.shards import Shard, ShardMap, _is_shard, sharding_key
from support import free_port

pytestmark = pytest.mark.slow

S = 1_000_000_000
T0 = 1_700_000_000 * S
U64 = (1 << 64) - 1


def _pairs(n: int) -> list[tuple[int, int]]:
    rng = random.Random(7)
    edges = [(0, 0), (0, 1), (1, 0), (U64, U64), (U64, 0), (1 << 63, (1 << 63) - 1)]
    return edges + [(rng.getrandbits(64), rng.getrandbits(64)) for _ in range(n)]


def _key_sql(pairs: list[tuple[int, int]]) -> str:
    values = ", ".join(f"({hi}, {lo})" for hi, lo in pairs)
    return (f"SELECT cityHash64(toUInt64(p.1), toUInt64(p.2)) FROM "
            f"(SELECT arrayJoin([{values}]) AS p)")


def test_the_sharding_key_is_the_one_18_16_computes() -> None:
    pairs = _pairs(300)
    client = Client("127.0.0.1", port=clickhouse_servers.single_node().tcp_port)
    try:
        keys = [row[0] for row in client.execute(_key_sql(pairs))]
    finally:
        client.disconnect()
    assert keys == [sharding_key(hi, lo) for hi, lo in pairs]


def test_the_sharding_key_is_the_one_the_current_engine_computes(tmp_path) -> None:
    pairs = _pairs(300)
    session = chdb_session.Session(str(tmp_path / "chdb"))
    try:
        keys = [int(line) for line in str(session.query(_key_sql(pairs), "CSV")).split()]
    finally:
        session.close()
    assert keys == [sharding_key(hi, lo) for hi, lo in pairs]


def test_a_key_goes_to_the_shard_owning_its_slot_by_weight() -> None:
    """Distributed: ``key % total weight``, each shard a run of slots as long as its weight,
    in the cluster's order (a weight of 0 owns none)."""
    a, idle, b = Shard(1, 1, (("a", 9000),)), Shard(2, 0, (("z", 9000),)), Shard(3, 2, (("b", 9000),))
    shards = ShardMap("c", [a, idle, b])
    seen = {}
    for hi, lo in _pairs(60):
        seen[sharding_key(hi, lo) % 3] = shards.shard_of(hi, lo)
    assert seen == {0: a, 1: b, 2: b}


def _spans(traces: int) -> list[Span]:
    rng = random.Random(3)
    out = []
    for i in range(traces):
        trace_id = rng.getrandbits(128) or 1
        out += [Span(trace_id, j + 1, f"op{j}", T0 + i * S + j, 1000, Resource("svc"), parent_span_id=j,
                     attributes=[KeyValue("i", i)]) for j in range(3)]
    return out


@pytest.fixture(scope="module")
def two_shards() -> Iterator[tuple[ClickHouseFactory, list[Span]]]:
    servers = clickhouse_servers.cluster()
    f = ClickHouseFactory(ClickHouseConfig(addresses=servers.addresses, cluster="two_shards", retention="0",
                                           database=clickhouse_servers.fresh_database()))
    spans = _spans(60)
    f.span_writer().write_spans(spans)
    f.writer.flush()
    yield f, spans
    f.close()


def _by_trace(spans: list[Span]) -> dict[int, list[Span]]:
    out: dict[int, list[Span]] = {}
    for s in spans:
        out.setdefault(s.trace_id, []).append(s)
    return out


def _read_all(f: ClickHouseFactory, spans: list[Span]) -> dict[str, int]:
    """Read every trace by ID, check it whole, and say how many went each way."""
    reader = f.trace_reader()
    before = dict(reader.lookups)
    for trace_id, expected in _by_trace(spans).items():
        got = sorted(reader.get_trace(trace_id), key=lambda s: s.span_id)
        assert [(s.span_id, s.name) for s in got] == [(s.span_id, s.name) for s in expected]
    assert reader.get_trace(12345) == []
    return {route: reader.lookups[route] - before[route] for route in before}


def test_the_map_names_the_shard_each_trace_was_written_to(two_shards) -> None:
    f, spans = two_shards
    assert f.shards is not None
    nodes = clickhouse_servers.cluster().nodes
    assert [(s.number, s.weight, s.replicas) for s in f.shards.shards] == [
        (1, 1, (("127.0.0.1", nodes[0].tcp_port),)), (2, 1, (("127.0.0.1", nodes[1].tcp_port),))]
    placed = {}
    for number, node in enumerate(nodes, 1):
        client = Client("127.0.0.1", port=node.tcp_port)
        try:
            rows = client.execute(f"SELECT DISTINCT trace_hi, trace_lo FROM {f.config.database}.spans_local")
        finally:
            client.disconnect()
        placed.update({row: number for row in rows})
    assert sorted(set(placed.values())) == [1, 2]
    assert placed == {split_id(t): f.shards.shard_of(*split_id(t)).number for t in _by_trace(spans)}


def test_traces_by_id_are_read_from_their_shard_and_counted(two_shards) -> None:
    f, spans = two_shards
    routes = _read_all(f, spans)
    # the unknown trace is not on its shard, so every shard is asked: the one distributed read
    assert routes == {"shard": 60, "distributed": 1}
    registry = CollectorRegistry()
    registry.register(f.metrics_collector())
    text = generate_latest(registry).decode()
    assert 'spyglass_clickhouse_trace_lookups_total{route="shard",store="primary"}' in text


@contextlib.contextmanager
def _reading_with(f: ClickHouseFactory, shards: Callable[[Shard, Shard], list[Shard]]) -> Iterator[ShardMap]:
    """The reader's map replaced by ``shards(first, second)`` of the real one, meanwhile."""
    reader = f.reader
    real = reader.shards
    assert real is not None
    reader.shards, reader._shard_connectors = ShardMap(real.cluster, shards(*real.shards)), {}
    try:
        yield real
    finally:
        reader.shards, reader._shard_connectors = real, {}


def test_a_shard_that_does_not_answer_directly_is_read_through_distributed(two_shards) -> None:
    f, spans = two_shards
    unreachable = Shard(2, 1, (("127.0.0.1", free_port()),))
    with _reading_with(f, lambda first, second: [first, unreachable]) as real:
        routes = _read_all(f, spans)
    on_second = sum(real.shard_of(*split_id(t)).number == 2 for t in _by_trace(spans))
    assert routes == {"shard": 60 - on_second, "distributed": on_second + 1}


def test_a_trace_not_on_the_shard_its_id_names_is_still_found(two_shards) -> None:
    """As after the cluster's shards or weights changed: every shard is asked."""
    f, spans = two_shards
    with _reading_with(f, lambda first, second: [Shard(1, 1, second.replicas), Shard(2, 1, first.replicas)]):
        assert _read_all(f, spans) == {"shard": 0, "distributed": 61}


def test_while_a_shard_is_down_the_traces_on_the_other_are_answered_whole(two_shards) -> None:
    """Through the ``Distributed`` tables every trace by ID failed while any shard was down;
    a trace is whole on one shard, so only the down shard's traces need to fail."""
    f, spans = two_shards
    assert f.shards is not None
    traces = _by_trace(spans)
    on = {n: [t for t in traces if f.shards.shard_of(*split_id(t)).number == n] for n in (1, 2)}
    down = clickhouse_servers.cluster().nodes[1]
    down.stop()
    try:
        for trace_id in on[1]:
            assert len(f.reader.get_trace(trace_id)) == 3
        with pytest.raises(ClickHouseUnavailable):
            f.reader.get_trace(on[2][0])
    finally:
        down.start()


def test_a_server_is_taken_for_a_shard_only_when_it_says_it_is_that_shard(two_shards) -> None:
    f, _ = two_shards
    nodes = clickhouse_servers.cluster().nodes
    first = ("127.0.0.1", nodes[0].tcp_port)
    assert _is_shard(f.config, first, 1)
    assert not _is_shard(f.config, first, 2)
    assert not _is_shard(f.config, ("127.0.0.1", free_port()), 1)


def test_one_shard_of_replicas_reads_through_distributed() -> None:
    servers = clickhouse_servers.cluster()
    f = ClickHouseFactory(ClickHouseConfig(addresses=servers.addresses, cluster="two_replicas", replication=True,
                                           retention="0", database=clickhouse_servers.fresh_database()))
    try:
        assert f.shards is None
        spans = _spans(5)
        f.span_writer().write_spans(spans)
        f.writer.flush()
        assert _read_all(f, spans) == {"shard": 0, "distributed": 6}
    finally:
        f.close()
