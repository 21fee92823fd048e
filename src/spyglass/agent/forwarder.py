"""The agent's reporter: queues the spans the UDP receivers decode and forwards them in
batches over gRPC ``jaeger.api_v2.CollectorService/PostSpans`` to the collectors (a
Spyglass collector or a Jaeger one).

``submit`` has the ``SpanSink`` contract of the collector's ``SpanProcessor``, so the same
``UdpServer`` feeds either. It never blocks: the spans go into a queue bounded in spans
(``--reporter.queue-size``); when it is full they are dropped and counted
(``spyglass_spans_dropped_total{reason="queue_full"}``), because UDP has no way to say
"retry".

Receivers hand over spans already encoded (``agent.encode`` transcodes Jaeger Thrift
packets straight to api_v2 bytes; model spans from the Zipkin port are encoded at
``submit``). Sender tasks (a few, so one slow collector does not stall the others) take up
to ``--reporter.batch-size`` spans at a time, join them into one request per process
(``agent.packet``), and send each to the next healthy collector (``CollectorPool``). A retryable failure backs that collector off and
retries the batch on the next one after an exponential pause, up to
``--reporter.grpc.retry.max`` retries; then the batch is dropped and counted
(``send_failed``). Memory is bounded by the queue plus one batch per sender, however long
the collectors stay away; when one returns, the senders pick it up again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from spyglass.agent.collectors import RETRYABLE, Collector, CollectorPool
from spyglass.agent.metrics import ReporterMetrics
from spyglass.agent.encode import packets_from_spans, process_tags_suffix
from spyglass.agent.packet import Packet, post_spans_requests
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ServerBusy
from spyglass.model import KeyValue, Span

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ForwarderConfig:
    queue_size: int = 100_000
    batch_size: int = 1_000
    retry_max: int = 3
    timeout: float = 5.0
    senders: int = 4
    flush_interval: float = 0.2  # a partial batch waits at most this long
    backoff_base: float = 0.1
    backoff_cap: float = 5.0
    metadata: tuple[tuple[str, str], ...] | None = None  # sent with every PostSpans (the tenant header)
    # gRPC metadata sent with every PostSpans (the bearer token of --reporter.grpc.auth.*)
    call_metadata: Callable[[], tuple[tuple[str, str], ...]] = lambda: ()

    def validate(self) -> None:
        if self.queue_size < 1 or self.batch_size < 1 or self.senders < 1:
            raise ValueError("--reporter.queue-size and --reporter.batch-size must be positive")
        if self.retry_max < 0 or self.timeout <= 0:
            raise ValueError("--reporter.grpc.retry.max must be >= 0 and --reporter.grpc.timeout positive")


class Forwarder:
    def __init__(
        self,
        pool: CollectorPool,
        metrics: IngestMetrics,
        config: ForwarderConfig | None = None,
        process_tags: list[KeyValue] | None = None,
    ) -> None:
        self.config = config or ForwarderConfig()
        self.config.validate()
        self.pool = pool
        self.metrics = metrics
        self.reporter = ReporterMetrics(metrics)
        self._tag_suffix = process_tags_suffix(process_tags) if process_tags else b""
        self._batches: deque[Packet] = deque()
        self._length = 0
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self.in_flight = 0  # spans taken by senders, not yet acknowledged or dropped
        self._counters: dict[tuple[str, str], tuple[Any, Any, Any]] = {}  # (receiver, fmt) -> counters
        metrics.queue_capacity.set(self.config.queue_size)
        metrics.queue_length.set_function(lambda: self._length)

    # -- the SpanSink side -------------------------------------------------------------------
    def submit(self, spans: Sequence[Span] | Packet, *, receiver: str, fmt: str, nbytes: int = 0) -> None:
        """Queue the spans of one packet: model spans, or a ``Packet`` the receiver already
        transcoded (Jaeger Thrift); raises ``ServerBusy`` (counted) when the queue is full."""
        m = self.metrics
        n = len(spans)
        counters = self._counters.get((receiver, fmt))
        if counters is None:  # labels() costs more than inc(), and this runs once per packet
            counters = self._counters[(receiver, fmt)] = (
                m.bytes_received.labels(receiver, fmt), m.spans_received.labels(receiver, fmt),
                m.spans_accepted.labels(receiver, fmt))
        if nbytes:
            counters[0].inc(nbytes)
        counters[1].inc(n)
        if n == 0:
            return
        if self._closing or (self._length + n > self.config.queue_size and self._length > 0):
            reason = "shutting_down" if self._closing else "queue_full"
            m.spans_rejected.labels(receiver, fmt, reason).inc(n)
            m.spans_dropped.labels(reason).inc(n)
            raise ServerBusy(f"agent queue {'closing' if self._closing else 'full'}")
        packets = [spans] if isinstance(spans, Packet) else packets_from_spans(spans)
        if self._tag_suffix:
            for p in packets:
                p.process += self._tag_suffix  # appended Process.tags fields
        self._batches.extend(packets)
        self._length += n
        counters[2].inc(n)
        if self._length >= self.config.batch_size:
            self._ready.set()

    def __len__(self) -> int:
        return self._length

    def has_room(self, spans: int = 1) -> bool:
        """Whether ``submit`` would take ``spans`` more spans: a receiver that can hold them
        upstream (the UDP receive queue) waits for room instead of handing spans over only
        to have them dropped. True once closing (``submit`` then refuses and counts)."""
        return self._closing or self._length == 0 or self._length + spans <= self.config.queue_size

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self.pool.open()
        for c in self.pool.collectors:
            self.reporter.collector_up.labels(c.target).set(1)
        self._tasks = [asyncio.create_task(self._sender(), name=f"spyglass-agent-sender-{i}")
                       for i in range(self.config.senders)]

    async def close(self, timeout: float = 5.0) -> None:
        """Refuse new spans; give the senders ``timeout`` seconds to forward what is queued,
        then count whatever is left as dropped (``shutdown``)."""
        self._closing = True
        self._ready.set()
        done, pending = await asyncio.wait(self._tasks, timeout=timeout) if self._tasks else (set(), set())
        self._stop.set()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        left = self._length + self.in_flight
        if left:
            log.error("agent stopped with %d span(s) not forwarded", left)
            self.metrics.spans_dropped.labels("shutdown").inc(left)
            self._batches.clear()
            self._length = 0
            self.in_flight = 0
        await self.pool.close()

    # -- senders -----------------------------------------------------------------------------
    def _take(self) -> tuple[list[Packet], int]:
        limit = self.config.batch_size
        out: list[Packet] = []
        n = 0
        while self._batches and (not out or n + len(self._batches[0]) <= limit):
            p = self._batches.popleft()
            self._length -= p.count
            n += p.count
            out.append(p)
        if not self._batches:
            self._ready.clear()
        return out, n

    async def _sender(self) -> None:
        while True:
            if not self._batches:
                if self._closing:
                    return
                try:
                    await asyncio.wait_for(self._ready.wait(), self.config.flush_interval)
                except asyncio.TimeoutError:
                    pass
                if not self._batches:
                    continue
            packets, n = self._take()
            self.in_flight += n
            # _deliver accounts for every span it is given (forwarded or dropped); if this
            # task is cancelled at shutdown, what is left in in_flight is counted by close.
            for payload, count in post_spans_requests(packets):
                await self._deliver(payload, count)
                self.in_flight -= count

    async def _deliver(self, payload: bytes, n: int) -> None:
        """Send one request, retrying as the module docstring says; counts what it drops."""
        rm = self.reporter
        attempt = 0
        tried: set[Collector] = set()
        while True:
            collector = await self.pool.pick(self._stop, tried)
            if collector is None:  # stopping while every collector is away
                self.metrics.spans_dropped.labels("shutdown").inc(n)
                return
            code = await self._post(collector, payload, n)
            if code is None:
                return
            if code not in RETRYABLE:
                log.error("collector %s refused %d span(s): %s", collector.target, n, code.name)
                self.metrics.spans_dropped.labels("rejected").inc(n)
                return
            self.pool.failed(collector)
            tried.add(collector)
            rm.collector_up.labels(collector.target).set(0)
            if attempt >= self.config.retry_max or self._stop.is_set():
                self.metrics.spans_dropped.labels("send_failed").inc(n)
                return
            rm.retries.inc()
            pause = min(self.config.backoff_base * 2 ** attempt, self.config.backoff_cap)
            attempt += 1
            try:
                await asyncio.wait_for(self._stop.wait(), pause)
            except asyncio.TimeoutError:
                pass

    async def _post(self, collector: Collector, payload: bytes, n: int) -> grpc.StatusCode | None:
        """One PostSpans call; None on success, else the failure's status code."""
        rm = self.reporter
        started = time.perf_counter()
        try:
            await collector.post_spans(payload, timeout=self.config.timeout, wait_for_ready=False,
                                       metadata=(*(self.config.metadata or ()), *self.config.call_metadata()) or None)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            rm.batches.labels(collector.target, code.name).inc()
            if collector.failures == 0:
                log.warning("collector %s: PostSpans of %d span(s) failed: %s %s", collector.target, n,
                            code.name, exc.details())
            return code
        finally:
            rm.send_seconds.observe(time.perf_counter() - started)
        if collector.failures:
            log.info("collector %s takes spans again", collector.target)
        self.pool.succeeded(collector)
        rm.collector_up.labels(collector.target).set(1)
        rm.batches.labels(collector.target, "OK").inc()
        rm.spans_forwarded.labels(collector.target).inc(n)
        return None
