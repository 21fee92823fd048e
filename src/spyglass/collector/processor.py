"""The one span processor every receiver calls: bounded queue, writer thread, metrics.

Receivers only decode; they call ``submit`` with the spans of one request. ``submit`` never
blocks: when the queue is full it counts the drop and raises ``ServerBusy``, which each
receiver maps to its protocol's retryable error (HTTP 503/429, gRPC RESOURCE_EXHAUSTED, a
counted drop for UDP). Before queueing, every span passes ``spyglass.collector.validation``;
the spans it refuses are counted and reported back in the returned ``Submitted`` (for OTLP's
partial success and the other receivers' 400 / INVALID_ARGUMENT), never queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.queue import BoundedSpanQueue, QueueClosed, QueueFull
from spyglass.collector.validation import validate
from spyglass.model import Span
from spyglass.storage.api import SpanWriter

log = logging.getLogger(__name__)

Sanitizer = Callable[[Span], Span]


class Submitted(NamedTuple):
    """What became of one request's spans: ``accepted`` were queued, ``rejected`` could not
    be stored (``error`` says why; empty when none were rejected)."""

    accepted: int
    rejected: int = 0
    error: str = ""


def partial_success(rejected: int, error: str, submitted: Submitted) -> tuple[int, str]:
    """OTLP's ``partial_success``: spans the decoder refused plus those the processor did."""
    if not submitted.rejected:
        return rejected, error
    return rejected + submitted.rejected, "; ".join(e for e in (error, submitted.error) if e)


def rejection_text(submitted: Submitted) -> str:
    """The error text of a request some of whose spans were refused (Jaeger, Zipkin)."""
    total = submitted.accepted + submitted.rejected
    return f"{submitted.error} ({submitted.rejected} of {total} spans refused, the other {submitted.accepted} accepted)"


class ServerBusy(Exception):
    """The queue is full (or closing); the client should retry later."""


@dataclass(slots=True)
class ProcessorConfig:
    """``--collector.queue-size`` spans may wait; the writer takes ``--collector.batch-size``."""

    queue_size: int = 100_000
    batch_size: int = 1_000

    def validate(self) -> None:
        if self.queue_size < 1 or self.batch_size < 1:
            raise ValueError("--collector.queue-size and --collector.batch-size must be positive")


class SpanProcessor:
    def __init__(
        self,
        writer: SpanWriter,
        metrics: IngestMetrics,
        config: ProcessorConfig | None = None,
        sanitizers: Sequence[Sanitizer] = (),
    ) -> None:
        self.config = config or ProcessorConfig()
        self.config.validate()
        self.writer = writer
        self.metrics = metrics
        self.sanitizers = list(sanitizers)
        self.queue = BoundedSpanQueue(self.config.queue_size)
        metrics.queue_capacity.set(self.config.queue_size)
        metrics.queue_length.set_function(lambda: len(self.queue))
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spyglass-writer", daemon=True)
        self._thread.start()

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """Queue the storable spans of one request (or raise ``ServerBusy``); count and
        report the others."""
        m = self.metrics
        if nbytes:
            m.bytes_received.labels(receiver, fmt).inc(nbytes)
        m.spans_received.labels(receiver, fmt).inc(len(spans))
        checked = validate(spans)
        if checked.rejected:
            for reason, count in checked.rejected.items():
                m.spans_rejected.labels(receiver, fmt, reason).inc(count)
                m.spans_dropped.labels(reason).inc(count)
            spans = checked.good
        n = len(spans)
        if self.sanitizers:
            spans = [self._sanitize(s) for s in spans]
        try:
            self.queue.put_nowait(spans)
        except (QueueFull, QueueClosed) as exc:
            reason = "queue_full" if isinstance(exc, QueueFull) else "shutting_down"
            m.spans_rejected.labels(receiver, fmt, reason).inc(n)
            m.spans_dropped.labels(reason).inc(n)
            raise ServerBusy(str(exc)) from None
        m.spans_accepted.labels(receiver, fmt).inc(n)
        if checked.rejected:
            return Submitted(n, checked.rejected_count, checked.message())
        return Submitted(n)

    def _sanitize(self, span: Span) -> Span:
        for sanitize in self.sanitizers:
            span = sanitize(span)
        return span

    def _run(self) -> None:
        batch_size = self.config.batch_size
        while True:
            batch = self.queue.get_batch(batch_size, timeout=0.2)
            if batch is None:
                return
            if batch:
                self._write(batch)

    def _write(self, batch: list[Span]) -> None:
        started = time.perf_counter()
        try:
            self.writer.write_spans(batch)
        except Exception as exc:  # a failing backend must not kill the writer thread
            log.error("storage write of %d spans failed: %s", len(batch), exc)
            self.metrics.spans_dropped.labels("storage_error").inc(len(batch))
            return
        finally:
            self.metrics.storage_write_seconds.observe(time.perf_counter() - started)
        self.metrics.spans_written.inc(len(batch))

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new spans, write everything queued, then return."""
        self.queue.close()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                left = len(self.queue)
                log.error("writer did not drain in %.0fs; %d spans left", timeout, left)
                self.metrics.spans_dropped.labels("shutdown").inc(left)
