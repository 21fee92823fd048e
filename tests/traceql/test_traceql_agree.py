"""Property tests: for random traces and random queries, the sqlite and clickhouse answers
(SQL narrowing, then the shared evaluator) equal the memory backend's (the evaluator over
every span of its index) — same traces, same order, same matched spans, same series."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spyglass.traceql import parse
from traceql_data import make_factory
from traceql_data import S, T0, metrics_queries, random_traces, searches, windows


def _answer(reader, text: str, window: tuple[int, int], limit: int):
    q = parse(text)
    return [(m.trace_id, [s.span_id for s in m.spans], m.root_name, m.duration_ns)
            for m in reader.find_traces_traceql(q, window[0], window[1], limit)]


def _series(reader, text: str, start: int, end: int, step: int):
    return [(s.labels, s.samples) for s in reader.traceql_metrics(parse(text), start, end, step)]


def _instant(reader, text: str, start: int, end: int):
    return reader.traceql_instant(parse(text), start, end)


def slow(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
                    derandomize=True, database=None)


@slow(30)
@given(seed=st.integers(0, 2**32), queries=st.lists(st.tuples(searches(), windows(), st.integers(1, 30)),
                                                     min_size=6, max_size=6),
       metric=metrics_queries())
def test_sqlite_equals_memory(open_store, seed, queries, metric) -> None:
    spans = random_traces(seed)
    memory, sqlite = open_store("memory", spans), open_store("sqlite", spans)
    for text, window, limit in queries:
        assert _answer(sqlite, text, window, limit) == _answer(memory, text, window, limit), text
    args = (T0, T0 + 600 * S, 60 * S)
    assert _series(sqlite, metric, *args) == _series(memory, metric, *args), metric
    window = (T0 + 13 * S, T0 + 431 * S)
    assert _instant(sqlite, metric, *window) == _instant(memory, metric, *window), metric


@pytest.fixture(scope="module")
def ch_pair():
    import tempfile

    spans = random_traces(20240601, count=40)
    stores = []
    for name in ("memory", "clickhouse"):
        f = make_factory(name, tempfile.mkdtemp())
        f.span_writer().write_spans(spans)
        stores.append(f)
    yield [f.trace_reader() for f in stores]
    for f in stores:
        f.close()


@slow(200)
@given(query=searches(), window=windows(), limit=st.integers(1, 50))
def test_clickhouse_search_equals_memory(ch_pair, query, window, limit) -> None:
    memory, clickhouse = ch_pair
    assert _answer(clickhouse, query, window, limit) == _answer(memory, query, window, limit)


@slow(80)
@given(query=metrics_queries(), step=st.sampled_from([30, 60, 300]))
def test_clickhouse_metrics_equal_memory(ch_pair, query, step) -> None:
    memory, clickhouse = ch_pair
    args = (T0 + 7 * S, T0 + 590 * S, step * S)
    assert _series(clickhouse, query, *args) == _series(memory, query, *args)
    window = (T0 + step * S, T0 + 500 * S)
    assert _instant(clickhouse, query, *window) == _instant(memory, query, *window)
