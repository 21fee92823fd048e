"""Builds the memory backend from its config."""

from __future__ import annotations

from dataclasses import dataclass

from spyglass.storage.api import ArchiveCapable, DependencyReader, SpanWriter, StorageFactory, TraceReader
from spyglass.storage.memory.store import MemoryStore


@dataclass(slots=True)
class MemoryConfig:
    """``--memory.max-traces``: the oldest traces are evicted beyond this many (Jaeger's default)."""

    max_traces: int = 100_000

    def validate(self) -> None:
        if self.max_traces < 1:
            raise ValueError("--memory.max-traces must be at least 1")


class MemoryFactory(StorageFactory, ArchiveCapable):
    """The memory backend; its archive is a second, unbounded-by-time memory store of the
    same trace limit (archived traces live as long as the process, as in Jaeger)."""

    def __init__(self, config: MemoryConfig | None = None) -> None:
        self.config = config or MemoryConfig()
        self.config.validate()
        self.store = MemoryStore(self.config.max_traces)
        self._archive: MemoryStore | None = None

    def _archive_store(self) -> MemoryStore:
        if self._archive is None:
            self._archive = MemoryStore(self.config.max_traces)
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
        return self.store
