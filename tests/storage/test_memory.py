from spyglass.model import Resource, Span
from spyglass.storage.api import TraceQuery
from spyglass.storage.memory import MemoryConfig, MemoryFactory

import pytest


def test_oldest_traces_are_evicted_beyond_max_traces() -> None:
    store = MemoryFactory(MemoryConfig(max_traces=3)).store
    store.write_spans([Span(t, 1, "op", t, 1, Resource("svc")) for t in range(1, 6)])
    assert [t for t in range(1, 6) if store.get_trace(t)] == [3, 4, 5]
    assert sorted(store.find_trace_ids(TraceQuery(service_name="svc"))) == [3, 4, 5]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        MemoryFactory(MemoryConfig(max_traces=0))


def test_eviction_compacts_the_search_indexes() -> None:
    store = MemoryFactory(MemoryConfig(max_traces=10)).store
    for t in range(1, 1001):
        store.write_spans([Span(t, 1, f"op{t % 3}", t, 1, Resource(f"svc{t % 2}"))])
    assert len(store._all) <= 30
    assert store.find_trace_ids(TraceQuery(service_name="svc0", operation_name="op1", num_traces=100)) == [
        t for t in range(1000, 990, -1) if t % 2 == 0 and t % 3 == 1
    ]
