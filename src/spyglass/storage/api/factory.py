"""What a backend plugs in: one factory that builds its writer and readers."""

from __future__ import annotations

import abc

from spyglass.storage.api.dependencies import DependencyReader
from spyglass.storage.api.reader import TraceReader
from spyglass.storage.api.writer import SpanWriter


class StorageFactory(abc.ABC):
    """One configured backend. ``close`` flushes and releases everything it opened."""

    @abc.abstractmethod
    def span_writer(self) -> SpanWriter: ...

    @abc.abstractmethod
    def trace_reader(self) -> TraceReader: ...

    @abc.abstractmethod
    def dependency_reader(self) -> DependencyReader: ...

    def close(self) -> None:
        """Flush and release resources; the default has nothing to do."""
