"""Service dependencies as a rollup written while spans arrive, read by summing it.

The writer hands each batch to the pairing every backend shares
(``spyglass.analytics.rollup.EdgePairer``: parent/child pairs across batches, and calls to
untraced ``peer.service`` peers, taken back with a -1 row when a child shows up) and adds
the parent/child edges to the minute the child started in. ClickHouse sums the rows
(``SummingMergeTree``, a signed ``calls``), so the UI's 7-day graph reads at most one row
per (minute, parent, child) instead of scanning every span. A child whose parent was
written by another collector process, or beyond the pairer's window, is not counted: the
rollup trades that for not reading spans back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from spyglass.analytics.rollup import MINUTE_NS, PARENT_CHILD_KINDS, EdgePairer
from spyglass.model import DependencyLink, Span
from spyglass.storage.api import DependencyReader
from spyglass.storage.clickhouse.schema import BUCKET_SECONDS

_BUCKET_NS = BUCKET_SECONDS * 1_000_000_000
assert _BUCKET_NS == MINUTE_NS, "the ClickHouse rollup buckets are the shared pairer's minutes"


class DependencyRollup:
    """Turns batches of spans into (bucket seconds, parent service, child service) -> calls."""

    def __init__(self) -> None:
        self._pairer = EdgePairer()

    def add(self, spans: Sequence[Span]) -> Counter[tuple[int, str, str]]:
        calls: Counter[tuple[int, str, str]] = Counter()
        for (_tenant, minute, parent, child, kind), (n, _errors) in self._pairer.edges(spans).items():
            if kind in PARENT_CHILD_KINDS and n:
                calls[(minute * BUCKET_SECONDS, parent, child)] += n
        return calls


def columns(calls: Counter[tuple[int, str, str]]) -> list[list[Any]]:
    cols: list[list[Any]] = [[], [], [], []]
    for (bucket, parent, child), n in calls.items():
        cols[0].append(bucket)
        cols[1].append(parent)
        cols[2].append(child)
        cols[3].append(n)
    return cols


DEPENDENCIES_SQL = (
    "SELECT parent, child, sum(calls) AS n FROM {table} "
    "WHERE bucket >= %(lo)s AND bucket <= %(hi)s GROUP BY parent, child ORDER BY parent, child"
)


def window(end_time_ns: int, lookback_ns: int) -> dict[str, int]:
    """The buckets of ``[end - lookback, end]`` (the first one starts at or before the window)."""
    lo = max(end_time_ns - lookback_ns, 0) // _BUCKET_NS * BUCKET_SECONDS
    hi = max(end_time_ns, 0) // 1_000_000_000
    return {"lo": min(lo, (1 << 32) - 1), "hi": min(hi, (1 << 32) - 1)}


class ClickHouseDependencyReader(DependencyReader):
    def __init__(self, query: Callable[[str, dict[str, Any]], list[tuple[Any, ...]]], table: str,
                 flush: Callable[[], None] | None = None) -> None:
        self._query = query
        self._table = table
        self._flush = flush

    def get_dependencies(self, end_time_ns: int, lookback_ns: int) -> list[DependencyLink]:
        if self._flush is not None:
            self._flush()
        rows = self._query(DEPENDENCIES_SQL.format(table=self._table), window(end_time_ns, lookback_ns))
        return [DependencyLink(parent, child, int(n)) for parent, child, n in rows if n]
