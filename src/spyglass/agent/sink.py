"""What a UDP receiver hands decoded spans to: the collector's ``SpanProcessor`` (into
storage) or the agent's ``Forwarder`` (on to collectors over gRPC). Both take the spans of
one packet with ``submit`` and never block; a full queue raises ``ServerBusy``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from spyglass.collector.metrics import IngestMetrics
from spyglass.model import Span


class SpanSink(Protocol):
    metrics: IngestMetrics

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> None:
        """Take the spans of one request or packet, or raise ``ServerBusy`` (counted)."""
        ...
