"""The ``SamplingStore`` contract on memory, sqlite (``<data-dir>/sampling.db``) and
clickhouse (its own server, started by the tests):
throughput by time window, latest probabilities, and the lease: one holder at a time,
renewable by its owner, free once it expires or is forfeited, across connections (the
sqlite file is shared by collector processes)."""

from __future__ import annotations

import pytest

from spyglass.storage.api.sampling import SamplingStore, Throughput
from spyglass.storage.memory.sampling import MemorySamplingStore
from spyglass.storage.sqlite.sampling import SqliteSamplingStore


@pytest.fixture(params=["memory", "sqlite", pytest.param("clickhouse", marks=pytest.mark.slow)])
def stores(request, tmp_path):
    """Two handles on one store (two collectors)."""
    if request.param == "memory":
        s = MemorySamplingStore()
        yield s, s
        return
    if request.param == "clickhouse":
        from support import clickhouse_factory

        from spyglass.storage.clickhouse.sampling import ClickHouseSamplingStore

        factory = clickhouse_factory()
        a = ClickHouseSamplingStore(factory.connector, factory.config.database)
        b = ClickHouseSamplingStore(factory.connector, factory.config.database)
        yield a, b
        a.close()
        b.close()
        factory.close()
        return
    a, b = SqliteSamplingStore(str(tmp_path)), SqliteSamplingStore(str(tmp_path))
    yield a, b
    a.close()
    b.close()


def test_throughput_by_window(stores):
    a, b = stores
    assert isinstance(a, SamplingStore)
    a.insert_throughput([Throughput("s", "op", 3, {"0.1"})], 100.0)
    b.insert_throughput([Throughput("s", "op", 4, {"0.2"}), Throughput("s", "x", 0, set())], 101.0)
    rows = b.get_throughput(100.0, 101.0)
    assert [(t.operation, t.count, t.probabilities) for t in rows] == [("op", 3, {"0.1"})]
    assert sorted((t.operation, t.count) for t in a.get_throughput(99, 102)) == [("op", 3), ("op", 4), ("x", 0)]


def test_latest_probabilities(stores):
    a, b = stores
    assert b.get_latest_probabilities() == {}
    a.insert_probabilities_and_qps("h", {"s": {"op": 0.5}}, {"s": {"op": 2.0}}, 10.0)
    a.insert_probabilities_and_qps("h", {"s": {"op": 0.25}}, {"s": {"op": 4.0}}, 11.0)
    assert b.get_latest_probabilities() == {"s": {"op": 0.25}}


def test_lease_is_exclusive_until_it_expires(stores):
    a, b = stores
    assert a.acquire_lease("lock", "one", 5.0, 100.0)
    assert not b.acquire_lease("lock", "two", 5.0, 101.0)
    assert a.acquire_lease("lock", "one", 5.0, 104.0)  # renewed to 109
    assert not b.acquire_lease("lock", "two", 5.0, 108.0)
    assert b.acquire_lease("lock", "two", 5.0, 109.5)  # expired: taken over
    assert not a.acquire_lease("lock", "one", 5.0, 110.0)
    b.forfeit_lease("lock", "two")
    assert a.acquire_lease("lock", "one", 5.0, 110.0)


def test_clickhouse_lease_fold_is_the_same_for_every_reader():
    from spyglass.storage.clickhouse.sampling import fold_lease

    # two candidates claim an expired lease; whoever reads both claims sees the same winner
    claims = [("old", 100.0, 95.0), ("b", 110.0, 100.2), ("a", 110.0, 100.1)]
    assert fold_lease(claims) == ("a", 110.0) == fold_lease(list(reversed(claims)))
    assert fold_lease(claims + [("a", 115.0, 105.0)]) == ("a", 115.0)  # renewed by its holder
    assert fold_lease(claims + [("b", 120.0, 110.0)]) == ("b", 120.0)  # taken once expired


def test_throughput_and_probabilities_of_two_tenants_stay_apart(stores):
    """Multi-tenancy keys adaptive sampling by the tenant-qualified service
    (``spyglass.tenancy.sampling``): every store keeps the key as it was written."""
    from spyglass.collector.sampling.adaptive.aggregator import Aggregator
    from spyglass.model import KeyValue, Resource, Span
    from spyglass.tenancy.sampling import qualify

    agg = Aggregator()
    tags = [KeyValue("sampler.type", "probabilistic"), KeyValue("sampler.param", 0.5)]
    spans = [Span(i, 1, "GET /", 1, 1, Resource("shop"), attributes=tags, tenant=t)
             for i, t in enumerate(["acme", "acme", "acme", "globex"], start=1)]
    agg.observe(spans)
    a, b = stores
    a.insert_throughput(agg.flush(), 100.0)
    got = {(t.service, t.operation): t.count for t in b.get_throughput(99.0, 101.0)}
    assert got == {(qualify("acme", "shop"), "GET /"): 3, (qualify("globex", "shop"), "GET /"): 1}
    a.insert_probabilities_and_qps("h", {qualify("acme", "shop"): {"GET /": 0.1}, qualify("globex", "shop"): {"GET /": 0.9}},
                                   {qualify("acme", "shop"): {"GET /": 3.0}}, 101.0)
    latest = b.get_latest_probabilities()
    assert latest[qualify("acme", "shop")] == {"GET /": 0.1} and latest[qualify("globex", "shop")] == {"GET /": 0.9}
    assert "shop" not in latest
