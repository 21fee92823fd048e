"""The trace reader: trace lookups through the trace-to-day index, searches, names.

Every method first asks this process's writer (if any) to commit what it holds, so a
reader sees every ``write_spans`` that returned before it was called; a reader in another
process sees spans once they are committed (within the commit interval). Searches and
trace lookups stop with ``QueryTimeout`` once the request's deadline has passed
(``spyglass.storage.api.deadline``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from spyglass.model import Span, SpanKind
from spyglass.storage.api import Operation, TraceQuery, TraceReader
from spyglass.storage.api.deadline import check_deadline
from spyglass.storage.api.traceql import TraceQLReader
from spyglass.storage.sqlite import schema
from spyglass.storage.sqlite.compression import CorruptBlob
from spyglass.storage.sqlite.days import DayDirectory
from spyglass.storage.sqlite.rows import ChunkDecodeError, decode_chunk
from spyglass.storage.sqlite.search import Search
from spyglass.storage.sqlite.traceindex import TraceIndexReader
from spyglass.storage.sqlite.traceql import Scan
from spyglass.traceql import ast

log = logging.getLogger(__name__)

_KIND_NAMES = {k.value: k.jaeger_name for k in SpanKind}
_TRACE_SQL = (f"SELECT trace_hi, trace_key, data FROM chunks WHERE (id >> {schema.TRACE_BUCKET_BITS}) "
              "IN (SELECT value FROM json_each(?1)) AND trace_key IN (SELECT value FROM json_each(?2)) ORDER BY id")


class SqliteReader(TraceReader, TraceQLReader):
    def __init__(self, days: DayDirectory, index: TraceIndexReader, flush: Callable[[], None] | None = None,
                 *, candidate_limit: int = 1000, rollup: bool = False) -> None:
        self.days = days
        self.rollup = rollup  # the store's writer fills the RED rollup: counts may read it
        self.index = index
        self._flush = flush
        self.candidate_limit = candidate_limit
        self._reported_blobs: set[str] = set()

    def _sync(self) -> None:
        if self._flush is not None:
            self._flush()

    def decode(self, day: str, blob: bytes, trace_id: int) -> list[Span]:
        """Decompress and decode one chunk; a damaged chunk is logged (once per day) and skipped."""
        try:
            return decode_chunk(self.days.decompressors(day).decompress(blob), trace_id)
        except (CorruptBlob, ChunkDecodeError) as exc:
            if day not in self._reported_blobs:
                self._reported_blobs.add(day)
                log.warning("skipping damaged span data in %s: %s", self.days.path(day), exc)
            return []

    # -- traces ----------------------------------------------------------------------------------
    def trace_days(self, trace_id: int) -> list[str]:
        """The days that may hold spans of ``trace_id`` (``traces_days`` for one trace)."""
        return self.traces_days([trace_id])[trace_id]

    def traces_days(self, trace_ids: list[int]) -> dict[int, list[str]]:
        """The days that may hold spans of each trace: those the index names, plus any day
        the index does not cover or lags behind (a lagging or missing index is never
        trusted to say no). Only the newest day can lag (the writer catches up on older
        ones), and a writer in another process commits the day file a moment before the
        index, so the newest day's high-water mark is checked on every lookup."""
        all_days = self.days.days()
        found = self.index.days_of_keys(schema.trace_key(t) for t in trace_ids)
        if found is None:
            return {t: all_days for t in trace_ids}
        hits, indexed = found
        listed = set(all_days)
        if any(d not in listed for days in hits.values() for d in days):
            listed = set(self.days.days(refresh=True))
            all_days = sorted(listed)
        always = {d for d in all_days if d not in indexed}
        if all_days and all_days[-1] not in always and self._lags(all_days[-1]):
            always.add(all_days[-1])
        return {t: sorted({d for d in hits.get(schema.trace_key(t), ()) if d in listed} | always)
                for t in trace_ids}

    def _lags(self, day: str) -> bool:
        mark = self.index.high_water_mark(day)
        if mark is None:
            return True
        with self.days.reading(day) as conn:
            if conn is not None:
                return (conn.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0) > mark
        return False

    def get_trace(self, trace_id: int, start_time_ns: int = 0, end_time_ns: int = 0) -> list[Span]:
        return self.get_traces([trace_id])[trace_id]

    def get_traces(self, trace_ids: list[int]) -> dict[int, list[Span]]:
        """The spans of several traces, with one index statement for all of them and one
        chunk statement per day file (not per trace and day)."""
        self._sync()
        spans: dict[int, list[Span]] = {t: [] for t in trace_ids}
        by_day: dict[str, dict[tuple[int, int], int]] = {}
        for trace_id, days in self.traces_days(list(spans)).items():
            for day in days:
                by_day.setdefault(day, {})[(schema.signed(trace_id >> 64), schema.trace_key(trace_id))] = trace_id
        for day in sorted(by_day):
            wanted = by_day[day]
            check_deadline()
            with self.days.reading(day) as conn:
                if conn is None:
                    continue
                top = conn.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0
                keys = "[" + ",".join(str(key) for key in {key for _, key in wanted}) + "]"
                rows = conn.execute(_TRACE_SQL, (schema.trace_buckets(top), keys)).fetchall()
                for hi, key, blob in rows:  # decoded inside ``reading``: a dictionary may load
                    trace_id = wanted.get((hi, key))
                    if trace_id is not None:
                        spans[trace_id].extend(self.decode(day, blob, trace_id))
        return spans

    # -- search --------------------------------------------------------------------------------------
    def find_trace_ids(self, query: TraceQuery) -> list[int]:
        self._sync()
        return Search(self.days, self.decode, query, self.candidate_limit).run()

    def find_traces(self, query: TraceQuery) -> list[list[Span]]:
        result = []
        for trace_id in self.find_trace_ids(query):
            check_deadline()
            spans = self.get_trace(trace_id)
            if spans:
                result.append(spans)
        return result

    # -- query language (``traceql.py``) -------------------------------------------------------------
    def tql_candidates(self, cond: ast.Cond, start_ns: int, end_ns: int) -> Iterator[tuple[int, int]]:
        self._sync()
        return Scan(self.days, self.decode, cond, start_ns, end_ns).candidates()

    def tql_trace(self, trace_id: int) -> list[Span]:
        return self.get_trace(trace_id)

    def tql_traces(self, trace_ids: list[int]) -> dict[int, list[Span]]:
        return self.get_traces(trace_ids)

    def tql_counts(self, cond: ast.Cond, start_ns: int, end_ns: int, step_ns: int,
                   by: tuple[ast.Field, ...]) -> Iterator[tuple[tuple, int, int]] | None:
        self._sync()
        return Scan(self.days, self.decode, cond, start_ns, end_ns).counts(step_ns, by, self.rollup)

    def tql_window_spans(self, cond: ast.Cond, start_ns: int, end_ns: int,
                         fields: frozenset[ast.Field]) -> Iterator[tuple[Span, bool]]:
        self._sync()
        return Scan(self.days, self.decode, cond, start_ns, end_ns).spans(fields)

    # -- names ---------------------------------------------------------------------------------------
    def get_services(self) -> list[str]:
        self._sync()
        services: set[str] = set()
        for day in self.days.days():
            with self.days.reading(day) as conn:
                if conn is not None:
                    names = self.days.names(day, conn)
                    with names.lock:
                        services.update(names.by_service)
        return sorted(services)

    def get_operations(self, service: str, span_kind: str = "") -> list[Operation]:
        self._sync()
        ops: set[Operation] = set()
        for day in self.days.days():
            with self.days.reading(day) as conn:
                if conn is not None:
                    names = self.days.names(day, conn)
                    with names.lock:
                        entries = list(names.by_service.get(service, ()))
                    for operation, kind, _ in entries:
                        kind_name = _KIND_NAMES.get(kind, "")
                        if not span_kind or kind_name == span_kind:
                            ops.add(Operation(operation, kind_name))
        return sorted(ops)
