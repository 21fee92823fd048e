"""Builds the memory backend from its config."""

from __future__ import annotations

from dataclasses import dataclass

from spyglass.analytics.dependencies import DEFAULT_MIN_LOOKBACK_NS, RollupDependencyReader
from spyglass.storage.api import ArchiveCapable, DependencyReader, SpanWriter, StorageFactory, TraceReader
from spyglass.storage.api.metrics import MetricsCapable, MetricsReader
from spyglass.storage.api.tenants import MultiTenant
from spyglass.storage.memory.store import MemoryStore


@dataclass(slots=True)
class MemoryConfig:
    """``--memory.max-traces``: the oldest traces are evicted beyond this many (Jaeger's default)."""

    max_traces: int = 100_000
    dependencies_rollup_min_lookback_ns: int = DEFAULT_MIN_LOOKBACK_NS

    def validate(self) -> None:
        if self.max_traces < 1:
            raise ValueError("--memory.max-traces must be at least 1")


class MemoryFactory(StorageFactory, ArchiveCapable, MetricsCapable, MultiTenant):
    """The memory backend; its archive is a second, unbounded-by-time memory store of the
    same trace limit (archived traces live as long as the process, as in Jaeger). Each
    tenant gets stores of its own with the same limit (``--memory.max-traces`` per tenant,
    as Jaeger's per-tenant memory stores)."""

    def __init__(self, config: MemoryConfig | None = None) -> None:
        self.config = config or MemoryConfig()
        self.config.validate()
        self.store = MemoryStore(self.config.max_traces)
        self._archive: MemoryStore | None = None

    def _archive_store(self) -> MemoryStore:
        if self._archive is None:
            self._archive = MemoryStore(self.config.max_traces, analytics=False)
        return self._archive

    def archive_reader(self) -> TraceReader:
        return self._archive_store()

    def archive_writer(self) -> SpanWriter:
        return self._archive_store()

    def span_writer(self) -> SpanWriter:
        return self.store

    def trace_reader(self) -> TraceReader:
        return self.store

    def dependency_reader(self) -> DependencyReader:
        assert self.store.rollup is not None
        return RollupDependencyReader(self.store, self.store.rollup, self.config.dependencies_rollup_min_lookback_ns)

    def metrics_reader(self) -> MetricsReader:
        assert self.store.rollup is not None
        return self.store.rollup

    def _open_tenant(self, tenant: str, retention_seconds: float | None) -> MemoryFactory:
        return MemoryFactory(self.config)  # memory has no retention by age: traces live as long as the process
