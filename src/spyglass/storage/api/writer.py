"""The span writer contract."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from spyglass.model import Span


class StorageWriteError(Exception):
    """A write that failed for a reason worth counting (disk full, read-only, ...)."""


class SpanWriter(abc.ABC):
    """Stores spans.

    ``write_spans`` is called from one writer thread at a time, with batches of any size.
    Writing the same span twice stores it twice (Jaeger keeps duplicate span IDs). When it
    returns, the spans are visible to readers; a backend may make them durable up to its
    documented commit interval later. It raises ``StorageWriteError`` when the batch could
    not be stored; the caller counts those spans as dropped.
    """

    @abc.abstractmethod
    def write_spans(self, spans: Sequence[Span]) -> None: ...
