"""One sqlite store: a data directory with its writer, readers and dependency reader.

The factory builds two of them: the primary store (with retention) and, on demand, the
archive store in ``<data_dir>/archive`` (without retention).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from spyglass.storage.sqlite.days import DayDirectory
from spyglass.storage.sqlite.dependencies import SqliteDependencyReader
from spyglass.storage.sqlite.reader import SqliteReader
from spyglass.storage.sqlite.rollup import SqliteMetricsReader
from spyglass.storage.sqlite.traceindex import TraceIndexReader
from spyglass.storage.sqlite.writer import SqliteWriter


class SqliteStore:
    def __init__(
        self,
        root: Path,
        *,
        retention: float,
        commit_interval: float,
        cache_mb: int = 64,
        candidate_limit: int = 1000,
        clock: Callable[[], float] = time.time,
        analytics: bool = True,
    ) -> None:
        self.root = root
        self.days = DayDirectory(root)
        self.writer = SqliteWriter(self.days, commit_interval=commit_interval, retention=retention, clock=clock,
                                   cache_mb=cache_mb, analytics=analytics)
        self.index = TraceIndexReader(root / "index.db")
        self.reader = SqliteReader(self.days, self.index, self.writer.flush, candidate_limit=candidate_limit,
                                   rollup=analytics)
        self.dependencies = SqliteDependencyReader(self.days, self.writer.flush)
        self.metrics = SqliteMetricsReader(self.days, self.writer.flush)

    def close(self) -> None:
        """Commit what the writer holds, then close every connection."""
        self.writer.close()
        self.index.close()
        self.days.close()
