"""Reading the rollups of the day files (``red`` and ``edges``, see ``schema.ROLLUP_SCHEMA``).

The writer adds the rows in the transaction that stores the spans, so after a crash the
rollup and the spans agree (both have a batch or neither does). Rows live in the day file
of the batch that wrote them and expire with it (``--sqlite.retention``). Rows are keyed by
the span's start minute, which usually but not always falls in the file's own day, so a
read asks every day file (a handful): ``red`` is keyed by operation then minute, so a
query reads only the wanted operations' rows of the window, and a query over every
operation without durations (calls, error rates) reads the coarser ``red_service`` tier
(per service, kind and minute: about a tenth of the rows) in the files that have it; edges are summed from
``edges_hourly`` for the window's whole hours and from ``edges`` (per minute) for its ends. Sums from several files are added
in Python.
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from collections.abc import Callable
from typing import Any

from spyglass.storage.api.deadline import check_deadline
from spyglass.storage.api.metrics import EdgeSum, MetricsReader, RedCell, RedMinutes, RedQuery, minutes_of
from spyglass.storage.sqlite import schema
from spyglass.storage.sqlite.days import DayDirectory

_UPSERT_SERVICE = ("INSERT INTO red_service(service, kind, minute, tenant, calls, errors, hist) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(service, kind, minute, tenant) DO UPDATE SET "
                   "calls = calls + excluded.calls, errors = errors + excluded.errors, "
                   "hist = spyglass_hist_add(hist, excluded.hist)")
_BIG_ENDIAN = sys.byteorder == "big"


def encode_hist(hist: dict[int, int]) -> bytes:
    """A duration histogram (bucket -> calls) as one blob: little-endian int64 pairs
    (bucket, calls) in bucket order. One blob per row instead of one row per bucket is what
    makes the tier small; decoding it is a single ``array`` copy."""
    pairs = array("q")
    for bucket in sorted(hist):
        pairs.append(bucket)
        pairs.append(hist[bucket])
    if _BIG_ENDIAN:
        pairs.byteswap()
    return pairs.tobytes()


def decode_hist(blob: bytes) -> dict[int, int]:
    pairs = array("q")
    pairs.frombytes(blob)
    if _BIG_ENDIAN:
        pairs.byteswap()
    pair = iter(pairs)
    return dict(zip(pair, pair))


def _hist_add(a: bytes, b: bytes) -> bytes:
    """SQL ``spyglass_hist_add(a, b)``: the upsert's sum of two histogram blobs."""
    hist = decode_hist(a)
    for bucket, n in decode_hist(b).items():
        hist[bucket] = hist.get(bucket, 0) + n
    return encode_hist(hist)


def register_functions(conn: sqlite3.Connection) -> None:
    """What the writer's upserts call (on its connection, before any transaction)."""
    conn.create_function("spyglass_hist_add", 2, _hist_add, deterministic=True)


def write_service_tier(conn: sqlite3.Connection, red: dict[tuple[int, int, int], list[int]],
                       names: dict[tuple[str, str, int], int], tenant: str) -> None:
    """Upsert the ``red_service`` rows of a commit's summed ``red`` rows ((minute, name ID,
    bucket) -> [calls, errors]); called by the writer in the transaction that stores them,
    so a row merges with an earlier commit's row of the same minute at most once a commit."""
    by_id = {nid: (service, kind) for (service, _, kind), nid in names.items()}
    missing = {nid for _, nid, _ in red if nid not in by_id}
    if missing:  # names a failed commit forgot, re-inserted by its retry in this transaction
        by_id.update((nid, (service, kind)) for nid, service, kind in conn.execute(
            f"SELECT id, service, kind FROM names WHERE id IN ({','.join(map(str, missing))})"))
    rows: dict[tuple[str, int, int], tuple[list[int], dict[int, int]]] = {}
    for (minute, nid, bucket), (calls, errors) in red.items():
        service, kind = by_id[nid]
        key = (service, kind, minute)
        row = rows.get(key)
        if row is None:
            rows[key] = ([calls, errors], {bucket: calls})
        else:
            row[0][0] += calls
            row[0][1] += errors
            row[1][bucket] = row[1].get(bucket, 0) + calls
    conn.executemany(_UPSERT_SERVICE, [(s, k, m, tenant, c, e, encode_hist(h))
                                       for (s, k, m), ([c, e], h) in rows.items()])


def _in(column: str, values: list[object], params: list[object]) -> str:
    if not values:
        return ""
    params.extend(values)
    return f" AND {column} IN ({','.join('?' * len(values))})"


def _tier_rows(conn: sqlite3.Connection, query: RedQuery, hist: bool) -> list[tuple[Any, ...]]:
    """(service, minute, calls, errors, histogram blob or None) of ``red_service`` (one row
    per kind: summed by the caller, which sums across files anyway)."""
    params: list[object] = [query.start_minute, query.end_minute, query.tenant]
    where = _in("service", list(query.services), params) + _in("kind", list(query.kinds), params)
    return conn.execute(f"SELECT service, minute, calls, errors, {'hist' if hist else 'NULL'} FROM red_service "
                        f"WHERE minute BETWEEN ? AND ? AND tenant = ?{where}", params).fetchall()


def _red_rows(conn: sqlite3.Connection, query: RedQuery) -> list[tuple[Any, ...]]:
    """(service, operation or "", minute, bucket or -1, calls, errors) from ``red``: the
    operations (``names`` rows) the query wants, then their rows of the window."""
    params: list[object] = []
    where = _in("service", list(query.services), params) + _in("kind", list(query.kinds), params) \
        + _in("operation", list(query.operations), params)
    names = {nid: (service, operation if query.group_by_operation else "")
             for nid, service, operation in conn.execute(f"SELECT id, service, operation FROM names WHERE 1{where}",
                                                          params)}
    if not names:
        return []
    ids = ",".join(str(n) for n in names)
    if query.buckets:
        sql = (f"SELECT name_id, minute, bucket, calls, errors FROM red WHERE name_id IN ({ids}) "
               "AND minute BETWEEN ? AND ? AND tenant = ?")
    else:
        sql = (f"SELECT name_id, minute, -1, sum(calls), sum(errors) FROM red WHERE name_id IN ({ids}) "
               "AND minute BETWEEN ? AND ? AND tenant = ? GROUP BY name_id, minute")
    return [(*names[nid], minute, bucket, calls, errors) for nid, minute, bucket, calls, errors
            in conn.execute(sql, (query.start_minute, query.end_minute, query.tenant))]


class SqliteMetricsReader(MetricsReader):
    def __init__(self, days: DayDirectory, flush: Callable[[], None] | None = None) -> None:
        self.days = days
        self._flush = flush

    def _each_day(self, read: Callable[[sqlite3.Connection], list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
        """``read(conn)`` on every day file, rows concatenated (files without the tables skipped)."""
        if self._flush is not None:
            self._flush()
        rows: list[tuple[Any, ...]] = []
        for day in self.days.days():
            check_deadline()
            with self.days.reading(day) as conn:
                if conn is None:
                    continue
                try:
                    rows.extend(read(conn))
                except sqlite3.OperationalError as exc:
                    if "no such table" not in str(exc):  # a file from before the rollups
                        raise
        return rows

    def read_red(self, query: RedQuery) -> list[RedCell]:
        """Per file: the operations (``names`` rows) the query wants, then their rows of the
        window, read along ``red``'s key (operation, minute), or the ``red_service`` tier
        for calls and errors over every operation; summed across files here."""
        coarse = not query.buckets and not query.group_by_operation and not query.operations

        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if coarse and schema.has_service_tier(conn):
                return [(service, "", minute, -1, calls, errors)
                        for service, minute, calls, errors, _ in _tier_rows(conn, query, False)]
            return _red_rows(conn, query)

        sums: dict[tuple[str, str, int, int], list[int]] = {}
        for service, operation, minute, bucket, calls, errors in self._each_day(read):
            key = (service, operation, minute, bucket)
            row = sums.get(key)
            if row is None:
                sums[key] = [calls, errors]
            else:
                row[0] += calls
                row[1] += errors
        return [RedCell(*k, *v) for k, v in sums.items()]

    def read_red_minutes(self, query: RedQuery) -> RedMinutes:
        """Over every operation, each file's ``red_service`` rows go straight into the
        per-minute sums (histogram blobs decoded, no row per bucket); files without the
        tier, and queries per operation, go through ``red``."""
        if query.group_by_operation or query.operations:
            return super().read_red_minutes(query)
        cells: list[tuple[Any, ...]] = []
        tier: list[tuple[Any, ...]] = []

        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if schema.has_service_tier(conn):
                tier.extend(_tier_rows(conn, query, query.buckets))
            else:
                cells.extend(_red_rows(conn, query))
            return []

        self._each_day(read)
        out = minutes_of(cells, query.buckets)  # type: ignore[arg-type]
        for service, minute, calls, errors, blob in tier:
            minutes = out.get((service, ""))
            if minutes is None:
                minutes = out[(service, "")] = {}
            row = minutes.get(minute)
            if row is None:
                minutes[minute] = [calls, errors, decode_hist(blob) if blob else {}]
                continue
            row[0] += calls
            row[1] += errors
            if blob:
                hist = row[2]
                for bucket, n in decode_hist(blob).items():
                    hist[bucket] = hist.get(bucket, 0) + n
        return out

    def read_edges(self, tenant: str, start_minute: int, end_minute: int) -> list[EdgeSum]:
        """Whole hours of the window from ``edges_hourly``, its ragged ends from ``edges``."""
        first_hour = -(-start_minute // 60)
        last_hour = (end_minute + 1) // 60 - 1
        minute_sql = ("SELECT parent, child, kind, sum(calls), sum(errors) FROM edges "
                      "WHERE minute BETWEEN ? AND ? AND tenant = ? GROUP BY parent, child, kind")
        hour_sql = ("SELECT parent, child, kind, sum(calls), sum(errors) FROM edges_hourly "
                    "WHERE hour BETWEEN ? AND ? AND tenant = ? GROUP BY parent, child, kind")

        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if first_hour > last_hour:
                return conn.execute(minute_sql, (start_minute, end_minute, tenant)).fetchall()
            rows = conn.execute(hour_sql, (first_hour, last_hour, tenant)).fetchall()
            if start_minute < first_hour * 60:
                rows += conn.execute(minute_sql, (start_minute, first_hour * 60 - 1, tenant)).fetchall()
            if end_minute >= (last_hour + 1) * 60:
                rows += conn.execute(minute_sql, ((last_hour + 1) * 60, end_minute, tenant)).fetchall()
            return rows

        sums: dict[tuple[str, str, str], list[int]] = {}
        for parent, child, kind, calls, errors in self._each_day(read):
            row = sums.setdefault((parent, child, kind), [0, 0])
            row[0] += calls
            row[1] += errors
        return [EdgeSum(*k, *v) for k, v in sums.items()]
