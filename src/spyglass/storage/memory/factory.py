"""Builds the memory backend from its config."""

from __future__ import annotations

from dataclasses import dataclass

from spyglass.storage.api import DependencyReader, SpanWriter, StorageFactory, TraceReader
from spyglass.storage.memory.store import MemoryStore


@dataclass(slots=True)
class MemoryConfig:
    """``--memory.max-traces``: the oldest traces are evicted beyond this many (Jaeger's default)."""

    max_traces: int = 100_000

    def validate(self) -> None:
        if self.max_traces < 1:
            raise ValueError("--memory.max-traces must be at least 1")


class MemoryFactory(StorageFactory):
    def __init__(self, config: MemoryConfig | None = None) -> None:
        self.config = config or MemoryConfig()
        self.config.validate()
        self.store = MemoryStore(self.config.max_traces)

    def span_writer(self) -> SpanWriter:
        return self.store

    def trace_reader(self) -> TraceReader:
        return self.store

    def dependency_reader(self) -> DependencyReader:
        return self.store
