"""The trace reader contract."""

from __future__ import annotations

import abc

from spyglass.model import Span
from spyglass.storage.api.query import Operation, TraceQuery


class TraceReader(abc.ABC):
    """Reads traces. Every method is safe to call from any thread, concurrently with writes.

    Callers own what they get back: a backend never returns objects it still uses itself
    (the memory backend returns clones). An empty result is an empty list, never an error.
    """

    @abc.abstractmethod
    def get_trace(self, trace_id: int, start_time_ns: int = 0, end_time_ns: int = 0) -> list[Span]:
        """All spans of one trace, duplicates included; ``[]`` when unknown.

        The optional window is a hint a backend may use to look in fewer places; spans
        outside it may still be returned.
        """

    @abc.abstractmethod
    def find_traces(self, query: TraceQuery) -> list[list[Span]]:
        """Whole traces matching ``query`` (see ``TraceQuery``), newest first."""

    @abc.abstractmethod
    def find_trace_ids(self, query: TraceQuery) -> list[int]:
        """IDs of the traces ``find_traces`` would return, in the same order."""

    @abc.abstractmethod
    def get_services(self) -> list[str]:
        """Every service name seen, sorted."""

    @abc.abstractmethod
    def get_operations(self, service: str, span_kind: str = "") -> list[Operation]:
        """The operations of ``service``, sorted by name then kind; ``span_kind`` filters
        (``server``, ``client``, ``producer``, ``consumer``, ``internal``; ``""`` = all)."""
