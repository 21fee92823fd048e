"""The storage contract every backend implements; see each module's docstrings."""

from spyglass.storage.api.archive import ArchiveCapable
from spyglass.storage.api.dependencies import DependencyReader
from spyglass.storage.api.factory import StorageFactory
from spyglass.storage.api.health import Health, HealthCheckable, StorageUnavailable
from spyglass.storage.api.query import Operation, TraceQuery
from spyglass.storage.api.reader import TraceReader
from spyglass.storage.api.writer import SpanWriter, StorageWriteError

__all__ = [
    "ArchiveCapable",
    "DependencyReader",
    "Health",
    "HealthCheckable",
    "Operation",
    "SpanWriter",
    "StorageFactory",
    "StorageUnavailable",
    "StorageWriteError",
    "TraceQuery",
    "TraceReader",
]
