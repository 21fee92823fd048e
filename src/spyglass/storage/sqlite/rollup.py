"""Reading the rollups of the day files (``red`` and ``edges``, see ``schema.ROLLUP_SCHEMA``).

The writer adds the rows in the transaction that stores the spans, so after a crash the
rollup and the spans agree (both have a batch or neither does). Rows live in the day file
of the batch that wrote them and expire with it (``--sqlite.retention``). Rows are keyed by
the span's start minute, which usually but not always falls in the file's own day, so a
read asks every day file (a handful) with ``minute BETWEEN``: the primary keys start with
the minute, so each file reads only the window's rows. Sums from several files are added
in Python.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from spyglass.storage.api.deadline import check_deadline
from spyglass.storage.api.metrics import EdgeSum, MetricsReader, RedCell, RedQuery
from spyglass.storage.sqlite.days import DayDirectory


def _in(column: str, values: list[object], params: list[object]) -> str:
    if not values:
        return ""
    params.extend(values)
    return f" AND {column} IN ({','.join('?' * len(values))})"


class SqliteMetricsReader(MetricsReader):
    def __init__(self, days: DayDirectory, flush: Callable[[], None] | None = None) -> None:
        self.days = days
        self._flush = flush

    def _each_day(self, sql: str, params: list[object]) -> list[tuple[object, ...]]:
        if self._flush is not None:
            self._flush()
        rows: list[tuple[object, ...]] = []
        for day in self.days.days():
            check_deadline()
            with self.days.reading(day) as conn:
                if conn is None:
                    continue
                try:
                    rows.extend(conn.execute(sql, params).fetchall())
                except sqlite3.OperationalError as exc:
                    if "no such table" not in str(exc):  # a file from before the rollups
                        raise
        return rows

    def read_red(self, query: RedQuery) -> list[RedCell]:
        params: list[object] = [query.start_minute, query.end_minute, query.tenant]
        where = _in("n.service", list(query.services), params) + _in("n.kind", list(query.kinds), params) \
            + _in("n.operation", list(query.operations), params)
        op = "n.operation" if query.group_by_operation else "''"
        bucket = "r.bucket" if query.buckets else "-1"
        by_bucket = ", r.bucket" if query.buckets else ""  # (a constant in GROUP BY would name a column)
        sql = (f"SELECT n.service, {op}, r.minute, {bucket}, sum(r.calls), sum(r.errors) "
               "FROM red r JOIN names n ON n.id = r.name_id "
               f"WHERE r.minute BETWEEN ? AND ? AND r.tenant = ?{where} "
               f"GROUP BY n.service, {op}, r.minute{by_bucket}")
        sums: dict[tuple[str, str, int, int], list[int]] = {}
        for service, operation, minute, bucket, calls, errors in self._each_day(sql, params):
            key = (service, operation, minute, bucket)
            row = sums.get(key)  # type: ignore[arg-type]
            if row is None:
                sums[key] = [calls, errors]  # type: ignore[index,list-item]
            else:
                row[0] += calls  # type: ignore[operator]
                row[1] += errors  # type: ignore[operator]
        return [RedCell(*k, *v) for k, v in sums.items()]

    def read_edges(self, tenant: str, start_minute: int, end_minute: int) -> list[EdgeSum]:
        sql = ("SELECT parent, child, kind, sum(calls), sum(errors) FROM edges "
               "WHERE minute BETWEEN ? AND ? AND tenant = ? GROUP BY parent, child, kind")
        sums: dict[tuple[str, str, str], list[int]] = {}
        for parent, child, kind, calls, errors in self._each_day(sql, [start_minute, end_minute, tenant]):
            row = sums.setdefault((parent, child, kind), [0, 0])  # type: ignore[arg-type]
            row[0] += calls  # type: ignore[operator]
            row[1] += errors  # type: ignore[operator]
        return [EdgeSum(*k, *v) for k, v in sums.items()]
