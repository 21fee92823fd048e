"""The clickhouse search that starts with the newest 1/64 of the window and widens
(``widening.py``) answers exactly what one statement over the whole window answers.

Spans are placed around the cuts of a 6,400 s window (the first slice is its newest 100 s,
the second reaches back 800 s): fewer traces than the limit in the first slice, traces tied
on a cut and one a nanosecond below it, traces with matching spans on both sides of a cut
(and a non-matching newer span), ties inside a slice, spans just outside the window. Each
query is answered by the reader and by the whole-window statement run directly; they must
be equal, on one 18.16 node, through the 2-shard cluster's Distributed tables, in the
archive tables (and on the current engine: ``test_clickhouse_chdb.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import clickhouse_servers
from spyglass.storage.api import TraceQuery
from spyglass.storage.clickhouse import ClickHouseConfig, ClickHouseFactory, reader, widening
from spyglass.storage.clickhouse.reader import ClickHouseReader
from spyglass.storage.clickhouse.rows import join_id
from clickhouse_checks import CUT0, CUT1, HI, LO, widening_queries, widening_spans

def test_slices_cover_the_window_newest_first_without_overlap() -> None:
    assert widening.slices(LO, HI, 0) == [(CUT0, HI, 1 / 64), (CUT1, CUT0 - 1, 1 / 8), (LO, CUT1 - 1, 1)]
    for lo, hi in ((0, 10), (5, 5), (0, 63), (0, 64), (0, 65), (-7, 10**12), (10**9, 10**9 + 513)):
        ranges = widening.slices(lo, hi, 0)
        assert ranges[0][1] == hi and ranges[-1][0] == lo
        for (start, end, share), (older_start, older_end, older_share) in zip(ranges, ranges[1:]):
            assert older_end == start - 1 and older_start <= older_end and share < older_share
        assert all(start <= end for start, end, _ in ranges) and ranges[-1].share == 1
    # no lower bound: nothing to take a fraction of; no upper bound: the window ends now
    assert widening.slices(widening.INT64_MIN, HI, 0) == [(widening.INT64_MIN, HI, 1)]
    now = HI
    assert widening.slices(LO, widening.INT64_MAX, now) == [(CUT0, widening.INT64_MAX, 1 / 64), (CUT1, CUT0 - 1, 1 / 8),
                                                            (LO, CUT1 - 1, 1)]
    assert widening.slices(HI, widening.INT64_MAX, LO) == [(HI, widening.INT64_MAX, 1)]  # window starts after now
    assert widening.slices(HI, LO, 0) == [(HI, LO, 1)]  # empty window: one (empty) statement


class Counting:
    """Counts the statements a reader sends (it still sends them: nothing is faked)."""

    def __init__(self, r: ClickHouseReader) -> None:
        self.statements = 0
        self.prewhere = 0  # statements that filter by time first (recent slices on 18.16)
        original = r.query

        def query(sql: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
            self.statements += 1
            self.prewhere += "PREWHERE start_ns" in sql
            return original(sql, params, **kw)

        r.query = query  # type: ignore[method-assign]


def check_widening_is_exact(r: ClickHouseReader) -> None:
    """Every query: the reader's answer equals the whole-window statement's."""
    whole_window = r.query  # bound before counting: the reference statements are not counted
    counting = Counting(r)
    checked, statements = 0, Counter[int]()
    for q in widening_queries():
        sql, params = reader.search_sql(r.t, q)
        expected = [join_id(hi, lo) for hi, lo, _ in whole_window(sql, params)]
        before = counting.statements
        assert r.find_trace_ids(q) == expected, q
        checked += bool(expected)
        statements[counting.statements - before] += 1
    # every path taken many times: the first slice alone, the rest at once after a sparse
    # first slice, and all three slices
    assert checked > 300 and min(statements[1], statements[2], statements[3]) > 30, statements
    if r.tag_index:  # 18.16: the recent slices filter by time first, the rest of the window does not
        assert 30 < counting.prewhere < counting.statements - 30, (counting.prewhere, counting.statements)
    # a query the newest slice answers alone is one statement
    before = counting.statements
    assert r.find_trace_ids(TraceQuery(service_name="api", start_time_min_ns=LO, start_time_max_ns=HI,
                                       num_traces=3)) == [1, 7, 2]
    assert counting.statements - before == 1


def _written(f: ClickHouseFactory, archive: bool = False) -> ClickHouseReader:
    writer = f.archive_writer() if archive else f.span_writer()
    writer.write_spans(widening_spans())
    writer.flush()  # type: ignore[attr-defined]  # the reference statements do not flush
    r = f.archive_reader() if archive else f.trace_reader()
    assert isinstance(r, ClickHouseReader)
    return r


@pytest.fixture
def single() -> Iterator[ClickHouseFactory]:
    f = ClickHouseFactory(ClickHouseConfig(addresses=clickhouse_servers.single_node().address,
                                           database=clickhouse_servers.fresh_database(), retention="0"))
    yield f
    f.close()


def test_widening_answers_what_one_statement_answers(single: ClickHouseFactory) -> None:
    check_widening_is_exact(_written(single))


def test_widening_answers_exactly_in_the_archive_tables(single: ClickHouseFactory) -> None:
    check_widening_is_exact(_written(single, archive=True))


@pytest.mark.slow
def test_widening_answers_exactly_through_distributed_tables() -> None:
    servers = clickhouse_servers.cluster()
    # 120 s: its ON CLUSTER DDL once took over the default 30 s on a loaded machine, waiting
    # on a node an earlier fault test had restarted (the server itself waits up to 180 s).
    f = ClickHouseFactory(ClickHouseConfig(addresses=servers.addresses, database=clickhouse_servers.fresh_database(),
                                           cluster="two_shards", retention="0", timeout="120s"))
    try:
        check_widening_is_exact(_written(f))
    finally:
        f.close()
