"""The sqlite backend's ``SamplingStore``: ``<data-dir>/sampling.db``, a file of its own so
the span files' writer lock does not cover it. Every collector process on the data dir
opens it; sqlite's own locking (WAL, ``BEGIN IMMEDIATE`` for the lease) makes the lease a
real mutual exclusion between processes. Rows older than a day are deleted as new ones come.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time

from spyglass.storage.api.sampling import ServiceOperationProbabilities, ServiceOperationQPS, Throughput

FILE_NAME = "sampling.db"
_KEEP_S = 86_400.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS throughput (at REAL NOT NULL, service TEXT NOT NULL, operation TEXT NOT NULL,
                                       count INTEGER NOT NULL, probabilities TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS throughput_at ON throughput(at);
CREATE TABLE IF NOT EXISTS probabilities (at REAL NOT NULL, hostname TEXT NOT NULL,
                                          probabilities TEXT NOT NULL, qps TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS probabilities_at ON probabilities(at);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
"""


class SqliteSamplingStore:
    def __init__(self, data_dir: str) -> None:
        os.makedirs(data_dir, exist_ok=True)
        self.path = os.path.join(data_dir, FILE_NAME)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._open_schema(deadline=time.monotonic() + 10.0)

    def _open_schema(self, deadline: float) -> None:
        """WAL mode and the tables. Several collectors open the file at once (they share the
        lease); switching the journal mode answers "database is locked" at once, without
        waiting as the busy timeout would, while another connection holds the file: retry."""
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def insert_throughput(self, throughput: list[Throughput], at_s: float) -> None:
        rows = [(at_s, t.service, t.operation, t.count, json.dumps(sorted(t.probabilities))) for t in throughput]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO throughput VALUES (?,?,?,?,?)", rows)
                self._db.execute("DELETE FROM throughput WHERE at < ?", (at_s - _KEEP_S,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get_throughput(self, start_s: float, end_s: float) -> list[Throughput]:
        with self._lock:
            rows = self._db.execute(
                "SELECT service, operation, count, probabilities FROM throughput WHERE at >= ? AND at < ?",
                (start_s, end_s),
            ).fetchall()
        return [Throughput(s, o, c, set(json.loads(p))) for s, o, c, p in rows]

    def insert_probabilities_and_qps(
        self, hostname: str, probabilities: ServiceOperationProbabilities, qps: ServiceOperationQPS, at_s: float
    ) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT INTO probabilities VALUES (?,?,?,?)",
                                 (at_s, hostname, json.dumps(probabilities), json.dumps(qps)))
                self._db.execute("DELETE FROM probabilities WHERE at < ?", (at_s - _KEEP_S,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def get_latest_probabilities(self) -> ServiceOperationProbabilities:
        with self._lock:
            row = self._db.execute("SELECT probabilities FROM probabilities ORDER BY at DESC LIMIT 1").fetchone()
        return json.loads(row[0]) if row else {}

    def acquire_lease(self, name: str, owner: str, ttl_s: float, now_s: float) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one writer at a time across processes
            try:
                row = self._db.execute("SELECT owner, expires FROM leases WHERE name = ?", (name,)).fetchone()
                won = row is None or row[0] == owner or row[1] <= now_s
                if won:
                    self._db.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?)", (name, owner, now_s + ttl_s))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return won

    def forfeit_lease(self, name: str, owner: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def close(self) -> None:
        with self._lock:
            self._db.close()
