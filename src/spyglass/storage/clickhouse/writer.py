"""The span writer: batches spans into large inserts, retries them, never blocks forever.

``write_spans`` turns spans into columns and appends them to a buffer of pending batches.
When ``batch_size`` spans wait and the servers answered the last insert, the caller (the
collector's writer thread) sends them at once, so a slow server slows the collector's queue
(which answers 503 when full) rather than growing memory. Otherwise a background thread
sends what waits every ``flush_interval``. An insert that fails stays pending and is retried
with exponential backoff (0.1 s doubling to 5 s); while it fails, health says so
(``unhealthy_reason``: the collector stops acknowledging new spans), batches already taken
wait in the buffer up to ``buffer_size`` spans, and a batch beyond that raises
``StorageWriteError`` (the collector holds it in its own retry buffer and counts what
overflows). Every table's insert is tracked separately, so a retry never inserts a table's
rows twice once its insert succeeded (a failed insert may have stored part of its rows on a
cluster: docs/clickhouse-faults.md).

Readers in the same process call ``flush`` first, so a span is visible once ``write_spans``
returned; another process (a separate query) sees it within ``flush_interval``.

``sync`` inserts everything written before it was called and says whether that is now in
ClickHouse: the ingester acknowledges JetStream messages, and the collector's write-ahead
log deletes its segments, only on True. Without it they would drop their copy of spans that
still wait in this process's buffer, and a crash (or a server outage followed by a stop)
would lose spans a client or JetStream was told were stored.

On servers without TTL (18.16), the writer also drops day partitions older than the
retention, at start and every hour.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spyglass.model import Span
from spyglass.storage.api import SpanWriter, StorageWriteError
from spyglass.storage.clickhouse import dependencies
from spyglass.storage.clickhouse.connection import ClickHouseUnavailable, Connector
from spyglass.storage.clickhouse.prepared import PreparedColumns
from spyglass.storage.clickhouse.rows import SpanColumns
from spyglass.storage.clickhouse.schema import TABLES, Layout

log = logging.getLogger(__name__)

_BACKOFF_MIN, _BACKOFF_MAX = 0.1, 5.0
_RETENTION_EVERY = 3600.0
_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS
_EPOCH = datetime.date(1970, 1, 1)


@dataclass
class _Batch:
    columns: SpanColumns
    operations: list[tuple[datetime.date, str, str, str]]
    calls: Counter[tuple[int, str, str]]
    done: set[str] = field(default_factory=set)
    seq: int = 0  # order of ``write_spans`` calls: ``sync`` waits for the ones before it


class ClickHouseWriter(SpanWriter):
    def __init__(self, connector: Connector, database: str, *, prefix: str = "", batch_size: int = 10_000,
                 flush_interval: float = 1.0, buffer_size: int = 1_000_000, retention_seconds: float = 0.0,
                 rollup: bool = True) -> None:
        self.connector = connector
        self.layout: Layout | None = None  # set once the factory has reached the servers
        self.prefix = prefix
        self.db = database
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.buffer_size = buffer_size
        self.retention_seconds = retention_seconds
        self.rollup = dependencies.DependencyRollup() if rollup else None
        self.dropped = 0  # spans refused because the buffer was full (or pending at close)
        self.insert_failures = 0  # failed inserts, each retried (``metrics.py``)
        self._pending: list[_Batch] = []
        self._pending_spans = 0
        self._appended = 0  # batches ever appended (the last one's ``seq``)
        self._seen_ops: set[tuple[int, str, str, str]] = set()  # (UTC day number, service, name, kind)
        self._lock = threading.Lock()  # guards the buffer
        self._send_lock = threading.Lock()  # one insert at a time, in order
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._failing: str | None = None  # the last insert's error while inserts fail
        self._backoff = _BACKOFF_MIN
        self._client = connector.client(database=database)
        self._next_retention = 0.0
        self._thread = threading.Thread(target=self._run, name=f"clickhouse-writer{'-' + prefix if prefix else ''}",
                                        daemon=True)
        self._thread.start()

    # -- the contract -------------------------------------------------------------------
    def write_spans(self, spans: Sequence[Span]) -> None:
        if not spans:
            return
        cols = SpanColumns()
        cols.add(spans)
        keys = {(max(s.start_time_ns, 0) // _DAY_NS, s.resource.service_name, s.name, s.kind.jaeger_name)
                for s in spans}
        self._append(cols, keys, self.rollup.add(spans) if self.rollup is not None else Counter())

    def write_prepared(self, batches: Sequence[PreparedColumns]) -> None:
        """``write_spans`` for batches a collector worker turned into columns
        (``prepared.py``): the same buffering, retries and refusals, no per-span work."""
        for b in batches:
            cols = SpanColumns()
            cols.spans, cols.index, cols.count = b.spans, b.index, b.count
            cols.ranges = {(hi, lo): [a, z] for hi, lo, a, z in zip(*b.ranges)} if b.ranges else {}
            calls = self.rollup.add(b.edge_spans()) if self.rollup is not None else Counter()  # type: ignore[arg-type]
            self._append(cols, {tuple(op) for op in b.operations}, calls)

    def _append(self, cols: SpanColumns, op_keys: set[tuple[int, str, str, str]],
                calls: Counter[tuple[int, str, str]]) -> None:
        """Take one batch's columns into the buffer (or refuse them: buffer full, closed);
        send at once when ``batch_size`` spans wait. ``op_keys``: (UTC day number,
        service, operation, kind) of its spans."""
        n = cols.count
        if not n:
            return
        seen = self._seen_ops
        fresh = {key for key in op_keys if key not in seen}
        ops = [(_EPOCH + datetime.timedelta(days=day), service, name, kind) for day, service, name, kind in fresh]
        with self._lock:
            if self._closed:
                raise StorageWriteError("clickhouse storage is closed")
            if self._pending_spans + n > self.buffer_size:
                self.dropped += n
                raise StorageWriteError(
                    f"clickhouse write buffer full ({self._pending_spans} spans waiting): {self._failing or 'servers too slow'}")
            seen.update(fresh)
            if len(self._seen_ops) > 100_000:
                self._seen_ops.clear()
            self._appended += 1
            self._pending.append(_Batch(cols, ops, calls, seq=self._appended))
            self._pending_spans += n
            due = self._pending_spans >= self.batch_size
            failing = self._failing is not None
            if due:
                self._wake.notify()
        if due and not failing:
            self._send()

    # -- sending ------------------------------------------------------------------------
    def flush(self) -> None:
        """Send everything pending now; on failure it stays pending (no error: the retry goes on).
        While inserts fail it returns at once: readers do not wait for a server that is down."""
        if self._pending_spans and self._failing is None:
            self._send()

    def sync(self) -> bool:
        """Insert now every batch ``write_spans`` took before this call; True once all of
        them are in ClickHouse (the insert returned; with Distributed tables it is synchronous,
        ``insert_distributed_sync``), False when an insert failed: they stay pending and the
        background thread keeps retrying them, so the caller keeps its own copy (JetStream
        redelivers, the write-ahead log keeps its segment) and may write them again; a span
        stored twice that way is shown once by the query's dedupe adjuster.

        Batches written after the call are not waited for, so a steady stream of writes from
        other threads cannot keep it from returning True."""
        with self._lock:
            target = self._appended
        while True:
            with self._lock:
                if not self._pending or self._pending[0].seq > target:
                    return True
            if not self._send_once(retry=True):
                return False

    def _send(self, *, retry: bool = False) -> bool:
        """Send pending batches until none is left or an insert fails; whether all went.
        ``retry``: send even while inserts fail. Only the background thread's backoff,
        ``sync`` and ``close`` do: the collector's writer thread (``write_spans``) and
        readers (``flush``) that waited for an insert that then failed (a server that hangs
        fails after ``--clickhouse.timeout``) must not start another one and wait as long
        again; the collector polls health in between and stops acknowledging spans."""
        while True:
            with self._lock:
                if not self._pending:
                    return True
            if not self._send_once(retry=retry):
                return False

    def _send_once(self, *, retry: bool = False) -> bool:
        with self._send_lock:
            if not retry and self._failing is not None:
                return False
            with self._lock:
                # The leading batches that have the same tables done go together.
                batches: list[_Batch] = []
                size = 0
                for b in self._pending:
                    if batches and (b.done != batches[0].done or size >= self.batch_size):
                        break
                    batches.append(b)
                    size += b.columns.count
            if not batches:
                return True
            merged = self._merge(batches)
            try:
                self._insert(merged)
            except ClickHouseUnavailable as exc:
                # Nothing of the merged batch is lost: tables already inserted are remembered
                # in every batch it came from, the rest stays pending for the retry.
                for b in batches:
                    b.done |= merged.done
                with self._lock:
                    self.insert_failures += 1
                    if self._failing is None:
                        log.error("clickhouse insert failed, retrying with backoff: %s", exc)
                    self._failing = str(exc)
                return False
            with self._lock:
                del self._pending[:len(batches)]
                self._pending_spans -= sum(b.columns.count for b in batches)
                if self._failing is not None:
                    log.warning("clickhouse inserts succeed again")
                self._failing = None
                self._backoff = _BACKOFF_MIN
            return True

    @staticmethod
    def _merge(batches: list[_Batch]) -> _Batch:
        if len(batches) == 1:
            return _Batch(batches[0].columns, batches[0].operations, batches[0].calls, set(batches[0].done))
        cols = SpanColumns()
        calls: Counter[tuple[int, str, str]] = Counter()
        ops = []
        for b in batches:
            for mine, theirs in zip(cols.spans, b.columns.spans):
                mine.extend(theirs)
            for mine, theirs in zip(cols.index, b.columns.index):
                mine.extend(theirs)
            for key, r in b.columns.ranges.items():
                have = cols.ranges.get(key)
                cols.ranges[key] = list(r) if have is None else [min(have[0], r[0]), max(have[1], r[1])]
            cols.count += b.columns.count
            calls.update(b.calls)
            ops.extend(b.operations)
        return _Batch(cols, ops, calls, set(batches[0].done))

    def _insert(self, batch: _Batch) -> None:
        p, db, cols = self.prefix, self.db, batch.columns
        work: list[tuple[str, tuple[str, ...], list[list[Any]]]] = [
            ("spans", SpanColumns.SPANS, cols.spans),
            ("span_index", SpanColumns.INDEX, cols.index),
            ("trace_ranges", SpanColumns.RANGES, cols.range_columns()),
        ]
        if batch.operations:
            work.append(("operations", ("day", "service", "operation", "kind"),
                         [list(c) for c in zip(*batch.operations)]))
        if batch.calls:
            work.append(("dependencies", ("bucket", "parent", "child", "calls"), dependencies.columns(batch.calls)))
        for table, names, data in work:
            if table in batch.done:
                continue
            self.connector.execute(self._client, f"INSERT INTO {db}.{p}{table} ({', '.join(names)}) VALUES",
                                   data, columnar=True)
            batch.done.add(table)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                wait = self._backoff if self._failing else self.flush_interval
                self._wake.wait(wait)
                if self._closed:
                    return
                failing = self._failing is not None
            if not self._send(retry=True) and failing:
                with self._lock:
                    self._backoff = min(self._backoff * 2, _BACKOFF_MAX)
            self._retention()

    # -- health ----------------------------------------------------------------------------------
    @property
    def pending_spans(self) -> int:
        """Spans taken and not inserted yet."""
        return self._pending_spans

    def unhealthy_reason(self) -> str:
        """Why spans should not be taken now, or ``""``: closed, the buffer full, or inserts
        failing (a server or shard down). While inserts fail, spans given to ``write_spans``
        would only wait in this process's memory, so health says so and the collector
        refuses new spans (HTTP 503, gRPC UNAVAILABLE) instead of acknowledging spans it
        cannot store; what waits is retried until the servers are back."""
        with self._lock:
            if self._closed:
                return "clickhouse storage is closed"
            if self._pending_spans >= self.buffer_size:
                return f"clickhouse write buffer full ({self._pending_spans} spans waiting): {self._failing}"
            if self._failing is not None:
                return f"clickhouse inserts failing ({self._pending_spans} spans waiting for retry): {self._failing}"
            return ""

    # -- retention on servers without TTL -----------------------------------------------------
    def _retention(self) -> None:
        if self.layout is None or self.layout.current or self.retention_seconds <= 0 or self.prefix:
            return
        now = time.time()
        if now < self._next_retention:
            return
        self._next_retention = now + _RETENTION_EVERY
        try:
            self.drop_expired(now)
        except ClickHouseUnavailable as exc:
            log.warning("clickhouse retention: %s", exc)
            self._next_retention = now + 60

    def drop_expired(self, now: float) -> list[str]:
        """Drop every day partition whose whole day ended more than ``retention`` ago."""
        layout = self.layout
        if layout is None:
            return []
        cutoff = now - self.retention_seconds
        tables = [layout.local(t) for t in TABLES]
        with self._send_lock:
            rows = self.connector.execute(
                self._client,
                "SELECT DISTINCT table, partition_id FROM system.parts WHERE database = %(db)s AND active "
                "AND table IN %(tables)s", {"db": self.db, "tables": tuple(tables)})
            dropped = []
            for table, pid in rows:
                try:
                    day = datetime.datetime.strptime(pid, "%Y%m%d").replace(tzinfo=datetime.timezone.utc)
                except ValueError:
                    continue
                if (day + datetime.timedelta(days=1)).timestamp() <= cutoff:
                    self.connector.execute(self._client, f"ALTER TABLE {self.db}.{table}{layout.on_cluster()} "
                                                         f"DROP PARTITION ID '{pid}'")
                    dropped.append(f"{table}/{pid}")
            if dropped:
                log.info("clickhouse retention dropped %s", ", ".join(dropped))
            return dropped

    def close(self, timeout: float = 10.0) -> None:
        """Stop the background thread and send what waits, trying until ``timeout``."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._wake.notify_all()
        self._thread.join(5)
        deadline = time.monotonic() + timeout
        while self._pending_spans and not self._send(retry=True) and time.monotonic() < deadline:
            time.sleep(0.2)
        if self._pending_spans:
            log.error("clickhouse storage closed with %d spans not written: %s", self._pending_spans, self._failing)
            self.dropped += self._pending_spans
        self._client.disconnect()
