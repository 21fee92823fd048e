"""Where receivers hand decoded spans: the ``SpanSink`` protocol.

Three sinks implement it: ``SpanProcessor`` (the bounded in-memory queue in front of the
storage writer), ``DurableSpanProcessor`` (the same, behind a write-ahead log on disk) and
``NatsPublisher`` (JetStream). A receiver awaits ``accept`` before it answers its client, so
the answer means what the sink promises: queued, on disk, or stored by JetStream. Every
sink raises ``ServerBusy`` when it cannot take the spans, which receivers turn into their
protocol's retryable error; while ``has_room`` is False, receivers give that error before
decoding the request at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import Submitted
from spyglass.model import Span


class SpanSink(Protocol):
    metrics: IngestMetrics

    async def accept(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """Validate the spans (``processor.screen``), then return once the storable ones are as
        safe as this sink promises, saying how many were refused as unstorable; raise
        ``ServerBusy`` if they cannot be taken (the client retries)."""
        ...

    def has_room(self) -> bool:
        """False while the sink would refuse any request for lack of room (queue full):
        receivers then refuse before decoding (``processor.refuse_undecoded``)."""
        ...

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """Take the spans without waiting (UDP: nothing is acknowledged to wait for); raise
        ``ServerBusy`` when they are refused, already counted as dropped."""
        ...

    async def open(self) -> None:
        """Start background work (threads, connections) on the running event loop."""
        ...

    async def aclose(self) -> None:
        """Refuse new spans and finish what was accepted."""
        ...
