"""The optional archive ability: a second store, without retention, for traces users keep."""

from __future__ import annotations

import abc

from spyglass.storage.api.reader import TraceReader
from spyglass.storage.api.writer import SpanWriter


class ArchiveCapable(abc.ABC):
    """A factory that can also hold archived traces (``POST /api/archive/{id}``); the query
    service reads them when the primary store no longer has a trace."""

    @abc.abstractmethod
    def archive_reader(self) -> TraceReader: ...

    @abc.abstractmethod
    def archive_writer(self) -> SpanWriter: ...
