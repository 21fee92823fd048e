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

    ``sync`` is what a caller that keeps its own copy of the spans (the ingester's JetStream
    messages, the collector's write-ahead log) waits for before dropping that copy.
    """

    @abc.abstractmethod
    def write_spans(self, spans: Sequence[Span]) -> None: ...

    def sync(self) -> bool:
        """Make every span ``write_spans`` took so far durable (commit, insert what is
        buffered); True when it is, False when it could not be done now (the spans stay
        pending in the backend, which retries them). A backend that buffers or commits later
        must override this; the default is right for one that stores in ``write_spans``."""
        return True
