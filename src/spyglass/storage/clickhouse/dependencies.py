"""Service dependencies as a rollup written while spans arrive, read by summing it.

The writer pairs each span with its parent span (same trace, ``parent_span_id``) and, when
their services differ, adds one call parent service -> child service to the minute the
child started in. ClickHouse sums the rows (``SummingMergeTree``), so the UI's 7-day graph
reads at most one row per (minute, parent, child) instead of scanning every span.

Parents and children rarely arrive together (a child usually finishes, and is reported,
before its parent), so the pairing remembers recent spans (trace, span ID) -> service and
children still waiting for their parent, both bounded (``RECENT``/``WAITING``, oldest
forgotten first). A child whose parent was written by another collector process, or more
than ``RECENT`` spans ago, is not counted: the rollup trades that for not reading spans back.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from spyglass.model import DependencyLink, Span
from spyglass.storage.api import DependencyReader
from spyglass.storage.clickhouse.schema import BUCKET_SECONDS

RECENT = 500_000
WAITING = 200_000
_BUCKET_NS = BUCKET_SECONDS * 1_000_000_000


class DependencyRollup:
    """Turns batches of spans into (bucket, parent service, child service) -> calls."""

    def __init__(self, recent: int = RECENT, waiting: int = WAITING) -> None:
        self._recent: OrderedDict[tuple[int, int], str] = OrderedDict()
        self._waiting: OrderedDict[tuple[int, int], list[tuple[int, str]]] = OrderedDict()
        self._max_recent = recent
        self._max_waiting = waiting

    def add(self, spans: Sequence[Span]) -> Counter[tuple[int, str, str]]:
        calls: Counter[tuple[int, str, str]] = Counter()
        recent, waiting = self._recent, self._waiting
        for s in spans:  # the last written span of an ID is the parent (as the other backends)
            key = (s.trace_id, s.span_id)
            recent[key] = s.resource.service_name
            recent.move_to_end(key)
        for s in spans:  # children that waited for a span of this batch
            children = waiting.pop((s.trace_id, s.span_id), None)
            if children:
                service = recent[(s.trace_id, s.span_id)]
                for bucket, child in children:
                    if child != service:
                        calls[(bucket, service, child)] += 1
        for s in spans:
            if not s.parent_span_id:
                continue
            bucket = s.start_time_ns // _BUCKET_NS * BUCKET_SECONDS
            child = s.resource.service_name
            parent = recent.get((s.trace_id, s.parent_span_id))
            if parent is None:
                waiting.setdefault((s.trace_id, s.parent_span_id), []).append((bucket, child))
            elif parent != child:
                calls[(bucket, parent, child)] += 1
        while len(recent) > self._max_recent:
            recent.popitem(last=False)
        while len(waiting) > self._max_waiting:
            waiting.popitem(last=False)
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
