"""The trace reader: every answer is one or two SQL statements, nothing scanned in Python.

* ``get_trace``: the trace's time range from ``trace_ranges`` (primary key lookup), then its
  rows from ``spans`` restricted to that range, so only the partitions (days) holding the
  trace are opened. On a cluster of several shards both go to the local tables of the shard
  that holds the trace (``shards.py``), not through the ``Distributed`` tables to every shard.
* ``find_trace_ids``: ``span_index`` filtered by service, operation, time, duration and tags
  (``rows.query_pairs``), grouped by trace, newest latest-matching-span first; run on the
  newest 1/64 of the window first and widened only while fewer than the limit's traces were
  found (``widening.py``: the same answer as one statement over the whole window; on 18.16 the
  recent slices filter by time in ``PREWHERE``, ``time_prewhere``). With a
  service and tags, on servers with ``tag_index`` (``schema.py``), each tag's rows there are
  read first, up to ``tag_candidates_cap``: for a rare value the search then reads only the
  (operation, second) ranges of ``span_index`` its spans are in, instead of every span of the
  service in the window; a common value (the cap reached) is searched as before, and the
  reader remembers it for a minute (``CommonTags``), so repeating the search skips the lookup.
* services and operations from the small ``operations`` table.

A server that does not answer raises ``ClickHouseUnavailable`` (a clear message, after at
most ``--clickhouse.timeout``); the query APIs turn it into an error response.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from spyglass.model import Resource, Span, SpanKind, Status, StatusCode
from spyglass.storage.api import Operation, TraceQuery, TraceReader
from spyglass.storage.api.traceql import TraceQLReader
from spyglass.storage.api.deadline import check_deadline, current_deadline
from spyglass.storage.clickhouse.connection import ClickHouseUnavailable, Connector
from spyglass.storage.clickhouse import payload, widening
from spyglass.storage.clickhouse.schema import PAIR, UINT32_MAX
from spyglass.storage.clickhouse.shards import ShardMap
from spyglass.storage.clickhouse.rows import join_id, query_pairs, split_id
from spyglass.storage.clickhouse.traceql import ROW_FIELDS, candidates_sql, counts_sql, label_of, rows_sql
from spyglass.traceql import ast

log = logging.getLogger(__name__)
INT64_MIN, INT64_MAX = widening.INT64_MIN, widening.INT64_MAX
_IN_BATCH = 500
S = 1_000_000_000
# A tag in this many places (distinct (second, operation) rows) in the window is common:
# searched without tag_index. Each place names a range of a granule or two (8,192 rows
# each): beyond ~100 ranges the narrowed statement reads about as much as the service's
# whole window at 10M spans.
TAG_CANDIDATES_CAP = 100
MAX_NARROWED_SQL = 100_000  # characters; the server refuses statements over 256 KiB (max_query_size)
COMMON_TAG_SECONDS = 60.0  # how long a tag that reached the cap is taken as common without a lookup
COMMON_TAG_ENTRIES = 1024


class CommonTags:
    """The tags a search recently found common (``tag_candidates_cap`` rows or more in
    ``tag_index``): the same search again, or one over a window at least as long, skips the
    lookup, whose rows it would not use. At 10M spans on 2 shards that lookup was 22-24 ms of a
    98 ms search (service, operation, a common tag and a duration; 2026-12-07), and the UI
    repeats a search on every refresh. Skipping it never changes an answer: the lookup only
    narrows where the search reads, so a tag that has since become rare is still found, by
    reading the whole window as for any common tag, until the entry expires. Bounded: emptied
    when ``COMMON_TAG_ENTRIES`` are held."""

    def __init__(self, seconds: float = COMMON_TAG_SECONDS, entries: int = COMMON_TAG_ENTRIES) -> None:
        self.seconds = seconds
        self.entries = entries
        self._found: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[int, float]] = {}

    def known(self, service: str, alternatives: list[tuple[str, str]], window: int) -> bool:
        """Whether the tag was common in a window at least ``window`` long, not long ago."""
        found = self._found.get((service, tuple(alternatives)))
        return found is not None and window >= found[0] and time.monotonic() < found[1]

    def remember(self, service: str, alternatives: list[tuple[str, str]], window: int) -> None:
        if len(self._found) >= self.entries:
            self._found.clear()
        self._found[(service, tuple(alternatives))] = (window, time.monotonic() + self.seconds)


_TIME = "start_ns >= %(lo)s AND start_ns <= %(hi)s"  # a search's window (or slice)


def range_sql(t: str, local: str = "") -> str:
    """``local``: ``"_local"`` for a shard's own table under a ``Distributed`` one."""
    return (f"SELECT count(), min(start_min), max(start_max) FROM {t}trace_ranges{local} "
            "WHERE trace_hi = %(hi)s AND trace_lo = %(lo)s")


def trace_sql(t: str, local: str = "") -> str:
    return (f"SELECT span_id, start_ns, payload FROM {t}spans{local} WHERE trace_hi = %(hi)s AND trace_lo = %(lo)s "
            "AND start_ns >= %(start)s AND start_ns <= %(end)s")


def traces_sql(t: str) -> str:
    return f"SELECT trace_hi, trace_lo, span_id, start_ns, payload FROM {t}spans WHERE (trace_hi, trace_lo) IN %(ids)s"


def search_sql(t: str, query: TraceQuery) -> tuple[str, dict[str, Any]]:
    """The search statement and its parameters over the whole window (also run through chdb
    by the tests); ``find_trace_ids`` runs it with ``lo``/``hi`` set to one slice at a time."""
    where = [_TIME]
    params: dict[str, Any] = {
        "lo": query.start_time_min_ns or INT64_MIN,
        "hi": query.start_time_max_ns or INT64_MAX,
        "limit": query.num_traces if query.num_traces > 0 else 100,
    }
    if query.service_name:
        where.append("service = %(service)s")
        params["service"] = query.service_name
    if query.operation_name:
        where.append("operation = %(operation)s")
        params["operation"] = query.operation_name
    if query.duration_min_ns:
        where.append("duration_ns >= %(dmin)s")
        params["dmin"] = query.duration_min_ns
    if query.duration_max_ns:
        where.append("duration_ns <= %(dmax)s")
        params["dmax"] = query.duration_max_ns
    for i, alternatives in enumerate(query_pairs(query)):
        has, exact = [], []
        for j, (key, value) in enumerate(alternatives):
            params[f"k{i}_{j}"], params[f"v{i}_{j}"] = key, value
            has.append(f"has(tag_values, %(v{i}_{j})s)")
            exact.append(f"(k = %(k{i}_{j})s AND v = %(v{i}_{j})s)")
        # ``has`` first: cheap, and on current servers answered by the bloom-filter index.
        where.append(f"({' OR '.join(has)})")
        where.append(f"arrayExists((k, v) -> {' OR '.join(exact)}, tag_keys, tag_values)")
    sql = (f"SELECT trace_hi, trace_lo, max(start_ns) AS latest FROM {t}span_index WHERE {' AND '.join(where)} "
           "GROUP BY trace_hi, trace_lo ORDER BY latest DESC, trace_hi DESC, trace_lo DESC LIMIT %(limit)s")
    return sql, params


def time_prewhere(sql: str) -> str:
    """``sql`` (``search_sql``) with its time range as the ``PREWHERE``, for the window's
    recent slices on 18.16: there a search reads every granule of the service (its time is
    the third key column), so filtering by time first leaves the tag arrays of a few rows to
    read and test (2026-12-07, 1M spans: service + common tag 87-65 against 147-95 ms p50 in
    the first two slices). Not for the slice that reaches the window's start: it keeps most
    rows, and ``has(tag_values, ...)``, which the server puts in ``PREWHERE`` by itself,
    filters better there (149 against 123 ms)."""
    return sql.replace(f" WHERE {_TIME} AND ", f" PREWHERE {_TIME} WHERE ", 1)


def tag_rows_sql(t: str, alternatives: int) -> str:
    """A tag's first places in ``tag_index``: (start second, operation) of spans of the service
    with any of its (key, value) pairs in the window's seconds (a primary-key range each);
    distinct, since rows written apart are merged into one only later."""
    pairs = " OR ".join(f"pair = {PAIR.format(service='%(service)s', key=f'%(k{j})s', value=f'%(v{j})s')}"
                        for j in range(alternatives))
    return (f"SELECT DISTINCT start_s, operation FROM {t}tag_index WHERE ({pairs}) "
            "AND start_s >= %(lo_s)s AND start_s <= %(hi_s)s LIMIT %(cap)s")


Ranges = frozenset[tuple[str, int]]  # (operation, start second): where a tag's spans are in span_index


def narrowed_sql(sql: str, params: dict[str, Any], ranges: Ranges) -> tuple[str, dict[str, Any]]:
    """The search statement limited to ``ranges`` of ``span_index``: each a primary-key range
    (service, operation, one second), so a rare tag reads a few granules, not the service."""
    params = dict(params)
    ors = []
    for i, (operation, second) in enumerate(sorted(ranges)):
        # The first second also holds every span before 1970, the last every span after 2106.
        first = second * S if second > 0 else INT64_MIN
        last = second * S + S - 1 if second < UINT32_MAX else INT64_MAX
        params[f"r_op{i}"], params[f"r_lo{i}"], params[f"r_hi{i}"] = operation, first, last
        ors.append(f"(operation = %(r_op{i})s AND start_ns >= %(r_lo{i})s AND start_ns <= %(r_hi{i})s)")
    return sql.replace(" WHERE ", f" WHERE ({' OR '.join(ors)}) AND ", 1), params


def services_sql(t: str) -> str:
    return f"SELECT DISTINCT service FROM {t}operations ORDER BY service"


def operations_sql(t: str, kind: bool) -> str:
    return (f"SELECT DISTINCT operation, kind FROM {t}operations WHERE service = %(service)s"
            f"{' AND kind = %(kind)s' if kind else ''} ORDER BY operation, kind")


def _second(ns: int) -> int:
    """The ``tag_index`` second (UInt32, clamped) a start time falls in."""
    return min(max(ns // S, 0), UINT32_MAX)


class ClickHouseReader(TraceReader, TraceQLReader):
    """Reads one store (``prefix`` ``""`` or ``archive_``); ``flush`` sends this process's
    pending writes first."""

    def __init__(self, connector: Connector, database: str, prefix: str = "",
                 flush: Callable[[], None] | None = None) -> None:
        self.connector = connector
        self.t = f"{database}.{prefix}"
        self._flush = flush
        self.tag_index = False  # set by the factory once the schema has a complete tag_index
        self.tag_candidates_cap = TAG_CANDIDATES_CAP
        self.common_tags = CommonTags()
        self.shards: ShardMap | None = None  # set by the factory on a checked cluster of several shards
        self._shard_connectors: dict[int, Connector] = {}
        self._lookups_lock = threading.Lock()
        self.lookups = {"shard": 0, "distributed": 0}  # traces by ID, by the way they were read

    def query(self, sql: str, params: dict[str, Any] | None = None, *, as_bytes: bool = False,
              connector: Connector | None = None) -> Any:
        """One statement (on ``connector``'s servers, by default those of
        ``--clickhouse.addresses``); under a request deadline (``--query.timeout``) it is not
        started once the deadline passed, and the server stops it when the deadline would."""
        check_deadline()
        deadline = current_deadline()
        remaining = deadline.remaining() if deadline is not None else None
        c = connector or self.connector
        settings = None
        if remaining is not None:
            settings = {"max_execution_time": max(1, int(min(remaining, c.config.timeout_seconds) + 0.999))}
        return c.execute(c.thread_client(as_bytes=as_bytes), sql, params, retry=True, settings=settings)

    def _fresh(self) -> None:
        if self._flush is not None:
            self._flush()

    def get_trace(self, trace_id: int, start_time_ns: int = 0, end_time_ns: int = 0) -> list[Span]:
        self._fresh()
        if self.shards is not None:
            try:
                spans = self._read_trace(trace_id, "_local", self._shard_connector(trace_id))
            except ClickHouseUnavailable as exc:
                log.debug("trace %032x: its shard did not answer (%s); reading through the Distributed tables",
                          trace_id, exc)
            else:
                if spans:  # else perhaps written before the shards changed: every shard is asked
                    self._count("shard")
                    return spans
        self._count("distributed")
        return self._read_trace(trace_id)

    def _read_trace(self, trace_id: int, local: str = "", connector: Connector | None = None) -> list[Span]:
        hi, lo = split_id(trace_id)
        (count, first, last), = self.query(range_sql(self.t, local), {"hi": hi, "lo": lo}, connector=connector)
        if not count:
            return []
        rows = self.query(trace_sql(self.t, local), {"hi": hi, "lo": lo, "start": first, "end": last},
                          as_bytes=True, connector=connector)
        return payload.decode(trace_id, rows)

    def _shard_connector(self, trace_id: int) -> Connector:
        """The connector to the replicas of the shard that holds ``trace_id`` (in the
        cluster's order: the first that answers serves the read)."""
        assert self.shards is not None
        shard = self.shards.shard_of(*split_id(trace_id))
        connector = self._shard_connectors.get(shard.number)
        if connector is None:
            addresses = ",".join(f"[{host}]:{port}" for host, port in shard.replicas)
            connector = Connector(dataclasses.replace(self.connector.config, addresses=addresses))
            connector = self._shard_connectors.setdefault(shard.number, connector)
        return connector

    def _count(self, route: str) -> None:
        with self._lookups_lock:
            self.lookups[route] += 1

    def find_trace_ids(self, query: TraceQuery) -> list[int]:
        self._fresh()
        sql, params = search_sql(self.t, query)
        ranges = self._tag_ranges(query, params["lo"], params["hi"]) if self.tag_index else None
        if ranges is not None:  # a rare tag: only where its spans are (unless too long a statement)
            if not ranges:
                return []
            narrowed, narrowed_params = narrowed_sql(sql, params, ranges)
            if len(narrowed) + sum(len(str(v)) for v in narrowed_params.values()) < MAX_NARROWED_SQL:
                return [join_id(hi, lo) for hi, lo, _latest in self.query(narrowed, narrowed_params)]
        slices = widening.slices(params["lo"], params["hi"], time.time_ns())
        oldest = slices[-1].start
        recent = time_prewhere(sql) if self.tag_index else sql

        def search(start: int, end: int) -> Any:
            return self.query(recent if start != oldest else sql, {**params, "lo": start, "hi": end})

        found = widening.newest_first(search, params["limit"], slices)
        return [join_id(hi, lo) for hi, lo in found]

    def _tag_ranges(self, query: TraceQuery, lo: int, hi: int) -> Ranges | None:
        """The (operation, second) ranges every rare tag of the query allows (intersected), or
        ``None`` when the query has no service or only common tags (``tag_candidates_cap``
        rows or more in ``tag_index``)."""
        if not query.service_name:
            return None
        found: Ranges | None = None
        window = {"lo_s": _second(lo), "hi_s": _second(hi), "service": query.service_name,
                  "cap": self.tag_candidates_cap}
        service, length = query.service_name, hi - lo
        for alternatives in query_pairs(query):
            if self.common_tags.known(service, alternatives, length):
                continue
            params = dict(window)
            for j, (key, value) in enumerate(alternatives):
                params[f"k{j}"], params[f"v{j}"] = key, value
            rows = self.query(tag_rows_sql(self.t, len(alternatives)), params)
            if len(rows) >= self.tag_candidates_cap:
                self.common_tags.remember(service, alternatives, length)
                continue
            ranges = frozenset((operation, second) for second, operation in rows)
            found = ranges if found is None else found & ranges
        return found

    def find_traces(self, query: TraceQuery) -> list[list[Span]]:
        ids = self.find_trace_ids(query)
        traces: dict[int, list[Span]] = {i: [] for i in ids}
        for i in range(0, len(ids), _IN_BATCH):
            part = tuple(split_id(t) for t in ids[i:i + _IN_BATCH])
            for hi, lo, span_id, start, blob in self.query(traces_sql(self.t), {"ids": part}, as_bytes=True):
                trace_id = join_id(hi, lo)
                traces[trace_id].extend(payload.decode(trace_id, ((span_id, start, blob),)))
        return [traces[i] for i in ids if traces[i]]

    def get_services(self) -> list[str]:
        self._fresh()
        return [row[0] for row in self.query(services_sql(self.t))]

    def get_operations(self, service: str, span_kind: str = "") -> list[Operation]:
        self._fresh()
        params = {"service": service, "kind": span_kind}
        return [Operation(name, kind) for name, kind in self.query(operations_sql(self.t, bool(span_kind)), params)]

    # -- query language (``traceql.py``) ---------------------------------------------------------------
    def _fetch_traces(self, ids: list[int]) -> dict[int, list[Span]]:
        traces: dict[int, list[Span]] = {i: [] for i in ids}
        for i in range(0, len(ids), _IN_BATCH):
            part = tuple(split_id(t) for t in ids[i:i + _IN_BATCH])
            for hi, lo, span_id, start, blob in self.query(traces_sql(self.t), {"ids": part}, as_bytes=True):
                trace_id = join_id(hi, lo)
                traces[trace_id].extend(payload.decode(trace_id, ((span_id, start, blob),)))
        return traces

    def tql_candidates(self, cond: ast.Cond, start_ns: int, end_ns: int) -> Iterator[tuple[int, int]]:
        return self.tql_narrowed_candidates(cond, start_ns, end_ns)

    def tql_narrowed_candidates(self, cond: ast.Cond, start_ns: int, end_ns: int,
                                also: tuple[ast.Cond, ...] = ()) -> Iterator[tuple[int, int]]:
        """Pages of grouped candidates (the engine fetches their traces in batches through
        ``tql_traces``)."""
        self._fresh()
        sql, params = candidates_sql(self.t, cond, start_ns or INT64_MIN, end_ns or INT64_MAX, also)
        offset, size = 0, 50
        while True:
            params.update(limit=size, offset=offset)
            rows = self.query(sql, params)
            for hi, lo, latest in rows:
                yield latest, join_id(hi, lo)
            if len(rows) < size:
                return
            offset += size
            size = min(size * 4, 10_000)

    def tql_trace(self, trace_id: int) -> list[Span]:
        return self.get_trace(trace_id)

    def tql_traces(self, trace_ids: list[int]) -> dict[int, list[Span]]:
        return self._fetch_traces(trace_ids)

    def tql_counts(self, cond: ast.Cond, start_ns: int, end_ns: int, step_ns: int,
                   by: tuple[ast.Field, ...]) -> Iterator[tuple[tuple, int, int]] | None:
        if not all(f in ROW_FIELDS and f != ast.Intrinsic("duration") for f in by):
            return None
        sql, params, exact = counts_sql(self.t, cond, start_ns or INT64_MIN, end_ns or INT64_MAX, step_ns, by)
        if not exact:
            return None
        self._fresh()
        return ((tuple(label_of(f, v) for f, v in zip(by, row[2:])), row[0], row[1]) for row in self.query(sql, params))

    def tql_window_spans(self, cond: ast.Cond, start_ns: int, end_ns: int,
                         fields: frozenset[ast.Field]) -> Iterator[tuple[Span, bool]] | None:
        sql, params, exact = rows_sql(self.t, cond, start_ns or INT64_MIN, end_ns or INT64_MAX)
        if not exact or not fields <= ROW_FIELDS:
            return None
        self._fresh()
        return self._stub_spans(sql, params)

    def _stub_spans(self, sql: str, params: dict) -> Iterator[tuple[Span, bool]]:
        resources: dict[str, Resource] = {}
        for hi, lo, start, duration, service, operation, kind, status in self.query(sql, params):
            resource = resources.get(service)
            if resource is None:
                resource = resources[service] = Resource(service)
            yield Span(join_id(hi, lo), 0, operation, start, duration, resource,
                       kind=SpanKind.from_jaeger_name(kind),
                       status=Status(StatusCode[status]) if status in StatusCode.__members__ else Status()), True
