"""Builds the sqlite backend from its settings: the primary store and the archive store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spyglass.analytics.dependencies import DEFAULT_MIN_LOOKBACK_NS, RollupDependencyReader
from spyglass.storage.api import ArchiveCapable, DependencyReader, SpanWriter, StorageFactory, TraceReader
from spyglass.storage.api.health import HEALTHY, Health, HealthCheckable
from spyglass.storage.api.metrics import MetricsCapable, MetricsReader
from spyglass.storage.api.tenants import MultiTenant
from spyglass.storage.sqlite.store import SqliteStore

_NS = 1_000_000_000


def _seconds(flag: str, text: str) -> float:
    from spyglass.gocompat.godur import parse_duration  # Go's duration syntax, shared with the query API

    try:
        return parse_duration(text.strip()) / _NS
    except ValueError as exc:
        raise ValueError(f"--{flag}: {exc}") from None


@dataclass(slots=True)
class SqliteConfig:
    """``--data-dir``, ``--sqlite.retention`` (Go duration; ``0`` keeps everything),
    ``--sqlite.commit-interval`` (Go duration: the longest an acknowledged span waits to be
    durable, so the most a crash can lose), the writer's page cache and the tag-index
    candidate limit (searches whose tags match more chunks than this walk the time index)."""

    data_dir: str = "./data"
    retention: str = "72h"
    commit_interval: str = "1s"
    cache_mb: int = 64
    candidate_limit: int = 1000
    dependencies_rollup_min_lookback_ns: int = DEFAULT_MIN_LOOKBACK_NS

    def validate(self) -> None:
        if not self.data_dir:
            raise ValueError("--data-dir must not be empty")
        if self.retention_seconds < 0:
            raise ValueError("--sqlite.retention must not be negative")
        interval = self.commit_interval_seconds
        if not 0 < interval <= 3600:
            raise ValueError("--sqlite.commit-interval must be more than 0 and at most 1h")
        if self.cache_mb < 1 or self.candidate_limit < 0:
            raise ValueError("sqlite cache size must be at least 1 MB and the candidate limit not negative")

    @property
    def retention_seconds(self) -> float:
        return _seconds("sqlite.retention", self.retention)

    @property
    def commit_interval_seconds(self) -> float:
        return _seconds("sqlite.commit-interval", self.commit_interval)


class SqliteFactory(StorageFactory, ArchiveCapable, HealthCheckable, MetricsCapable, MultiTenant):
    """The sqlite backend. ``clock`` (Unix seconds) decides the day file and retention;
    tests pass a fake one. A tenant's store is a data directory of its own,
    ``<data-dir>/tenants/<tenant>`` (day files, index, archive), with its own retention."""

    def __init__(self, config: SqliteConfig | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config or SqliteConfig()
        self.config.validate()
        self.clock = clock
        self.root = Path(self.config.data_dir)
        self.store = self._store(self.root, self.config.retention_seconds, analytics=True)
        self._archive: SqliteStore | None = None
        self._lock = threading.Lock()
        self._writing = False  # prepare_writes was called: this process writes

    def _store(self, root: Path, retention: float, *, analytics: bool = False) -> SqliteStore:
        c = self.config
        return SqliteStore(root, retention=retention, commit_interval=c.commit_interval_seconds,
                           cache_mb=c.cache_mb, candidate_limit=c.candidate_limit, clock=self.clock,
                           analytics=analytics)

    def span_writer(self) -> SpanWriter:
        return self.store.writer

    # -- health: the writer's state once this process writes; else the directory's ------------------
    def prepare_writes(self) -> None:
        self.store.writer.prepare()
        self._writing = True

    def check(self) -> Health:
        if self._writing:
            return self.store.writer.health()
        if self.root.exists() and not self.root.is_dir():
            return Health(False, f"data directory {self.root} is not a directory")
        return HEALTHY

    def trace_reader(self) -> TraceReader:
        return self.store.reader

    def dependency_reader(self) -> DependencyReader:
        return RollupDependencyReader(self.store.dependencies, self.store.metrics,
                                      self.config.dependencies_rollup_min_lookback_ns)

    def metrics_reader(self) -> MetricsReader:
        return self.store.metrics

    # -- archive: ``<data_dir>/archive``, same format, never expires -------------------------------
    def archive(self) -> SqliteStore:
        with self._lock:
            if self._archive is None:
                self._archive = self._store(self.root / "archive", 0.0)
            return self._archive

    def archive_writer(self) -> SpanWriter:
        return self.archive().writer

    def archive_reader(self) -> TraceReader:
        return self.archive().reader

    def _open_tenant(self, tenant: str, retention_seconds: float | None) -> SqliteFactory:
        import dataclasses

        config = dataclasses.replace(self.config, data_dir=str(self.root / "tenants" / tenant))
        if retention_seconds is not None:
            config.retention = f"{retention_seconds:.0f}s"
        return SqliteFactory(config, clock=self.clock)

    def close(self) -> None:
        self.close_tenants()
        self.store.close()
        if self._archive is not None:
            self._archive.close()
