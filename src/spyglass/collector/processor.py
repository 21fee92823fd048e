"""The one span processor every receiver calls: bounded queue, writer thread, metrics.

Receivers only decode; they await ``accept`` (UDP calls ``submit``) with the spans of one
request: this processor is one ``SpanSink`` of three (``collector/sink.py``). Neither blocks
here: when the queue is full it counts the drop and raises ``ServerBusy``, which each
receiver maps to its protocol's retryable error (HTTP 503/429, gRPC RESOURCE_EXHAUSTED, a
counted drop for UDP). Before queueing, every span passes ``spyglass.collector.validation``;
the spans it refuses are counted and reported back in the returned ``Submitted`` (for OTLP's
partial success and the other receivers' 400 / INVALID_ARGUMENT), never queued.

Storage health: a write that fails puts its (already acknowledged) batch into a bounded
``RetryBuffer`` and marks storage unhealthy; from then on ``submit`` raises
``StorageUnhealthy`` (a ``ServerBusy``: HTTP 503 with ``Retry-After``, gRPC UNAVAILABLE, a
counted UDP drop) and the writer thread retries the held batches, with a backoff, before it
takes anything new from the queue. Storage that reports itself unhealthy through the
optional ``HealthCheckable`` ability (checked about once a second) is treated the same.
Once the held batches are written and storage says it is healthy, spans are accepted
again. Only what overflows the retry buffer, or is still held when the process must stop,
is dropped, and it is counted in ``spyglass_spans_dropped_total{reason=...}``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.queue import BoundedSpanQueue, QueueClosed, QueueFull
from spyglass.collector.retry import RetryBuffer
from spyglass.collector.validation import Validated, validate
from spyglass.model import Span
from spyglass.storage.api import SpanWriter
from spyglass.storage.api.health import HEALTHY, Health

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


def screen(
    metrics: IngestMetrics, spans: Sequence[Span], receiver: str, fmt: str, nbytes: int
) -> tuple[Sequence[Span], Validated]:
    """What every sink does first: count the request, validate its spans, count the refused
    ones; the spans that may be stored."""
    if nbytes:
        metrics.bytes_received.labels(receiver, fmt).inc(nbytes)
    metrics.spans_received.labels(receiver, fmt).inc(len(spans))
    metrics.batches_received.labels(receiver, fmt).inc()
    checked = validate(spans)
    if checked.rejected:
        count_rejected(metrics, receiver, fmt, checked.rejected)
        return checked.good, checked
    return spans, checked


def count_rejected(metrics: IngestMetrics, receiver: str, fmt: str, rejected: dict[str, int]) -> None:
    """Count spans refused at ingest, by reason (as rejected and as dropped)."""
    for reason, count in rejected.items():
        metrics.spans_rejected.labels(receiver, fmt, reason).inc(count)
        metrics.spans_dropped.labels(reason).inc(count)


def submitted(accepted: int, checked: Validated) -> Submitted:
    if checked.rejected:
        return Submitted(accepted, checked.rejected_count, checked.message())
    return Submitted(accepted)


class ServerBusy(Exception):
    """The queue is full (or closing); the client should retry later."""


QUEUE_FULL_MESSAGE = "queue full, refused before decoding"


def refuse_undecoded(sink: object, receiver: str, fmt: str) -> bool:
    """True when ``sink`` has no room now (``has_room``): the receiver answers its retryable
    error (the same as a queue-full ``ServerBusy``) without decoding the request, since a
    decoded batch the queue refuses costs as much CPU as a stored one. Such requests are
    counted per request, ``spyglass_requests_rejected_total{reason="queue_full"}``: their
    spans were never decoded, so they are not in the per-span counters."""
    if sink.has_room():  # type: ignore[attr-defined]
        return False
    sink.metrics.reject_request(receiver, fmt, "queue_full")  # type: ignore[attr-defined]
    return True


class StorageUnhealthy(ServerBusy):
    """Storage cannot take spans now; the client should retry later (gRPC: UNAVAILABLE)."""


@dataclass(slots=True)
class ProcessorConfig:
    """``--collector.queue-size`` spans may wait; the writer takes ``--collector.batch-size``."""

    queue_size: int = 100_000
    batch_size: int = 1_000
    retry_buffer_size: int = 0  # spans held for retry after a failed write; 0: the batch size
    health_interval: float = 1.0  # seconds between storage health checks
    shutdown_retry_seconds: float = 10.0  # how long stopping keeps retrying held spans

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
        health: Callable[[], Health] | None = None,
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
        self.health_check = health or (lambda: HEALTHY)
        self.retry = RetryBuffer(max(self.config.retry_buffer_size or self.config.batch_size, self.config.batch_size))
        self.unhealthy_reason: str | None = None  # set while storage cannot take spans
        self._next_health_check = 0.0
        self._stopping = threading.Event()
        self._stop_deadline = 0.0

    @property
    def storage_healthy(self) -> bool:
        return self.unhealthy_reason is None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spyglass-writer", daemon=True)
        self._thread.start()

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """Queue the storable spans of one request (or raise ``ServerBusy``); count and
        report the others."""
        m = self.metrics
        spans, checked = screen(m, spans, receiver, fmt, nbytes)
        n = len(spans)
        if self.sanitizers:
            spans = [self._sanitize(s) for s in spans]
        if n or self.unhealthy_reason is None:
            self._enqueue(spans, n, receiver, fmt)
        return submitted(n, checked)

    def has_room(self) -> bool:
        """``SpanSink.has_room``: the queue is not full (``BoundedSpanQueue.has_room``)."""
        return self.queue.has_room()

    async def accept(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """``SpanSink.accept``: queued in memory is all this processor promises."""
        return self.submit(spans, receiver=receiver, fmt=fmt, nbytes=nbytes)

    async def open(self) -> None:
        self.start()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def _sanitize(self, span: Span) -> Span:
        for sanitize in self.sanitizers:
            span = sanitize(span)
        return span

    def _run(self) -> None:
        batch_size = self.config.batch_size
        while True:
            if self.retry:
                if not self._retry_held():
                    self._drop_all_if_stopping()
                continue
            self._poll_health()
            batch = self.queue.get_batch(batch_size, timeout=0.2)
            if batch is None:
                return
            if batch:
                self._write(batch)

    def _store(self, batch: Sequence[Span]) -> None:
        """One storage write: prepared batches (``--workers``) go to ``write_prepared``."""
        if getattr(batch, "prepared", False):
            self.writer.write_prepared(batch)  # type: ignore[attr-defined]
        else:
            self.writer.write_spans(batch)

    def _count_saved(self, batch: Sequence[Span], ok: bool) -> None:
        """The per-service write counts; a prepared batch counts its own
        (``service_counts``: the sqlite one from its RED rows, not span by span)."""
        saved = self.metrics.saved_by_service
        if not getattr(batch, "prepared", False):
            saved.add((s.resource.service_name for s in batch), ok)
            return
        counts: dict[str, int] = {}
        for item in batch:
            item.service_counts(counts)  # type: ignore[attr-defined]
        saved.add_counts(counts, ok)

    def submit_prepared(self, prepared: Sequence[Span], *, receiver: str, fmt: str) -> Submitted:
        """Queue a batch a collector worker validated, counted and prepared for the writer
        (``storage.sqlite.prepared``); the refusals are counted here, as ``submit``'s."""
        m = self.metrics
        n = len(prepared)
        self._enqueue(prepared, n, receiver, fmt)
        return Submitted(n)

    def _enqueue(self, item: Sequence[Span], n: int, receiver: str, fmt: str) -> None:
        """Queue ``item`` (``n`` spans) for the writer, or count the refusal and raise the
        retryable error the receivers answer with (storage unhealthy, queue full, stopping)."""
        m = self.metrics
        if self.unhealthy_reason is not None:
            m.spans_rejected.labels(receiver, fmt, "storage_unavailable").inc(n)
            m.spans_dropped.labels("storage_unavailable").inc(n)
            m.batches_rejected.labels(receiver, fmt).inc()
            raise StorageUnhealthy(f"storage unavailable: {self.unhealthy_reason}")
        try:
            self.queue.put_nowait(item)
        except (QueueFull, QueueClosed) as exc:
            reason = "queue_full" if isinstance(exc, QueueFull) else "shutting_down"
            m.spans_rejected.labels(receiver, fmt, reason).inc(n)
            m.spans_dropped.labels(reason).inc(n)
            m.batches_rejected.labels(receiver, fmt).inc()
            raise ServerBusy(str(exc)) from None
        m.spans_accepted.labels(receiver, fmt).inc(n)

    async def accept_prepared(self, prepared: Sequence[Span], *, receiver: str, fmt: str) -> Submitted:
        return self.submit_prepared(prepared, receiver=receiver, fmt=fmt)

    def _write(self, batch: Sequence[Span]) -> bool:
        """Write one batch; on failure hold it for retry and mark storage unhealthy."""
        started = time.perf_counter()
        try:
            self._store(batch)
        except Exception as exc:  # a failing backend must not kill the writer thread
            self._count_saved(batch, ok=False)
            self._hold(batch, str(exc))
            return False
        finally:
            self.metrics.storage_write_seconds.observe(time.perf_counter() - started)
        self._written(batch)
        return True

    def _written(self, batch: Sequence[Span]) -> None:
        self.metrics.spans_written.inc(len(batch))
        self.metrics.write_batch_size.set(len(batch))
        self._count_saved(batch, ok=True)

    # -- storage health and the retry buffer -------------------------------------------------
    def _hold(self, batch: Sequence[Span], reason: str) -> None:
        if self.unhealthy_reason is None:
            log.error("storage cannot take spans (%s); refusing new spans and holding %d acknowledged "
                      "span(s) for retry", reason, len(batch) + len(self.retry))
        self.unhealthy_reason = reason
        dropped = self.retry.add(batch, time.monotonic())
        if dropped:
            log.error("retry buffer full: dropped %d acknowledged span(s)", dropped)
            self.metrics.spans_dropped.labels("retry_buffer_full").inc(dropped)

    def _retry_held(self) -> bool:
        """Retry the oldest held batch when its time has come; True once all are written."""
        wait = self.retry.next_attempt - time.monotonic()
        if wait > 0:
            if self._stopping.is_set():
                time.sleep(min(wait, 0.05))
            else:
                self._stopping.wait(min(wait, 0.2))  # woken at once by close()
            return False
        batch = self.retry.peek()
        started = time.perf_counter()
        try:
            self._store(batch)
        except Exception as exc:
            self.unhealthy_reason = str(exc)
            self.retry.failed(time.monotonic())
            return False
        finally:
            self.metrics.storage_write_seconds.observe(time.perf_counter() - started)
        self.retry.pop()
        self._written(batch)
        if self.retry:
            return False
        self._next_health_check = 0.0
        self._poll_health()
        return True

    def _poll_health(self) -> None:
        """Ask storage about once per ``health_interval``: it may break (or recover) without
        a write failing here (lock lost, server gone and back)."""
        now = time.monotonic()
        if now < self._next_health_check:
            return
        self._next_health_check = now + self.config.health_interval
        state = self.health_check()
        if state.healthy:
            if self.unhealthy_reason is not None:
                log.warning("storage takes spans again")
            self.unhealthy_reason = None
        else:
            if self.unhealthy_reason is None:
                log.error("storage cannot take spans: %s; refusing new spans", state.reason)
            self.unhealthy_reason = state.reason or "storage is unhealthy"

    def _drop_all_if_stopping(self) -> None:
        """While stopping, held spans are retried until the deadline, then counted lost."""
        if not self._stopping.is_set() or time.monotonic() < self._stop_deadline:
            return
        held = self.retry.drain()
        queued = 0
        while batch := self.queue.get_batch(1 << 30, timeout=0):
            queued += len(batch)
        log.error("storage still cannot take spans (%s) at shutdown: %d acknowledged span(s) lost",
                  self.unhealthy_reason, held + queued)
        self.metrics.spans_dropped.labels("storage_unavailable").inc(held + queued)

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new spans, write everything queued, then return."""
        self.queue.close()
        self._stop_deadline = time.monotonic() + min(self.config.shutdown_retry_seconds, timeout)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                left = len(self.queue)
                log.error("writer did not drain in %.0fs; %d spans left", timeout, left)
                self.metrics.spans_dropped.labels("shutdown").inc(left)
