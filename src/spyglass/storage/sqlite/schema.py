"""Table layouts of the day files and of the trace-to-day index, and how connections open.

A **day file** (``YYYY-MM-DD.db``) holds the spans written during one UTC day:

* ``chunks``: one row per chunk (the spans of one trace from one write batch), with the
  trace ID and the zstd-compressed blob (``rows.py``); indexed by trace key, so the file
  alone can answer "all spans of trace X". Trace IDs are random, and inserting random keys
  into one big B-tree dirties a different page per key at every commit (the cost that made
  ingest slow down at millions of rows); so the index is ``(id >> 16, trace_key)``: each
  run of 65,536 chunks has its own small key range that new keys go into, and a lookup
  probes every run (``trace_buckets``; a few hundred probes for a very busy day).
* ``spans``: one narrow row per span, the search index: ``(name_id, start)`` ordered, so a
  search walks one service/operation newest-first and stops early; it also carries the
  duration (filtered in SQL) and span/parent IDs (dependencies are computed in SQL).
* ``names``: the service/operation/kind dictionary used by ``spans.name_id``.
* ``peers``: the ``peer.service`` of client and producer spans that have one
  (``storage.dependency_links``), so dependencies on untraced services are computed in SQL
  too; files written before it existed get it (empty) when a writer opens them.
* ``tags``: the FTS5 tag index (``tagindex.py``); its rowid is the chunk ID.
* ``hours``: the UTC hours in which this file's spans start, so a time-bounded search
  skips files that cannot match (spans are filed by write time, not start time).
* ``dicts``: the zstd dictionaries the blobs need; ``meta``: format marker and version.

The **index file** (``index.db``) maps trace keys to days: one table ``d_YYYYMMDD`` per day
(``DROP TABLE`` when the day expires), keyed ``(hour, trace_key)`` by the hour of writing
for the same reason, plus ``hwm``: per day, the last chunk ID indexed, so a crash between
the day file's commit and the index's commit is repaired at start-up.

IDs: SQLite integers are signed 64-bit, so unsigned IDs are stored two's-complement
(``signed``); a *trace key* is the XOR of the trace ID's halves (``trace_key``), and the
high half is a column of its own.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

FORMAT = "spyglass-sqlite-day"
INDEX_FORMAT = "spyglass-sqlite-index"
FORMAT_VERSION = 1

_I64 = 1 << 63
_U64 = 1 << 64
INT64_MIN = -_I64
INT64_MAX = _I64 - 1


def signed(value: int) -> int:
    """An unsigned 64-bit value as SQLite's signed integer."""
    return value - _U64 if value >= _I64 else value


def unsigned(value: int) -> int:
    return value + _U64 if value < 0 else value


def trace_key(trace_id: int) -> int:
    """The indexed part of a trace ID: its two 64-bit halves XORed, signed.

    Both halves count because some ID schemes keep one half structured (a counter, a
    timestamp); for a 64-bit ID the key is the ID itself. With the high half (stored beside
    it) the key gives back the whole ID, so a key collision is told apart exactly.
    """
    return signed((trace_id ^ (trace_id >> 64)) & (_U64 - 1))


def trace_id_of(high: int, key: int) -> int:
    """The trace ID from its stored high half and key (both signed)."""
    hi = unsigned(high)
    return (hi << 64) | (unsigned(key) ^ hi)


TRACE_BUCKET_BITS = 16

PEERS_TABLE = """CREATE TABLE IF NOT EXISTS peers(
    chunk INTEGER NOT NULL,
    span_id INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    service TEXT NOT NULL)"""

DAY_SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE dicts(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE names(
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    operation TEXT NOT NULL,
    kind INTEGER NOT NULL,
    UNIQUE(service, operation, kind));
CREATE TABLE chunks(
    id INTEGER PRIMARY KEY,
    trace_key INTEGER NOT NULL,
    trace_hi INTEGER NOT NULL,
    data BLOB NOT NULL);
CREATE INDEX chunks_by_trace ON chunks(id >> {TRACE_BUCKET_BITS}, trace_key);
CREATE TABLE spans(
    name_id INTEGER NOT NULL,
    start INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    duration INTEGER NOT NULL,
    span_id INTEGER NOT NULL,
    parent_id INTEGER NOT NULL,
    PRIMARY KEY(name_id, start, chunk, seq)) WITHOUT ROWID;
CREATE TABLE hours(hour INTEGER PRIMARY KEY);
{PEERS_TABLE};
CREATE VIRTUAL TABLE tags USING fts5(words, detail=none, content='', columnsize=0, tokenize='ascii');
INSERT INTO meta VALUES ('format', '{FORMAT}'), ('version', {FORMAT_VERSION});
"""

INDEX_SCHEMA = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE hwm(day TEXT PRIMARY KEY, chunk INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta VALUES ('format', '{INDEX_FORMAT}'), ('version', {FORMAT_VERSION});
"""

# The rollups written at ingest (``spyglass.analytics``), in the same transaction as the
# spans they summarise; see ``rollup.py``. ``red`` is keyed by operation first, so a
# query for a few services reads only their rows; edges are kept per minute and per hour,
# so a week reads hours and only the window's ragged ends read minutes. Created with IF NOT EXISTS also when a writer
# opens an older day file, so files written before the rollups existed gain the tables
# (they hold no rollup rows for the spans written before). ``red_service`` is the coarser
# tier of ``red``: per service, kind and minute (no operation) the calls, errors and the
# whole duration histogram in one row (``hist``: see ``rollup.encode_hist``), so the
# queries over every operation (rate() by service, the Monitor tab's overview of every
# service) read one row per service and minute where ``red`` has one per operation and
# duration bucket (about one per span when spans are spread thin); a file whose ``red``
# already had rows when it gained the table lacks the earlier ones there, so only files
# marked ``red_service`` in ``meta`` (see ``ensure_rollup``) are read from it.
ROLLUP_SCHEMA = """
CREATE TABLE IF NOT EXISTS red(
    name_id INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY(name_id, minute, tenant, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edges(
    minute INTEGER NOT NULL,
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY(minute, parent, child, kind, tenant)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edges_hourly(
    hour INTEGER NOT NULL,
    parent TEXT NOT NULL,
    child TEXT NOT NULL,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY(hour, parent, child, kind, tenant)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS red_service(
    service TEXT NOT NULL,
    kind INTEGER NOT NULL,
    minute INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    hist BLOB NOT NULL,
    PRIMARY KEY(service, kind, minute, tenant)) WITHOUT ROWID
"""
SERVICE_TIER_KEY = "red_service"  # in ``meta``: ``red_service`` holds every row ``red`` holds


def ensure_rollup(conn: sqlite3.Connection) -> None:
    """Create the rollup tables unless the file has them (autocommit, idempotent).

    ``red_service`` is marked complete only when it starts together with an empty ``red``;
    a crash before the mark leaves the file unmarked, which only costs speed."""
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    fresh = "red_service" not in tables and (
        "red" not in tables or conn.execute("SELECT 1 FROM red LIMIT 1").fetchone() is None)
    for statement in ROLLUP_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    if fresh:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, 1)", (SERVICE_TIER_KEY,))


def has_service_tier(conn: sqlite3.Connection) -> bool:
    """Whether this day file's ``red_service`` sums all of its ``red`` rows."""
    return conn.execute("SELECT 1 FROM meta WHERE key = ?", (SERVICE_TIER_KEY,)).fetchone() is not None


HOUR_NS = 3_600_000_000_000
# Day files are read through mmap (no system call per page; Debian's SQLite caps it at 2 GB).
# They never shrink, so a mapping cannot point past the end of a file.
DAY_MMAP_MB = 2047


class ForeignFile(Exception):
    """A file where a day or index file should be that is not one (or not this version)."""


def connect(path: Path, *, create: bool = False, cache_mb: int = 16, mmap_mb: int = 0) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit ``BEGIN``/``COMMIT``).

    Without ``create`` the file must exist (``mode=rw``): a reader must never create an
    empty file where a day was just deleted by retention.
    """
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, isolation_level=None,
                           check_same_thread=False, timeout=10.0)
    try:
        conn.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA secure_delete=OFF")
        if mmap_mb:
            conn.execute(f"PRAGMA mmap_size={mmap_mb << 20}")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def init_writer(conn: sqlite3.Connection) -> None:
    """Settings of a writing connection: WAL, fsync at every commit (commits are rare: at
    most a few per commit interval), large checkpoints so hot pages are copied back once."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA wal_autocheckpoint=8192")
    conn.execute("PRAGMA journal_size_limit=67108864")


def check_format(conn: sqlite3.Connection, expected: str, db: str = "main") -> None:
    """Raise ``ForeignFile`` unless the file (``db``: an attached name) is ours, in this
    format version."""
    try:
        row = dict(conn.execute(f"SELECT key, value FROM {db}.meta WHERE key IN ('format', 'version')").fetchall())
    except sqlite3.OperationalError as exc:  # no meta table: some other SQLite file
        raise ForeignFile(f"not a Spyglass file ({exc})") from None
    if row.get("format") != expected:
        raise ForeignFile(f"not a Spyglass {expected} file (format {row.get('format')!r})")
    if row.get("version") != FORMAT_VERSION:
        raise ForeignFile(f"unsupported format version {row.get('version')!r} (this Spyglass reads {FORMAT_VERSION})")


def create_day(conn: sqlite3.Connection, day: str) -> None:
    """Create the day schema in an empty file (one transaction, so it is all or nothing)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            for statement in DAY_SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO meta VALUES ('day', ?)", (day,))
            ensure_rollup(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def create_index(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            for statement in INDEX_SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


HOURS = ",".join(str(h) for h in range(24))


def trace_buckets(max_chunk: int) -> str:
    """The chunk-ID runs of ``chunks_by_trace`` up to ``max_chunk``, as a JSON list for
    ``(id >> 16) IN (SELECT value FROM json_each(?))``."""
    return "[" + ",".join(str(b) for b in range((max_chunk >> TRACE_BUCKET_BITS) + 1)) + "]"


def day_table(day: str) -> str:
    """The index table of one day: ``d_20240131`` for ``2024-01-31``."""
    return "d_" + day.replace("-", "")
