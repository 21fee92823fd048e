"""The storage contract every backend implements; see each module's docstrings."""

from spyglass.storage.api.archive import ArchiveCapable
from spyglass.storage.api.dependencies import DependencyReader
from spyglass.storage.api.factory import StorageFactory
from spyglass.storage.api.query import Operation, TraceQuery
from spyglass.storage.api.reader import TraceReader
from spyglass.storage.api.writer import SpanWriter, StorageWriteError

__all__ = [
    "ArchiveCapable",
    "DependencyReader",
    "Operation",
    "SpanWriter",
    "StorageFactory",
    "StorageWriteError",
    "TraceQuery",
    "TraceReader",
]
