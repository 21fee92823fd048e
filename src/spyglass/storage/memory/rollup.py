"""The memory backend's rollups: the summed rows in dicts, pruned by age.

Rows older than ``retention_minutes`` before the newest minute written are dropped, and the
oldest minutes go first while more than ``max_rows`` rows are held (the memory backend has
no time retention of its own, and its trace limit would make the rollup forget hours of
metrics at a high rate, so the rollup has its own bounds: 7 days, 500,000 rows, about
150 MB)."""

from __future__ import annotations

import threading
from collections import defaultdict

from spyglass.analytics.rollup import EdgeKey, RedKey, RollupRows
from spyglass.storage.api.metrics import EdgeSum, MetricsReader, RedCell, RedQuery


class MemoryRollup(MetricsReader):
    def __init__(self, retention_minutes: int = 7 * 24 * 60, max_rows: int = 500_000) -> None:
        self.retention_minutes = retention_minutes
        self.max_rows = max_rows
        self._rows = 0
        self._lock = threading.Lock()
        # minute -> rows of that minute, so reading a window and pruning touch few dicts
        self._red: dict[int, dict[RedKey, list[int]]] = defaultdict(dict)
        self._edges: dict[int, dict[EdgeKey, list[int]]] = defaultdict(dict)
        self._newest = 0

    def add(self, rows: RollupRows) -> None:
        with self._lock:
            for table, keyed, at in ((self._red, rows.red, 4), (self._edges, rows.edges, 1)):
                for key, (calls, errors) in keyed.items():
                    minute = key[at]
                    bucket = table[minute]
                    row = bucket.get(key)
                    if row is None:
                        bucket[key] = [calls, errors]
                        self._rows += 1
                    else:
                        row[0] += calls
                        row[1] += errors
                    if minute > self._newest:
                        self._newest = minute
            self._prune()

    def _prune(self) -> None:
        oldest = self._newest - self.retention_minutes
        for table in (self._red, self._edges):
            if table and min(table) < oldest:
                for minute in [m for m in table if m < oldest]:
                    self._rows -= len(table.pop(minute))
        while self._rows > self.max_rows:
            table = self._red if len(self._red) >= len(self._edges) or not self._edges else self._edges
            if not table:
                break
            self._rows -= len(table.pop(min(table)))

    def read_red(self, query: RedQuery) -> list[RedCell]:
        services = set(query.services)
        kinds = set(query.kinds)
        ops = set(query.operations)
        sums: dict[tuple[str, str, int, int], list[int]] = {}
        with self._lock:
            minutes = [m for m in self._red if query.start_minute <= m <= query.end_minute]
            for minute in minutes:
                for (tenant, service, op, kind, m, bucket), (calls, errors) in self._red[minute].items():
                    if tenant != query.tenant or (services and service not in services) \
                            or (kinds and kind not in kinds) or (ops and op not in ops):
                        continue
                    key = (service, op if query.group_by_operation else "", m, bucket if query.buckets else -1)
                    row = sums.get(key)
                    if row is None:
                        sums[key] = [calls, errors]
                    else:
                        row[0] += calls
                        row[1] += errors
        return [RedCell(*k, *v) for k, v in sums.items()]

    def read_edges(self, tenant: str, start_minute: int, end_minute: int) -> list[EdgeSum]:
        sums: dict[tuple[str, str, str], list[int]] = {}
        with self._lock:
            for minute, rows in self._edges.items():
                if not start_minute <= minute <= end_minute:
                    continue
                for (t, _, parent, child, kind), (calls, errors) in rows.items():
                    if t != tenant:
                        continue
                    row = sums.setdefault((parent, child, kind), [0, 0])
                    row[0] += calls
                    row[1] += errors
        return [EdgeSum(*k, *v) for k, v in sums.items()]
