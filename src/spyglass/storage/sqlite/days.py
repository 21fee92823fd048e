"""The data directory: one WAL database file per UTC day, opened lazily, expired whole.

Spans go into the file of the UTC day on which they were *written* (``YYYY-MM-DD.db``), so
retention is Jaeger's "time since ingestion" and a span with a wild timestamp cannot create
a file for 1970 or 2100. Each file records the hours in which its spans *start* (the
``hours`` table), which is what searches use to skip files. Retention deletes a day file
once its whole day is older than the retention period (so data is kept at least that long
and at most one day more); the disk space comes back when the file is deleted, because
every connection this process has to it is closed first.

Readers get one connection per thread per day (SQLite connections are not shared across
threads), opened on first use. Anything in the directory that is not a valid day file --
a corrupt file, someone else's SQLite database, a stray text file -- is logged once and
skipped; it never stops Spyglass.
"""

from __future__ import annotations

import calendar
import contextlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spyglass.storage.sqlite import schema
from spyglass.storage.sqlite.compression import Decompressors

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400
_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.db$")
_KNOWN = re.compile(
    r"^(\d{4}-\d{2}-\d{2}\.db(\.new)?(-wal|-shm|-journal)?|index\.db(-wal|-shm|-journal)?|writer\.lock|archive|queue|tenants"
    r"|.*\.corrupt-\d+(-wal|-shm)?)$")
_RELIST_SECONDS = 1.0


def day_of(seconds: float) -> str:
    """The UTC day (``YYYY-MM-DD``) of a Unix time."""
    return time.strftime("%Y-%m-%d", time.gmtime(seconds))


def day_start(day: str) -> int:
    """The Unix time at which ``day`` begins (UTC)."""
    return calendar.timegm(time.strptime(day, "%Y-%m-%d"))


def expired_days(days: list[str], now: float, retention_seconds: float) -> list[str]:
    """Days whose every span was written more than ``retention_seconds`` ago."""
    if retention_seconds <= 0:
        return []
    return [d for d in days if day_start(d) + DAY_SECONDS + retention_seconds <= now]


def remove_files(path: Path) -> None:
    """Delete a database with its WAL and shared-memory files (missing ones are fine)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


@dataclass(slots=True)
class Names:
    """The ``names`` table of one day, cached in memory and refreshed by ID (it only grows)."""

    max_id: int = 0
    by_id: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    by_service: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)  # (operation, kind, id)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, conn: sqlite3.Connection) -> None:
        rows = conn.execute("SELECT id, service, operation, kind FROM names WHERE id > ? ORDER BY id",
                            (self.max_id,)).fetchall()
        if not rows:
            return
        with self.lock:
            for nid, service, operation, kind in rows:
                if nid in self.by_id:
                    continue
                self.by_id[nid] = (service, operation, kind)
                self.by_service.setdefault(service, []).append((operation, kind, nid))
                self.max_id = max(self.max_id, nid)

    def ids(self, service: str, operation: str) -> list[int]:
        """Name IDs of ``service`` (all services when empty) and ``operation`` (any when empty)."""
        with self.lock:
            if service:
                entries = list(self.by_service.get(service, ()))
            else:
                entries = [e for es in self.by_service.values() for e in es]
        return [nid for op, _, nid in entries if not operation or op == operation]


class _Handle:
    """One thread's connection to one day file, with a lock so retention can close it."""

    __slots__ = ("conn", "lock", "closed")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.closed = False


class DayDirectory:
    """Lists, opens and validates the day files of one data directory (reader side)."""

    def __init__(self, root: Path, *, cache_mb: int = 16, mmap_mb: int = schema.DAY_MMAP_MB) -> None:
        self.root = root
        self.cache_mb = cache_mb
        self.mmap_mb = mmap_mb
        self._lock = threading.Lock()
        self._days: list[str] = []
        self._listed_at = -1e18
        self._bad: dict[str, tuple[int, int]] = {}  # file name -> (inode, mtime) when found bad
        self._reported: set[str] = set()
        self._local = threading.local()
        self._handles: dict[str, list[_Handle]] = {}
        self._names: dict[str, Names] = {}
        self._decompressors: dict[str, Decompressors] = {}

    def path(self, day: str) -> Path:
        return self.root / f"{day}.db"

    # -- listing --------------------------------------------------------------------------
    def days(self, *, refresh: bool = False) -> list[str]:
        """The valid-looking day files, oldest first (re-read at most once a second)."""
        now = time.monotonic()
        if refresh or now - self._listed_at > _RELIST_SECONDS:
            try:
                entries = os.listdir(self.root)
            except FileNotFoundError:
                entries = []
            except OSError as exc:
                self._report("<dir>", f"cannot list data directory {self.root}: {exc}")
                entries = []
            days = []
            for name in entries:
                m = _DAY_FILE.match(name)
                if m and not self._still_bad(name):
                    days.append(m.group(1))
                elif not _KNOWN.match(name):
                    self._report(name, f"ignoring unknown file {self.root / name}")
            days.sort()
            with self._lock:
                gone = set(self._days) - set(days)
                self._days = days
                self._listed_at = now
            for day in gone & set(self._handles):
                self.close_day(day)  # deleted by retention (maybe in another process): free its space
        return list(self._days)

    def invalidate(self) -> None:
        """Re-read the directory at the next ``days()`` (after this process changed it)."""
        self._listed_at = -1e18

    def _report(self, key: str, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.warning("%s", message)

    def _still_bad(self, name: str) -> bool:
        known = self._bad.get(name)
        if known is None:
            return False
        try:
            st = os.stat(self.root / name)
        except OSError:
            return True
        if (st.st_ino, st.st_mtime_ns) == known:
            return True
        self._bad.pop(name, None)  # replaced or changed since: look again
        self._reported.discard(name)
        return False

    def mark_bad(self, day: str, reason: str) -> None:
        """Skip this day file from now on (until it changes on disk), logging why once."""
        name = f"{day}.db"
        try:
            st = os.stat(self.root / name)
            self._bad[name] = (st.st_ino, st.st_mtime_ns)
        except OSError:
            self._bad[name] = (0, 0)
        self._report(name, f"skipping {self.root / name}: {reason}")
        self.invalidate()

    # -- connections ------------------------------------------------------------------------
    def _handle(self, day: str) -> _Handle | None:
        cache: dict[str, _Handle] | None = getattr(self._local, "handles", None)
        if cache is None:
            cache = self._local.handles = {}
        handle = cache.get(day)
        if handle is not None and not handle.closed:
            return handle
        path = self.path(day)
        try:
            conn = schema.connect(path, cache_mb=self.cache_mb, mmap_mb=self.mmap_mb)
        except sqlite3.Error as exc:
            if path.exists():
                self.mark_bad(day, f"cannot open: {exc}")
            return None
        try:
            conn.execute("PRAGMA query_only=1")
            schema.check_format(conn, schema.FORMAT)
        except sqlite3.OperationalError as exc:  # locked, I/O error: try again next time
            conn.close()
            log.warning("cannot read %s now: %s", path, exc)
            return None
        except (sqlite3.DatabaseError, schema.ForeignFile) as exc:  # corrupt or not ours: skip it
            conn.close()
            self.mark_bad(day, str(exc))
            return None
        handle = cache[day] = _Handle(conn)
        with self._lock:
            self._handles.setdefault(day, []).append(handle)
        return handle

    @contextlib.contextmanager
    def hold(self, day: str) -> Iterator[sqlite3.Connection | None]:
        """This thread's connection to ``day`` (None when the file is missing or not valid),
        held so retention cannot close it mid-query."""
        handle = self._handle(day)
        if handle is None:
            yield None
            return
        with handle.lock:
            yield None if handle.closed else handle.conn

    @contextlib.contextmanager
    def reading(self, day: str) -> Iterator[sqlite3.Connection | None]:
        """``hold``, with database errors inside reported and swallowed: one broken file
        must not fail a whole search."""
        with self.hold(day) as conn:
            try:
                yield conn
            except sqlite3.DatabaseError as exc:
                self.report(day, exc)

    def report(self, day: str, exc: sqlite3.DatabaseError) -> None:
        """Log a read error; a corrupt file is also skipped from then on (an I/O error or a
        lock timeout only skips it this time)."""
        if isinstance(exc, sqlite3.OperationalError):
            log.warning("reading %s failed: %s", self.path(day), exc)
        else:
            self.mark_bad(day, f"read failed: {exc}")

    def close_day(self, day: str) -> None:
        """Close every connection this process has to ``day`` (before deleting it)."""
        with self._lock:
            handles = self._handles.pop(day, [])
            self._names.pop(day, None)
            self._decompressors.pop(day, None)
        for handle in handles:
            with handle.lock:
                handle.closed = True
                handle.conn.close()

    def close(self) -> None:
        with self._lock:
            days = list(self._handles)
        for day in days:
            self.close_day(day)

    # -- per-day caches -----------------------------------------------------------------------
    def names(self, day: str, conn: sqlite3.Connection) -> Names:
        with self._lock:
            names = self._names.get(day)
            if names is None:
                names = self._names[day] = Names()
        names.refresh(conn)
        return names

    def decompressors(self, day: str) -> Decompressors:
        with self._lock:
            d = self._decompressors.get(day)
            if d is None:
                d = self._decompressors[day] = Decompressors(lambda dict_id: self._load_dict(day, dict_id))
        return d

    def _load_dict(self, day: str, dict_id: int) -> bytes | None:
        handle = self._handle(day)  # called inside ``reading(day)``: the lock is already held
        if handle is None:
            return None
        row = handle.conn.execute("SELECT data FROM dicts WHERE id = ?", (dict_id,)).fetchone()
        return row[0] if row else None

    def starts_within(self, conn: sqlite3.Connection, lo_ns: int, hi_ns: int) -> bool:
        """Whether this file has spans starting in the hours touching ``[lo_ns, hi_ns]``."""
        row = conn.execute("SELECT 1 FROM hours WHERE hour BETWEEN ? AND ? LIMIT 1",
                           (lo_ns // schema.HOUR_NS, hi_ns // schema.HOUR_NS)).fetchone()
        return row is not None
