"""The span writer: batches into today's day file, commits at most every half interval.

``write_spans`` groups a batch into chunks (one per trace), encodes and compresses each
chunk once, and inserts the rows inside a transaction that stays open across batches. The
transaction commits when its oldest batch is half a commit interval old (from the writer
thread itself, or from a timer thread when writes pause), or at once when a reader in this
process is about to read (``flush``), so ``write_spans``'s contract holds: what it stored
is visible to readers when it returns, and durable (fsync'd, ``synchronous=FULL``) within
the commit interval. Committing once per interval instead of once per batch is what makes
ingest fast: a hot index page is written to the WAL once per commit, not once per batch.

Failures: a batch that fails is undone alone (the transaction is rolled back and the
earlier batches re-applied) and reported with ``StorageWriteError`` (the processor counts
it as dropped). If the transaction itself is lost (disk full at commit, an I/O error), the
batches already acknowledged in it are kept in memory and re-applied by the next attempt,
which backs off from the commit interval up to 10 s; meanwhile new batches are refused
with ``StorageWriteError``. Nothing crashes and nothing loops: the
next write (or the timer) simply tries again, so the writer recovers by itself when space
comes back or the directory becomes writable.

One process writes a data directory at a time: the writer holds an ``flock`` on
``writer.lock`` (released by the kernel if the process dies, even by SIGKILL). Writing
processes call ``prepare`` at start-up, before they accept spans: it checks the directory,
takes the lock and opens today's file, and raises ``StorageUnavailable`` with one line
naming the path and the reason. ``health`` says whether writes can be taken right now (no
lost transaction, the last write worked, the lock file is still ours).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spyglass.analytics.histogram import bucket_of
from spyglass.analytics.rollup import DEFAULT_TENANT, MINUTE_NS, EdgePairer
from spyglass.model import Span, StatusCode
from spyglass.storage.api import SpanWriter, StorageWriteError
from spyglass.storage.api.health import HEALTHY, Health, StorageUnavailable
from spyglass.storage.dependency_links import PEER_KINDS, peer_service_of
from spyglass.storage.sqlite import schema
from spyglass.storage.sqlite.compression import ChunkCompressor
from spyglass.storage.sqlite.days import DayDirectory, day_of, expired_days, remove_files
from spyglass.storage.sqlite.prepared import PreparedSpans
from spyglass.storage.sqlite.rollup import register_functions, write_service_tier
from spyglass.storage.sqlite.rows import encode_chunk
from spyglass.storage.sqlite.tagindex import Tokenizer, document
from spyglass.storage.sqlite.traceindex import TraceIndexWriter

log = logging.getLogger(__name__)

_I64 = 1 << 63
_U64 = 1 << 64
_HOUR = schema.HOUR_NS
_RETENTION_CHECK_SECONDS = 600.0
_MAX_BACKOFF = 10.0

_INSERT_CHUNK = "INSERT INTO chunks(id, trace_key, trace_hi, data) VALUES (?, ?, ?, ?)"
_INSERT_SPAN = ("INSERT OR IGNORE INTO spans(name_id, start, chunk, seq, duration, span_id, parent_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)")
_INSERT_TAGS = "INSERT INTO tags(rowid, words) VALUES (?, ?)"
_INSERT_PEER = "INSERT INTO peers(chunk, span_id, name_id, service) VALUES (?, ?, ?, ?)"
_INSERT_NAME = "INSERT INTO names(id, service, operation, kind) VALUES (?, ?, ?, ?)"
_INSERT_HOUR = "INSERT OR IGNORE INTO hours(hour) VALUES (?)"
_INSERT_DICT = "INSERT OR REPLACE INTO dicts(id, data) VALUES (?, ?)"
_SET_META = "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"
_UPSERT_RED = ("INSERT INTO red(minute, name_id, tenant, bucket, calls, errors) VALUES (?, ?, ?, ?, ?, ?) "
               "ON CONFLICT(name_id, minute, tenant, bucket) DO UPDATE SET "
               "calls = calls + excluded.calls, errors = errors + excluded.errors")
_UPSERT_EDGE = ("INSERT INTO edges(minute, parent, child, kind, tenant, calls, errors) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(minute, parent, child, kind, tenant) DO UPDATE SET "
                "calls = calls + excluded.calls, errors = errors + excluded.errors")
_UPSERT_EDGE_HOURLY = ("INSERT INTO edges_hourly(hour, parent, child, kind, tenant, calls, errors) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(hour, parent, child, kind, tenant) DO UPDATE SET "
                       "calls = calls + excluded.calls, errors = errors + excluded.errors")
_ERROR = StatusCode.ERROR


@dataclass(slots=True)
class _Batch:
    """The rows of one ``write_spans`` call, ready to insert (and to re-insert on retry)."""

    ops: list[tuple[str, list[tuple[object, ...]]]]
    keys: list[int]
    spans: int
    # the RED rollup, ((minute, name, bucket), (calls, errors)) items, summed and upserted at commit
    red: Iterable[tuple[tuple[int, int, int], Sequence[int]]] = ()


@dataclass(slots=True)
class _Day:
    """The open day file and the in-memory state that numbers its new rows."""

    day: str
    conn: sqlite3.Connection
    next_chunk: int = 1
    next_name: int = 1
    names: dict[tuple[str, str, int], int] = field(default_factory=dict)
    hours: set[int] = field(default_factory=set)
    compressor: ChunkCompressor = field(default_factory=ChunkCompressor)


class _BadValues(Exception):
    """A batch holds a value SQLite cannot store (an integer beyond 64 bits)."""


def describe(exc: BaseException) -> str:
    """A short, actionable reason for a write failure."""
    text = str(exc).lower()
    err = getattr(exc, "errno", None)
    if err == errno.ENOSPC or "disk is full" in text or "database or disk is full" in text:
        return "the disk is full"
    if err in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text or "read-only" in text \
            or "unable to open" in text or "permission" in text:
        return "the data directory is read-only or not writable"
    return str(exc)


class SqliteWriter(SpanWriter):
    def __init__(
        self,
        days: DayDirectory,
        *,
        commit_interval: float = 1.0,
        retention: float = 72 * 3600.0,
        clock: Callable[[], float] = time.time,
        cache_mb: int = 64,
        analytics: bool = True,
    ) -> None:
        self.days = days
        self.root = days.root
        self.commit_interval = commit_interval
        self.retention = retention
        self.clock = clock
        self.cache_mb = cache_mb
        self.index = TraceIndexWriter(self.root / "index.db")
        self._lock = threading.RLock()
        self._lock_fd: int | None = None
        self._ready = False
        self._day: _Day | None = None
        self._in_tx = False
        self._pending: list[_Batch] = []
        self._dirty = False  # something was written that readers cannot see yet
        self._pending_day = ""
        self._first_pending = 0.0
        self._broken: str | None = None
        self._failures = 0  # consecutive lost transactions: the retry backs off
        self._retry_at = 0.0
        self._logged_at = -1e18
        self._index_lag: set[str] = set()
        self._tokenizer = Tokenizer()
        self._last_retention = -1e18
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self.lost_spans = 0  # acknowledged spans that could never be committed (logged)
        self._last_error: str | None = None  # the last write_spans failed for a storage reason
        self._lock_lost: str | None = None  # writer.lock was removed or replaced under us
        self.analytics = analytics
        self._pairer = EdgePairer()  # dependency edges across batches (``spyglass.analytics.rollup``)

    # -- public -------------------------------------------------------------------------------
    def write_spans(self, spans: Sequence[Span]) -> None:
        if not spans:
            return
        with self._lock:
            self._verify_lock()  # a lost lock is its own state (``health``), not a write error
            try:
                self._write_spans(spans)
            except StorageWriteError as exc:
                self._last_error = str(exc)
                raise
            self._last_error = None

    def write_prepared(self, batches: Sequence[PreparedSpans]) -> None:
        """``write_spans`` for batches a collector worker prepared (``prepared.py``): the
        same transaction, commit and failure handling, without the per-span encoding."""
        if not batches:
            return
        with self._lock:
            self._verify_lock()
            try:
                self._write_spans(batches, prepared=True)  # type: ignore[arg-type]
            except StorageWriteError as exc:
                self._last_error = str(exc)
                raise
            self._last_error = None

    def _write_spans(self, spans: Sequence[Span], prepared: bool = False) -> None:
        """The body of ``write_spans`` (called under ``self._lock``)."""
        if self._stop.is_set():
            raise StorageWriteError("sqlite storage is closed")
        try:
            self._ensure_ready()
            if self._broken is not None:
                if time.monotonic() < self._retry_at:
                    raise StorageWriteError(f"sqlite storage cannot write to {self.root}: {self._broken} "
                                            f"(retrying in {self._retry_at - time.monotonic():.1f}s)")
                self._retry()
            self._ensure_day(day_of(self.clock()))
        except (sqlite3.Error, OSError) as exc:
            raise self._error(exc) from None
        day = self._day
        assert day is not None
        if prepared:
            batch = self._build_prepared(spans, day)  # type: ignore[arg-type]
            self._apply(batch, day)  # values were checked by the process that prepared them
        else:
            edges = self._edge_op(spans)
            batch = self._prepare(spans, day)
            batch.ops.extend(edges)
            try:
                self._apply(batch, day)
            except _BadValues as exc:
                good = [s for s in spans if _storable(s)]
                log.warning("dropping %d span(s) that cannot be stored (%s)", len(spans) - len(good), exc)
                batch = self._build(good, day)
                batch.ops.extend(edges)
                self._apply(batch, day)
        if not self._pending:
            self._first_pending = time.monotonic()
            self._pending_day = day.day
        self._pending.append(batch)
        self._dirty = True
        if time.monotonic() - self._first_pending >= self.commit_interval / 2:
            if not self._commit():
                # The transaction is gone; older batches are kept for the retry, this one
                # is reported so the caller counts it.
                self._pending.remove(batch)
                raise StorageWriteError(f"sqlite storage cannot write to {self.root}: {self._broken}")

    def flush(self) -> None:
        """Commit now if anything is pending (readers call this so they see every write).

        ``_dirty`` stays set until a commit has also updated the trace index, so a reader
        that arrives while another thread's commit is under way waits for it to finish."""
        if self._dirty:
            with self._lock:
                self._commit()

    def sync(self) -> bool:
        """Commit now; True when every span ``write_spans`` accepted so far is durable.

        The write-ahead log truncates and the ingester acknowledges JetStream on this, so a
        False (the transaction could not be committed) keeps their copies."""
        with self._lock:
            return self._commit() and not self._pending

    def close(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join(10)
        with self._lock:
            if self._pending:
                if self._broken is not None:
                    with contextlib.suppress(sqlite3.Error, OSError):
                        self._retry()
                else:
                    self._commit()
                if self._pending:
                    self._lose("the storage was closed while it could not write")
            if self._day is not None:
                self._day.conn.close()
                self._day = None
            self.index.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
            self._ready = False

    def prepare(self) -> None:
        """Check the directory, take the writer lock and open today's file now, so a
        process that cannot write fails at start-up instead of after acknowledging spans."""
        with self._lock:
            try:
                check_directory(self.root)
                if self._lock_fd is None:
                    self._lock_fd = self._take_lock()
                self._ensure_ready()
                self._ensure_day(day_of(self.clock()))
            except StorageUnavailable:
                raise
            except (sqlite3.Error, OSError, StorageWriteError) as exc:
                raise StorageUnavailable(
                    f"cannot write to data directory {os.path.abspath(self.root)}: {describe(exc)}") from None

    def health(self) -> Health:
        """Whether writes can be taken now; also notices (and repairs) a removed lock file."""
        if self._lock.acquire(timeout=0.05):  # a long write holds it: then the state below is recent
            try:
                if self._ready and not self._stop.is_set():
                    self._verify_lock(raise_error=False)
            finally:
                self._lock.release()
        if self._lock_lost:
            return Health(False, f"sqlite storage {self.root}: {self._lock_lost}")
        if self._broken:
            return Health(False, f"sqlite storage cannot write to {self.root}: {self._broken}")
        if self._last_error:
            return Health(False, self._last_error)
        return HEALTHY

    # -- start-up ---------------------------------------------------------------------------
    def _take_lock(self) -> int:
        path = self.root / "writer.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = f" (pid {int(os.pread(fd, 32, 0).split()[0])})"
            os.close(fd)
            raise StorageUnavailable(
                f"data directory {os.path.abspath(self.root)} is in use: another process{holder} is writing "
                f"to it (lock {os.path.abspath(path)}); only one writer per data directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def _verify_lock(self, raise_error: bool = True) -> None:
        """The lock protects only while ``writer.lock`` is the file we locked: if someone
        removed it, take a new one; if another process holds the new one, refuse writes."""
        fd = self._lock_fd
        if fd is None:
            return
        path = self.root / "writer.lock"
        try:
            st = os.stat(path)
            ours = os.fstat(fd)
            same = (st.st_dev, st.st_ino) == (ours.st_dev, ours.st_ino)
        except FileNotFoundError:
            same = False
        except OSError as exc:
            self._lock_lost = f"cannot check the writer lock {path}: {exc}"
            same = None
        if same:
            self._lock_lost = None
            return
        if same is False:
            try:
                new_fd = self._take_lock()
            except (StorageUnavailable, OSError) as exc:
                if self._lock_lost is None:
                    log.error("lost the writer lock of %s: %s", self.root, exc)
                self._lock_lost = f"lost the writer lock: {exc}"
            else:
                os.close(fd)
                self._lock_fd = new_fd
                log.warning("writer lock %s was removed; took it again", path)
                self._lock_lost = None
        if self._lock_lost and raise_error:
            raise StorageWriteError(self._lock_lost)

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        os.makedirs(self.root, exist_ok=True)
        if self._lock_fd is None:
            try:
                self._lock_fd = self._take_lock()
            except StorageUnavailable as exc:
                raise StorageWriteError(str(exc)) from None
        self.index.open()
        self._reconcile_all()
        self._ready = True
        if self._timer is None:
            self._timer = threading.Thread(target=self._run_timer, name="spyglass-sqlite-commit", daemon=True)
            self._timer.start()
        self._retention()

    def _reconcile_all(self) -> None:
        """Index what a crash (or a lost index) left unindexed, from the day files."""
        marks = self.index.high_water_marks()
        for day in self.days.days(refresh=True):
            try:
                conn = schema.connect(self.days.path(day), cache_mb=8)
            except sqlite3.Error:
                continue
            try:
                schema.check_format(conn, schema.FORMAT)
                last = conn.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0
                if last > marks.get(day, -1) or day not in marks:
                    self._reindex(day, conn, marks.get(day, 0))
            except (sqlite3.DatabaseError, schema.ForeignFile) as exc:
                log.debug("not reconciling %s: %s", day, exc)
            finally:
                conn.close()

    def _reindex(self, day: str, conn: sqlite3.Connection, after: int) -> None:
        rows = conn.execute("SELECT id, trace_key FROM chunks WHERE id > ?", (after,)).fetchall()
        last = max((r[0] for r in rows), default=after)
        self.index.add(day, (r[1] for r in rows), last, self._hour())
        if rows:
            log.info("indexed %d chunks of %s that the trace index had missed", len(rows), day)

    # -- the day file --------------------------------------------------------------------------
    def _ensure_day(self, day: str) -> None:
        current = self._day
        if current is not None and current.day == day:
            return
        inherited = None
        if current is not None:
            if self._pending and not self._commit():
                raise StorageWriteError(f"sqlite storage cannot write to {self.root}: {self._broken}")
            inherited = current.compressor.dictionary
            current.conn.close()
            self._day = None
        self._day = self._open_day(day, inherited)
        self.days.invalidate()
        self._retention()

    def _open_day(self, day: str, inherited: tuple[int, bytes] | None) -> _Day:
        path = self.days.path(day)
        for attempt in (1, 2):
            conn = None
            try:
                if not path.exists() or path.stat().st_size == 0:
                    self._create_day_file(day, path, inherited)
                conn = schema.connect(path, cache_mb=self.cache_mb, mmap_mb=schema.DAY_MMAP_MB)
                schema.init_writer(conn)
                register_functions(conn)
                schema.check_format(conn, schema.FORMAT)
                conn.execute(schema.PEERS_TABLE)  # files from before the table existed
                schema.ensure_rollup(conn)
                return self._load_day(day, conn)
            except (sqlite3.OperationalError, OSError):
                if conn is not None:
                    conn.close()
                raise  # read-only, full, I/O: the caller reports it
            except (sqlite3.DatabaseError, schema.ForeignFile) as exc:
                if conn is not None:
                    conn.close()
                if attempt == 2:
                    raise
                aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
                log.error("day file %s is unusable (%s); moving it to %s and starting a new one", path, exc, aside)
                self.days.close_day(day)
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(f"{path}{suffix}"):
                        os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        raise AssertionError("unreachable")

    @staticmethod
    def _create_day_file(day: str, path: Path, inherited: tuple[int, bytes] | None) -> None:
        """Build a new day file under a temporary name and rename it into place, so no
        reader ever opens a half-made file (and takes it for a foreign one)."""
        tmp = path.with_name(path.name + ".new")
        remove_files(tmp)
        conn = schema.connect(tmp, create=True, cache_mb=8)
        try:
            schema.init_writer(conn)
            schema.create_day(conn, day)
            if inherited is not None:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(_INSERT_DICT, inherited)
                conn.execute(_SET_META, ("dict", inherited[0]))
                conn.execute("COMMIT")
        finally:
            conn.close()  # the last connection: the WAL is checkpointed into the file and removed
        remove_files(path)  # only ever an empty leftover here
        os.replace(tmp, path)

    @staticmethod
    def _load_day(day: str, conn: sqlite3.Connection) -> _Day:
        """Rebuild the in-memory numbering from what the file holds (at open and after a
        lost transaction, so nothing refers to rows that were rolled back)."""
        state = _Day(day, conn)
        state.next_chunk = (conn.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0) + 1
        for nid, service, operation, kind in conn.execute("SELECT id, service, operation, kind FROM names"):
            state.names[(service, operation, kind)] = nid
            state.next_name = max(state.next_name, nid + 1)
        state.hours = {r[0] for r in conn.execute("SELECT hour FROM hours")}
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('dict', 'trained')").fetchall())
        dictionary = None
        if meta.get("dict") is not None:
            row = conn.execute("SELECT data FROM dicts WHERE id = ?", (meta["dict"],)).fetchone()
            if row is not None:
                dictionary = (int(meta["dict"]), row[0])
        state.compressor = ChunkCompressor(dictionary, train=not meta.get("trained"))
        return state

    # -- batches ---------------------------------------------------------------------------------
    def _prepare(self, spans: Sequence[Span], day: _Day) -> _Batch:
        try:
            return self._build(spans, day)
        except (OverflowError, TypeError, ValueError) as exc:
            good = [s for s in spans if _storable(s)]
            log.warning("dropping %d span(s) that cannot be stored (%s)", len(spans) - len(good), exc)
            return self._build(good, day)

    def _edge_op(self, spans: Sequence[Span]) -> list[tuple[str, list[tuple[object, ...]]]]:
        """The dependency edges this batch completes, as one upsert (none without analytics)."""
        if not self.analytics:
            return []
        try:
            edges = self._pairer.edges(spans)
        except (OverflowError, TypeError, ValueError) as exc:  # never fail a write over the rollup
            log.warning("dependency rollup skipped a batch: %s", exc)
            return []
        if not edges:
            return []
        hourly: dict[tuple[int, str, str, str, str], list[int]] = {}
        for (tenant, minute, parent, child, kind), (calls, errors) in edges.items():
            row = hourly.setdefault((minute // 60, parent, child, kind, tenant), [0, 0])
            row[0] += calls
            row[1] += errors
        return [(_UPSERT_EDGE, [(k[1], k[2], k[3], k[4], k[0], v[0], v[1]) for k, v in edges.items()]),
                (_UPSERT_EDGE_HOURLY, [(*k, *v) for k, v in hourly.items()])]

    def _build(self, spans: Sequence[Span], day: _Day) -> _Batch:
        groups: dict[int, list[Span]] = {}
        for s in spans:
            group = groups.get(s.trace_id)
            if group is None:
                groups[s.trace_id] = [s]
            else:
                group.append(s)
        chunk_rows: list[tuple[object, ...]] = []
        span_rows: list[tuple[object, ...]] = []
        tag_rows: list[tuple[object, ...]] = []
        peer_rows: list[tuple[object, ...]] = []
        name_rows: list[tuple[object, ...]] = []
        extra: list[tuple[str, list[tuple[object, ...]]]] = []
        keys: list[int] = []
        names = day.names
        next_name = day.next_name
        hours: set[int] = set()
        red: dict[tuple[int, int, int], list[int]] = {}
        analytics = self.analytics
        tokenizer = self._tokenizer
        tokenizer.new_batch()
        compress = day.compressor.compress
        cid = day.next_chunk
        for trace_id, group in groups.items():
            blob, trained = compress(encode_chunk(group))
            if trained is not None:
                extra.append((_INSERT_DICT, [trained]))
                extra.append((_SET_META, [("dict", trained[0]), ("trained", 1)]))
            high = trace_id >> 64
            key = (trace_id ^ high) & (_U64 - 1)  # schema.trace_key, inlined
            key = key - _U64 if key >= _I64 else key
            chunk_rows.append((cid, key, high - _U64 if high >= _I64 else high, blob))
            keys.append(key)
            words: set[int] = set()
            seq = 0
            for s in group:
                name_key = (s.resource.service_name, s.name, int(s.kind))
                nid = names.get(name_key)
                if nid is None:
                    nid = names[name_key] = next_name
                    next_name += 1
                    name_rows.append((nid, *name_key))
                start = s.start_time_ns
                sid = s.span_id
                pid = s.parent_span_id
                span_rows.append((nid, start, cid, seq, s.duration_ns, sid - _U64 if sid >= _I64 else sid,
                                  pid - _U64 if pid >= _I64 else pid))
                if s.kind in PEER_KINDS:
                    peer = peer_service_of(s)
                    if peer:
                        peer_rows.append((cid, sid - _U64 if sid >= _I64 else sid, nid, peer))
                hours.add(start // _HOUR)
                if analytics:  # the RED rollup: (minute, name, bucket) -> [calls, errors]
                    rkey = (start // MINUTE_NS, nid, bucket_of(s.duration_ns))
                    rrow = red.get(rkey)
                    if rrow is None:
                        rrow = red[rkey] = [0, 0]
                    rrow[0] += 1
                    if s.status.code is _ERROR:
                        rrow[1] += 1
                tokenizer.span_words(s, words)
                seq += 1
            tag_rows.append((cid, document(words)))
            cid += 1
        ops = _day_ops(day, name_rows, extra, chunk_rows, span_rows, tag_rows, peer_rows, hours, next_name, cid)
        return _Batch(ops, keys, len(spans), red.items())

    def _build_prepared(self, items: Sequence[PreparedSpans], day: _Day) -> _Batch:
        """Number the prepared rows for this day file and compress the chunks."""
        chunk_rows: list[tuple[object, ...]] = []
        span_rows: list[tuple[object, ...]] = []
        tag_rows: list[tuple[object, ...]] = []
        peer_rows: list[tuple[object, ...]] = []
        name_rows: list[tuple[object, ...]] = []
        extra: list[tuple[str, list[tuple[object, ...]]]] = []
        keys: list[int] = []
        names = day.names
        next_name = day.next_name
        hours: set[int] = set()
        red: list[tuple[tuple[int, int, int], tuple[int, int]]] = []
        compress = day.compressor.compress
        cid = day.next_chunk
        edge_spans = []
        count = 0
        for item in items:
            ids = []
            for service, operation, kind in item.names:
                name_key = (service, operation, kind)
                nid = names.get(name_key)
                if nid is None:
                    nid = names[name_key] = next_name
                    next_name += 1
                    name_rows.append((nid, *name_key))
                ids.append(nid)
            for high, key, raw, words, rows, peers in item.chunks:
                blob, trained = compress(raw)
                if trained is not None:
                    extra.append((_INSERT_DICT, [trained]))
                    extra.append((_SET_META, [("dict", trained[0]), ("trained", 1)]))
                chunk_rows.append((cid, key, high, blob))
                keys.append(key)
                span_rows.extend([(ids[n], start, cid, seq, dur, sid, pid) for n, start, seq, dur, sid, pid in rows])
                if peers:
                    peer_rows.extend([(cid, sid, ids[n], peer) for sid, n, peer in peers])
                tag_rows.append((cid, words))
                cid += 1
            hours.update(item.hours)
            if self.analytics:  # summed once, at commit (``_write_rollup``)
                red.extend([((minute, ids[n], bucket), (calls, errors)) for minute, n, bucket, calls, errors in item.red])
                edge_spans.extend(item.edge_spans())
            count += item.count
        ops = _day_ops(day, name_rows, extra, chunk_rows, span_rows, tag_rows, peer_rows, hours, next_name, cid)
        ops.extend(self._edge_op(edge_spans))  # type: ignore[arg-type]
        return _Batch(ops, keys, count, red)

    def _apply(self, batch: _Batch, day: _Day) -> None:
        """Insert one batch into the open transaction: all of it or none of it.

        No savepoint per batch (FTS5 flushes its buffer at every savepoint, which would cost
        ~10% of ingest and fragment the tag index): if a batch fails half-way, the whole
        transaction is rolled back and the earlier, acknowledged batches are applied again.
        """
        conn = day.conn
        try:
            if not self._in_tx:
                conn.execute("BEGIN IMMEDIATE")
                self._in_tx = True
            for sql, rows in batch.ops:
                conn.executemany(sql, rows)
        except (sqlite3.Error, OverflowError) as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self._in_tx = False
            try:
                conn.execute("BEGIN IMMEDIATE")
                self._in_tx = True
                for held in self._pending:
                    for sql, rows in held.ops:
                        conn.executemany(sql, rows)
                self._reload_numbering(day)
            except sqlite3.Error as again:
                self._fail(again)
                raise StorageWriteError(f"sqlite storage cannot write to {self.root}: {self._broken}") from None
            if isinstance(exc, OverflowError):
                raise _BadValues(str(exc)) from None
            raise StorageWriteError(f"sqlite storage cannot write to {self.root}: {describe(exc)}") from None

    def _reload_numbering(self, day: _Day) -> None:
        """After a batch was undone, forget the names and hours it introduced."""
        conn = day.conn
        day.next_chunk = (conn.execute("SELECT max(id) FROM chunks").fetchone()[0] or 0) + 1
        day.names = {(s, o, k): nid for nid, s, o, k in conn.execute("SELECT id, service, operation, kind FROM names")}
        day.next_name = max(day.names.values(), default=0) + 1
        day.hours = {r[0] for r in conn.execute("SELECT hour FROM hours")}
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('dict', 'trained')").fetchall())
        if day.compressor.dictionary is not None and meta.get("dict") != day.compressor.dictionary[0]:
            fresh = self._load_day(day.day, conn)
            day.compressor = fresh.compressor

    # -- commits -------------------------------------------------------------------------------------
    def _commit(self) -> bool:
        """Commit the open transaction, then index its trace keys. False if the commit failed."""
        if not self._pending or self._broken is not None or self._day is None:
            if self._broken is None:
                self._dirty = False
            return self._broken is None
        day = self._day
        try:
            if self._in_tx:
                self._write_rollup(day.conn, self._pending, day.names)
                day.conn.execute("COMMIT")
                self._in_tx = False
        except sqlite3.Error as exc:
            self._fail(exc)
            return False
        batches, self._pending = self._pending, []
        self._index(day, [k for b in batches for k in b.keys])
        self._dirty = False
        return True

    def _index(self, day: _Day, keys: list[int]) -> None:
        """Index the keys just committed; first catch up on any day the index fell behind on."""
        try:
            for behind in sorted(self._index_lag - {day.day}):
                self._catch_up(behind)
            if day.day in self._index_lag:
                self._reindex(day.day, day.conn, self.index.high_water_marks().get(day.day, 0))
                self._index_lag.discard(day.day)
            else:
                self.index.add(day.day, keys, day.next_chunk - 1, self._hour())
        except sqlite3.Error as exc:
            # Readers still find these traces (a lagging day is probed directly); the gap is
            # filled from the day file at the next commit or start-up.
            log.warning("trace index update failed (%s); will catch up from %s", exc, day.day)
            self._index_lag.add(day.day)

    def _catch_up(self, day: str) -> None:
        conn = schema.connect(self.days.path(day), cache_mb=8)
        try:
            self._reindex(day, conn, self.index.high_water_marks().get(day, 0))
        finally:
            conn.close()
        self._index_lag.discard(day)

    @staticmethod
    def _write_rollup(conn: sqlite3.Connection, batches: list[_Batch],
                      names: dict[tuple[str, str, int], int]) -> None:
        """Upsert the RED rows of ``batches``, summed, just before the commit that stores
        them: summing a whole commit's batches first makes a few rows per (minute,
        operation, bucket) instead of one per batch (the rollup costs ingest little), and
        the rows still commit in the spans' transaction."""
        total: dict[tuple[int, int, int], list[int]] = {}
        for batch in batches:
            for key, (calls, errors) in batch.red:
                row = total.get(key)
                if row is None:
                    total[key] = [calls, errors]
                else:
                    row[0] += calls
                    row[1] += errors
        if total:
            conn.executemany(_UPSERT_RED, [(m, n, DEFAULT_TENANT, b, c, e) for (m, n, b), (c, e) in total.items()])
            write_service_tier(conn, total, names, DEFAULT_TENANT)

    def _fail(self, exc: BaseException) -> None:
        """The open transaction is lost: roll back, drop the connection, keep acknowledged
        batches for the retry."""
        self._broken = describe(exc)
        self._failures += 1
        now = time.monotonic()
        # Each retry re-applies everything held, so retries back off (up to 10 s) instead
        # of running on every incoming batch; the log says it once a minute, not each time.
        self._retry_at = now + min(self.commit_interval * 2 ** min(self._failures - 1, 10), _MAX_BACKOFF)
        if now - self._logged_at >= 60 or self._failures == 1:
            self._logged_at = now
            log.error("sqlite storage cannot write to %s: %s (%s); %d acknowledged span(s) held for retry",
                      self.root, self._broken, exc, sum(b.spans for b in self._pending))
        day = self._day
        self._in_tx = False
        if day is not None:
            with contextlib.suppress(sqlite3.Error):
                day.conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                day.conn.close()
            self._day = None

    def _retry(self) -> None:
        """Re-open the day file, re-apply the held batches and commit them (raises on failure)."""
        pending = self._pending
        day_name = self._pending_day if pending else day_of(self.clock())
        if self._day is not None and self._day.day != day_name:
            self._day.conn.close()
            self._day = None
        if self._day is None:
            self._day = self._open_day(day_name, None)
        day = self._day
        try:
            day.conn.execute("BEGIN IMMEDIATE")
            for batch in pending:
                for sql, rows in batch.ops:
                    day.conn.executemany(sql, rows)
            self._write_rollup(day.conn, pending, day.names)
            day.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                day.conn.execute("ROLLBACK")
            self._fail(exc)
            raise
        self._broken = None
        self._failures = 0
        self._in_tx = False
        self._pending = []
        fresh = self._load_day(day.day, day.conn)
        self._day = fresh
        log.warning("sqlite storage writes again to %s; %d held span(s) committed", self.root,
                    sum(b.spans for b in pending))
        self._index(fresh, [k for b in pending for k in b.keys])

    def _lose(self, why: str) -> None:
        lost = sum(b.spans for b in self._pending)
        self.lost_spans += lost
        log.error("lost %d acknowledged span(s): %s", lost, why)
        self._pending = []
        self._in_tx = False

    # -- background ----------------------------------------------------------------------------------
    def _run_timer(self) -> None:
        step = max(self.commit_interval / 4, 0.005)
        while not self._stop.wait(step):
            try:
                with self._lock:
                    if self._stop.is_set():
                        return
                    if self._broken is not None:
                        if self._pending and time.monotonic() >= self._retry_at:
                            with contextlib.suppress(sqlite3.Error, OSError):
                                self._retry()
                    elif self._pending and time.monotonic() - self._first_pending >= self.commit_interval / 2:
                        self._commit()
                    if time.monotonic() - self._last_retention >= _RETENTION_CHECK_SECONDS:
                        self._retention()
            except Exception:  # the timer must survive anything
                log.exception("sqlite commit timer")

    def _retention(self) -> None:
        """Delete every day file whose whole day is older than the retention period."""
        self._last_retention = time.monotonic()
        if self.retention <= 0:
            return
        current = self._day.day if self._day is not None else None
        for day in expired_days(_all_day_names(self.root), self.clock(), self.retention):
            if day == current:
                continue
            self.days.close_day(day)
            try:
                remove_files(self.days.path(day))
                self.index.drop(day)
            except (OSError, sqlite3.Error) as exc:  # retried at the next check; never fails a write
                log.warning("retention could not delete %s: %s", self.days.path(day), exc)
                continue
            log.info("retention: deleted %s", self.days.path(day))
        self.days.invalidate()

    def _hour(self) -> int:
        return int(self.clock() // 3600) % 24

    def _error(self, exc: BaseException) -> StorageWriteError:
        if isinstance(exc, StorageWriteError):
            return exc
        return StorageWriteError(f"sqlite storage cannot write to {self.root}: {describe(exc)} ({exc})")


def check_directory(root: Path) -> None:
    """Raise ``StorageUnavailable`` unless ``root`` is (or can be made) a directory this
    process can write to; the message names the path and the reason."""
    path = os.path.abspath(root)
    if root.exists() and not root.is_dir():
        raise StorageUnavailable(f"data directory {path} is not a directory (it is a file)")
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        raise StorageUnavailable(f"cannot create data directory {path}: {exc.strerror or exc}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise StorageUnavailable(f"data directory {path} is not writable by this user (uid {os.getuid()})")


def _all_day_names(root: Path) -> list[str]:
    """Every ``YYYY-MM-DD.db`` in the directory, valid or not (expired corrupt files go too)."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    out = []
    for name in names:
        if len(name) == 13 and name.endswith(".db") and name[4] == "-" and name[7] == "-" and name[:4].isdigit():
            try:
                time.strptime(name[:10], "%Y-%m-%d")
            except ValueError:
                continue
            out.append(name[:10])
    return sorted(out)


def _storable(span: Span) -> bool:
    """Whether one span fits the storage's integer ranges and encodes."""
    try:
        for value in (span.start_time_ns, span.duration_ns):
            if not schema.INT64_MIN <= value <= schema.INT64_MAX:
                return False
        if not (0 <= span.trace_id < 1 << 128 and 0 <= span.span_id < _U64 and 0 <= span.parent_span_id < _U64):
            return False
        encode_chunk([span])
    except (OverflowError, TypeError, ValueError):
        return False
    return True


_Rows = list[tuple[object, ...]]


def _day_ops(day: _Day, name_rows: _Rows, extra: list[tuple[str, _Rows]], chunk_rows: _Rows, span_rows: _Rows,
             tag_rows: _Rows, peer_rows: _Rows, hours: set[int], next_name: int,
             next_chunk: int) -> list[tuple[str, _Rows]]:
    """A batch's inserts in their order (names and dictionaries before the rows naming
    them); then, only now that every row is built, the day's numbering advances."""
    ops: list[tuple[str, _Rows]] = []
    if name_rows:
        ops.append((_INSERT_NAME, name_rows))
    ops.extend(extra)
    ops.append((_INSERT_CHUNK, chunk_rows))
    ops.append((_INSERT_SPAN, span_rows))
    ops.append((_INSERT_TAGS, tag_rows))
    if peer_rows:
        ops.append((_INSERT_PEER, peer_rows))
    new_hours = hours - day.hours
    if new_hours:
        ops.append((_INSERT_HOUR, [(h,) for h in new_hours]))
    day.next_chunk = next_chunk
    day.next_name = next_name
    day.hours |= new_hours
    return ops
