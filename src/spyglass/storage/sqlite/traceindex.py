"""The trace-ID -> day index (``index.db``), so a trace lookup opens only the right days.

One table per day, ``d_YYYYMMDD(hour, trace_key)``, holds the trace keys written that day,
by the UTC hour in which they were written (so new random keys go into a small key range,
see ``schema.py``); a lookup is one ``UNION ALL`` of 24 primary-key probes per day in one
connection, and expiring a day is a ``DROP TABLE``. The day files stay the source of truth (each has its
own trace-key index): the index is written *after* the day file commits, with a per-day
high-water mark (the last chunk ID indexed), so a crash between the two commits leaves the
index behind, never ahead, and the writer fills the gap at start-up from the day file. If
the index is missing, corrupt or lagging for a day, readers probe every day file instead:
slower, never wrong.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from spyglass.storage.sqlite import schema

log = logging.getLogger(__name__)

_MAX_UNION = 400  # SQLite allows 500 terms in one compound SELECT


class TraceIndexWriter:
    """The writer's connection to ``index.db`` (used under the writer's lock only)."""

    def __init__(self, path: Path, cache_mb: int = 32) -> None:
        self.path = path
        self.cache_mb = cache_mb
        self.conn: sqlite3.Connection | None = None
        self.rebuilt = False

    def open(self) -> sqlite3.Connection:
        """Open (creating if needed) the index; a corrupt or foreign file is moved aside and
        a new one started (``rebuilt`` is then True, and the caller re-indexes every day)."""
        if self.conn is not None:
            return self.conn
        fresh = not self.path.exists()
        try:
            conn = self._open()
        except (sqlite3.DatabaseError, schema.ForeignFile) as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error("trace index %s is unusable (%s); moving it to %s and rebuilding it", self.path, exc, aside)
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(f"{self.path}{suffix}"):
                    os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
            conn = self._open()
            fresh = True
        self.rebuilt = fresh
        self.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = schema.connect(self.path, create=True, cache_mb=self.cache_mb)
        try:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                schema.init_writer(conn)
                schema.create_index(conn)
            else:
                schema.init_writer(conn)
            schema.check_format(conn, schema.INDEX_FORMAT)
        except BaseException:
            conn.close()
            raise
        return conn

    def high_water_marks(self) -> dict[str, int]:
        return dict(self.open().execute("SELECT day, chunk FROM hwm").fetchall())

    def add(self, day: str, keys: Iterable[int], hwm: int, hour: int) -> None:
        """Record that ``keys`` were written on ``day`` (in UTC ``hour``), up to chunk
        ``hwm``: one transaction."""
        conn = self.open()
        table = schema.day_table(day)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table}(hour INTEGER NOT NULL, trace_key INTEGER NOT NULL, "
                         "PRIMARY KEY(hour, trace_key)) WITHOUT ROWID")
            conn.executemany(f"INSERT OR IGNORE INTO {table}(hour, trace_key) VALUES ({hour}, ?)",
                             ((k,) for k in sorted(set(keys))))
            conn.execute("INSERT OR REPLACE INTO hwm(day, chunk) VALUES (?, ?)", (day, hwm))
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def drop(self, day: str) -> None:
        conn = self.open()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"DROP TABLE IF EXISTS {schema.day_table(day)}")
            conn.execute("DELETE FROM hwm WHERE day = ?", (day,))
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        conn.execute("PRAGMA incremental_vacuum")

    def _rollback(self) -> None:
        if self.conn is not None:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class TraceIndexReader:
    """Per-thread lookups in ``index.db``; ``None`` means "unknown: probe every day"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._warned = False
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []

    def _conn(self) -> sqlite3.Connection | None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = schema.connect(self.path, cache_mb=8)
                conn.execute("PRAGMA query_only=1")
                schema.check_format(conn, schema.INDEX_FORMAT)
            except (sqlite3.Error, schema.ForeignFile) as exc:
                if self.path.exists() and not self._warned:
                    self._warned = True
                    log.warning("trace index %s unusable (%s); trace lookups probe every day file", self.path, exc)
                return None
            self._local.conn = conn
            self._local.version = None
            with self._lock:
                self._conns.append(conn)
        return conn

    def _statements(self, conn: sqlite3.Connection) -> tuple[list[str], frozenset[str]]:
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        if version != self._local.version:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'd_[0-9]*'")]
            days = sorted(f"{t[2:6]}-{t[6:8]}-{t[8:10]}" for t in tables)
            statements = []
            for i in range(0, len(days), _MAX_UNION):
                part = days[i:i + _MAX_UNION]
                statements.append(" UNION ALL ".join(
                    f"SELECT '{d}', trace_key FROM {schema.day_table(d)} WHERE hour IN ({schema.HOURS}) "
                    "AND trace_key IN (SELECT value FROM json_each(?1))"
                    for d in part))
            self._local.version = version
            self._local.statements = statements
            # A day gets its high-water mark in the transaction that creates its table.
            self._local.indexed = frozenset(r[0] for r in conn.execute("SELECT day FROM hwm"))
        return self._local.statements, self._local.indexed

    def days_of(self, key: int) -> tuple[list[str], frozenset[str]] | None:
        """The days whose table holds ``key``, and the set of days the index covers (a day
        it does not cover must be probed directly)."""
        found = self.days_of_keys([key])
        return None if found is None else (found[0].get(key, []), found[1])

    def days_of_keys(self, keys: Iterable[int]) -> tuple[dict[int, list[str]], frozenset[str]] | None:
        """``days_of`` for many keys at once: the days per key (keys in no day are left
        out), one statement for all of them (a search checking hundreds of candidate
        traces would otherwise pay 24 probes per day file for each one, one at a time)."""
        conn = self._conn()
        if conn is None:
            return None
        wanted = "[" + ",".join(str(k) for k in set(keys)) + "]"
        try:
            statements, indexed = self._statements(conn)
            found: dict[int, set[str]] = {}
            for sql in statements:
                for day, key in conn.execute(sql, (wanted,)):
                    found.setdefault(key, set()).add(day)
            return {key: sorted(days) for key, days in found.items()}, indexed
        except sqlite3.Error as exc:
            if not self._warned:
                self._warned = True
                log.warning("trace index %s lookup failed (%s); probing every day file", self.path, exc)
            return None

    def high_water_mark(self, day: str) -> int | None:
        """The last chunk of ``day`` the index covers (None: unknown)."""
        conn = self._conn()
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT chunk FROM hwm WHERE day = ?", (day,)).fetchone()
        except sqlite3.Error:
            return None
        return None if row is None else row[0]

    def close(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
