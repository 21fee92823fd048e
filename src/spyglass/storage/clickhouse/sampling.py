"""The clickhouse backend's ``SamplingStore``: three small MergeTree tables in the Spyglass
database (created when missing): ``sampling_throughput``, ``sampling_probabilities`` and
``sampling_leases``.

ClickHouse has no compare-and-set, so the lease is an append-only log of claims that
every reader folds the same way: in (claimed, owner) order, a claim takes the lease when
it is free, expired, or already the claimant's own (a renewal); any other claim loses.
A candidate that sees the lease free appends its claim, reads the log back and holds the
lease only if the fold says so. Two candidates racing for an expired lease both see the
same winner once both claims are visible; a claim that becomes visible late (a slow
insert with an earlier timestamp) can, at worst, make two collectors compute for one
leader refresh interval until the loser's next renewal finds it lost, which costs nothing
but a duplicate calculation. Rows older than a day are deleted once an hour (a mutation;
18.16 has no TTL). With ``--clickhouse.cluster`` every collector must reach the same first
server: the tables are local to it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from spyglass.storage.api.sampling import ServiceOperationProbabilities, ServiceOperationQPS, Throughput
from spyglass.storage.clickhouse.connection import Connector

_KEEP_S = 86_400.0
_CLEAN_EVERY_S = 3_600.0
_LEASE_HISTORY_S = 600.0  # claims that expired longer ago than this cannot matter to the fold


def _tables(db: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {db}.sampling_throughput (at Float64, service String, operation String, "
        "count UInt64, probabilities Array(String)) ENGINE = MergeTree ORDER BY at",
        f"CREATE TABLE IF NOT EXISTS {db}.sampling_probabilities (at Float64, hostname String, probabilities String, "
        "qps String) ENGINE = MergeTree ORDER BY at",
        f"CREATE TABLE IF NOT EXISTS {db}.sampling_leases (name String, owner String, expires Float64, "
        "claimed Float64) ENGINE = MergeTree ORDER BY (name, claimed)",
    ]


def fold_lease(claims: list[tuple[str, float, float]]) -> tuple[str, float]:
    """The holder and its expiry after ``claims`` (owner, expires, claimed), in claim order."""
    holder, until = "", 0.0
    for owner, expires, claimed in sorted(claims, key=lambda c: (c[2], c[0])):
        if not holder or until <= claimed or owner == holder:
            holder, until = owner, expires
    return holder, until


class ClickHouseSamplingStore:
    def __init__(self, connector: Connector, database: str, prepare: Callable[[], None] | None = None) -> None:
        """``prepare`` (the factory's ``open``) makes the database exist; the tables are
        created on first use, so a server that is down at start-up only delays sampling."""
        self.connector = connector
        self.db = database
        self.prepare = prepare
        self._lock = threading.Lock()
        self._client: Any = None
        self._ready = False
        self._last_clean = 0.0

    def _run(self, query: str, params: Any = None, **kw: Any) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self.connector.client(database=None)
            if not self._ready:
                if self.prepare is not None:
                    self.prepare()
                for statement in _tables(self.db):
                    self.connector.execute(self._client, statement)
                self._ready = True
            return self.connector.execute(self._client, query, params, **kw)

    def _clean(self, now: float) -> None:
        if now - self._last_clean < _CLEAN_EVERY_S:
            return
        self._last_clean = now
        for table, column in (("sampling_throughput", "at"), ("sampling_probabilities", "at"),
                              ("sampling_leases", "expires")):
            self._run(f"ALTER TABLE {self.db}.{table} DELETE WHERE {column} < {now - _KEEP_S!r}")

    def insert_throughput(self, throughput: list[Throughput], at_s: float) -> None:
        rows = [(at_s, t.service, t.operation, t.count, sorted(t.probabilities)) for t in throughput]
        self._run(f"INSERT INTO {self.db}.sampling_throughput (at, service, operation, count, probabilities) VALUES", rows)
        self._clean(at_s)

    def get_throughput(self, start_s: float, end_s: float) -> list[Throughput]:
        rows = self._run(
            f"SELECT service, operation, count, probabilities FROM {self.db}.sampling_throughput "
            "WHERE at >= %(start)s AND at < %(end)s", {"start": start_s, "end": end_s})
        return [Throughput(s, o, int(c), set(p)) for s, o, c, p in rows]

    def insert_probabilities_and_qps(
        self, hostname: str, probabilities: ServiceOperationProbabilities, qps: ServiceOperationQPS, at_s: float
    ) -> None:
        self._run(f"INSERT INTO {self.db}.sampling_probabilities (at, hostname, probabilities, qps) VALUES",
                  [(at_s, hostname, json.dumps(probabilities), json.dumps(qps))])

    def get_latest_probabilities(self) -> ServiceOperationProbabilities:
        rows = self._run(f"SELECT probabilities FROM {self.db}.sampling_probabilities ORDER BY at DESC LIMIT 1")
        return json.loads(rows[0][0]) if rows else {}

    def _claims(self, name: str, now_s: float) -> list[tuple[str, float, float]]:
        return [tuple(r) for r in self._run(
            f"SELECT owner, expires, claimed FROM {self.db}.sampling_leases WHERE name = %(name)s AND expires > %(since)s",
            {"name": name, "since": now_s - _LEASE_HISTORY_S})]

    def acquire_lease(self, name: str, owner: str, ttl_s: float, now_s: float) -> bool:
        holder, until = fold_lease(self._claims(name, now_s))
        if holder and holder != owner and until > now_s:
            return False
        self._run(f"INSERT INTO {self.db}.sampling_leases (name, owner, expires, claimed) VALUES",
                  [(name, owner, now_s + ttl_s, now_s)])
        holder, until = fold_lease(self._claims(name, now_s))
        return holder == owner and until > now_s

    def forfeit_lease(self, name: str, owner: str) -> None:
        """A renewal that ends right after the owner's last claim (in the claims' own clock)."""
        rows = self._run(
            f"SELECT owner, expires, claimed FROM {self.db}.sampling_leases WHERE name = %(name)s "
            "ORDER BY claimed DESC LIMIT 1000", {"name": name})
        claims = [tuple(r) for r in rows]
        holder, _ = fold_lease(claims)
        if holder == owner:
            last = max(c[2] for c in claims if c[0] == owner) + 1e-6
            self._run(f"INSERT INTO {self.db}.sampling_leases (name, owner, expires, claimed) VALUES",
                      [(name, owner, last, last)])

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self.connector._drop(self._client)
