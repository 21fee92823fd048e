"""Trace search over the day files: two plans, one definition of a match.

Both plans end in ``spyglass.storage.matching.span_matches``, so they return exactly what
the memory backend returns; they differ only in which chunks they look at.

* **Time scan** (the default). Each day file's ``spans`` table is ordered by
  ``(name_id, start)``, so for every service/operation name that the query allows there is
  a cursor yielding spans newest first, already filtered in SQL by the time window and the
  duration range; ``heapq.merge`` joins the cursors of all names and all days into one
  newest-first stream. A trace is taken when one of its spans matches, so the first
  ``num_traces`` distinct traces are the newest by their latest matching span, and the scan
  stops there. Without tags the index row alone proves the match and no blob is read; with
  tags the span's chunk is decoded (once per query) and checked.
* **Tag index**. When the query has tags the FTS5 index can look up (``tagindex.py``),
  the chunks containing all their words are counted first; if there are at most
  ``candidate_limit`` of them, only those chunks are decoded and checked, and the traces
  are ordered by their latest matching span. This is what makes a rare tag value (a user
  ID, a request ID) fast: the time scan would have to walk every span of the service.

Both plans look at the request's deadline (``spyglass.storage.api.deadline``) every few
thousand rows and stop with ``QueryTimeout`` once it has passed.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import sqlite3
from collections.abc import Callable, Iterator

from spyglass.model import Span
from spyglass.storage.api import TraceQuery
from spyglass.storage.api.deadline import check_deadline
from spyglass.storage.matching import span_matches
from spyglass.storage.sqlite import schema
from spyglass.storage.sqlite.days import DayDirectory
from spyglass.storage.sqlite.tagindex import query_words

log = logging.getLogger(__name__)

_SCAN_SQL = (
    "SELECT s.start, ?1, s.chunk, c.trace_hi, c.trace_key FROM spans s JOIN chunks c ON c.id = s.chunk "
    "WHERE s.name_id = ?2 AND s.start BETWEEN ?3 AND ?4 AND s.duration BETWEEN ?5 AND ?6 "
    "ORDER BY s.start DESC, s.chunk DESC"
)
_CHUNK_SQL = "SELECT trace_hi, trace_key, data FROM chunks WHERE id = ?"
_IN_BATCH = 500
_CHECK_EVERY = 4096  # index rows between two looks at the request's deadline

Decoder = Callable[[str, bytes, int], list[Span]]


class Search:
    """One search: the query, its bounds, and the chunks already decoded for it."""

    def __init__(self, days: DayDirectory, decode: Decoder, query: TraceQuery, candidate_limit: int) -> None:
        self.days = days
        self.decode = decode
        self.query = query
        self.limit = query.num_traces if query.num_traces > 0 else 100
        self.candidate_limit = candidate_limit
        q = query
        self.lo = q.start_time_min_ns or schema.INT64_MIN
        self.hi = q.start_time_max_ns or schema.INT64_MAX
        self.dmin = q.duration_min_ns or schema.INT64_MIN
        self.dmax = q.duration_max_ns or schema.INT64_MAX

    def run(self) -> list[int]:
        with contextlib.ExitStack() as stack:
            days: list[tuple[str, sqlite3.Connection, list[int]]] = []
            for day in reversed(self.days.days()):
                conn = stack.enter_context(self.days.hold(day))
                if conn is None:
                    continue
                try:
                    if not self.days.starts_within(conn, self.lo, self.hi):
                        continue
                    ids = self.days.names(day, conn).ids(self.query.service_name, self.query.operation_name)
                except sqlite3.DatabaseError as exc:
                    self.days.report(day, exc)
                    continue
                if ids:
                    days.append((day, conn, ids))
            if not days:
                return []
            words = query_words(self.query)
            if words:
                candidates = self._candidates(days, words)
                if candidates is not None:
                    return self._by_candidates(days, candidates)
            return self._by_time(days)

    # -- tag index --------------------------------------------------------------------------------
    def _candidates(self, days: list[tuple[str, sqlite3.Connection, list[int]]],
                    words: list[str]) -> list[list[int]] | None:
        """Chunk IDs per day holding every word, or None when there are too many to be worth it."""
        expr = " AND ".join(f'"{w}"' for w in words)
        room = self.candidate_limit
        out: list[list[int]] = []
        for day, conn, _ in days:
            try:
                ids = [r[0] for r in conn.execute(
                    "SELECT rowid FROM tags WHERE tags MATCH ? LIMIT ?", (expr, room + 1))]
            except sqlite3.DatabaseError as exc:
                self.days.report(day, exc)
                ids = []
            room -= len(ids)
            if room < 0:
                return None
            out.append(ids)
        return out

    def _by_candidates(self, days: list[tuple[str, sqlite3.Connection, list[int]]],
                       candidates: list[list[int]]) -> list[int]:
        latest: dict[int, int] = {}
        query = self.query
        for (day, conn, _), ids in zip(days, candidates):
            for i in range(0, len(ids), _IN_BATCH):
                check_deadline()
                part = ids[i:i + _IN_BATCH]
                try:
                    rows = conn.execute(
                        f"SELECT trace_hi, trace_key, data FROM chunks WHERE id IN ({','.join('?' * len(part))})",
                        part).fetchall()
                except sqlite3.DatabaseError as exc:
                    self.days.report(day, exc)
                    break
                for hi, key, data in rows:
                    trace_id = schema.trace_id_of(hi, key)
                    for span in self.decode(day, data, trace_id):
                        if span_matches(span, query):
                            start = span.start_time_ns
                            if latest.get(trace_id, start - 1) < start:
                                latest[trace_id] = start
        ranked = sorted(latest.items(), key=lambda item: item[1], reverse=True)
        return [trace_id for trace_id, _ in ranked[:self.limit]]

    # -- time scan ----------------------------------------------------------------------------------
    def _stream(self, cursors: list[sqlite3.Cursor], index: int, day: str, conn: sqlite3.Connection,
                name_id: int) -> Iterator[tuple[int, ...]]:
        try:
            cursor = conn.execute(_SCAN_SQL, (index, name_id, self.lo, self.hi, self.dmin, self.dmax))
            cursors.append(cursor)
            yield from cursor
        except sqlite3.DatabaseError as exc:
            self.days.report(day, exc)

    def _by_time(self, days: list[tuple[str, sqlite3.Connection, list[int]]]) -> list[int]:
        # Every cursor is closed before returning: an unfinished statement would keep its
        # connection's read snapshot open, and the next query on it would not see new data.
        cursors: list[sqlite3.Cursor] = []
        try:
            return self._scan(days, cursors)
        finally:
            for cursor in cursors:
                cursor.close()

    def _scan(self, days: list[tuple[str, sqlite3.Connection, list[int]]], cursors: list[sqlite3.Cursor]) -> list[int]:
        streams = [self._stream(cursors, i, day, conn, nid) for i, (day, conn, ids) in enumerate(days) for nid in ids]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, reverse=True)
        check_tags = bool(self.query.attributes)
        matched: dict[tuple[int, int], frozenset[int]] = {}
        found: dict[int, None] = {}
        limit = self.limit
        scanned = 0
        for start, index, chunk, hi, key in merged:
            scanned += 1
            if not scanned % _CHECK_EVERY:
                check_deadline()
            trace_id = schema.trace_id_of(hi, key)
            if trace_id in found:
                continue
            if check_tags:
                starts = matched.get((index, chunk))
                if starts is None:
                    starts = matched[(index, chunk)] = self._matching_starts(days[index], chunk)
                if start not in starts:
                    continue
            found[trace_id] = None
            if len(found) >= limit:
                break
        return list(found)

    def _matching_starts(self, entry: tuple[str, sqlite3.Connection, list[int]], chunk: int) -> frozenset[int]:
        """Start times of the spans in ``chunk`` that match the whole query."""
        day, conn, _ = entry
        try:
            row = conn.execute(_CHUNK_SQL, (chunk,)).fetchone()
        except sqlite3.DatabaseError as exc:
            self.days.report(day, exc)
            return frozenset()
        if row is None:
            return frozenset()
        hi, key, data = row
        query = self.query
        return frozenset(s.start_time_ns for s in self.decode(day, data, schema.trace_id_of(hi, key))
                         if span_matches(s, query))
