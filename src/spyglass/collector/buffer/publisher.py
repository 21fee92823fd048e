"""``--collector.buffer nats``: the collector's ``SpanSink`` that publishes to JetStream.

``accept`` encodes the request's spans (``buffer.encoding``), publishes them to the stream
and returns only when JetStream has answered with a publish acknowledgement, i.e. stored
the message (on ``--nats.replicas`` servers). Anything else -- the stream full, NATS away,
no acknowledgement within ``--nats.publish-timeout`` -- raises ``ServerBusy``, which the
receivers answer with their retryable error (HTTP 503, gRPC UNAVAILABLE or
RESOURCE_EXHAUSTED), so the client keeps the spans and retries. A request larger than the
server's ``max_payload`` is split into several messages, all acknowledged before the answer.

Concurrency is bounded by ``max_in_flight`` spans waiting for acknowledgements: beyond it
requests are refused at once rather than piling up in memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import APIError
from prometheus_client import Counter, Histogram

from spyglass.collector.buffer.encoding import encode_batch
from spyglass.collector.buffer.stream import BufferConfig, StreamGauges, connect, ensure_stream
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ServerBusy, Submitted, screen, submitted
from spyglass.model import Span

log = logging.getLogger(__name__)

_THREAD_ENCODE_SPANS = 2_000  # bigger requests are encoded off the event loop


class NatsPublisher:
    def __init__(self, config: BufferConfig, metrics: IngestMetrics, *, max_in_flight: int = 100_000) -> None:
        self.config = config
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self._in_flight = 0
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.writer = None  # no storage of its own: ingesters write it
        r = metrics.registry
        self.published = Counter("spyglass_buffer_published_messages", "Messages JetStream acknowledged",
                                 registry=r)
        self.publish_seconds = Histogram(
            "spyglass_buffer_publish_seconds", "From publish to JetStream's acknowledgement", registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.gauges = StreamGauges(r, config, consumer=False)
        metrics.queue_capacity.set(max_in_flight)
        metrics.queue_length.set_function(lambda: self._in_flight)

    @property
    def unhealthy_reason(self) -> str | None:
        """For the admin health check: why spans cannot be taken now, or None."""
        if self._js is None or self._nc is None or not self._nc.is_connected:
            return "not connected to NATS"
        return None

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect and make sure the stream exists; if NATS is not there yet, keep trying in
        the background (requests meanwhile get the retryable error)."""
        try:
            await self._connect()
        except (OSError, nats.errors.Error, asyncio.TimeoutError) as exc:
            log.warning("NATS at %s not reachable (%s); retrying in the background", self.config.servers, exc)
            self._spawn(self._connect_retrying())

    async def _connect(self) -> None:
        nc = await connect(self.config, "spyglass-collector")
        js = nc.jetstream(timeout=self.config.publish_timeout)
        try:
            await ensure_stream(js, self.config)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js
        self._spawn(self.gauges.run(js))
        log.info("publishing spans to JetStream stream %s at %s", self.config.stream, ",".join(self.config.servers))

    async def _connect_retrying(self) -> None:
        while not self._closing and self._js is None:
            await asyncio.sleep(1.0)
            try:
                await self._connect()
            except (OSError, nats.errors.Error, asyncio.TimeoutError) as exc:
                log.debug("NATS still not reachable: %s", exc)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Refuse new spans, wait (bounded) for the acknowledgements still due, disconnect."""
        self._closing = True
        deadline = time.monotonic() + self.config.publish_timeout + 1
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for task in list(self._tasks):
            task.cancel()
        if self._nc is not None:
            try:
                await self._nc.drain()
            except (nats.errors.Error, asyncio.TimeoutError) as exc:
                log.debug("nats drain: %s", exc)
        self._nc = self._js = None

    # -- SpanSink --------------------------------------------------------------------------------
    def _refuse(self, n: int, receiver: str, fmt: str, reason: str, message: str) -> ServerBusy:
        self.metrics.spans_rejected.labels(receiver, fmt, reason).inc(n)
        self.metrics.spans_dropped.labels(reason).inc(n)
        return ServerBusy(message)

    def has_room(self) -> bool:
        """``SpanSink.has_room``: fewer than ``max_in_flight`` spans wait for JetStream."""
        return self._in_flight < self.max_in_flight

    async def accept(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """Validate, then return once JetStream acknowledged the storable spans."""
        spans, checked = screen(self.metrics, spans, receiver, fmt, nbytes)
        if spans:
            await self._accept(spans, receiver, fmt)
            self.metrics.spans_accepted.labels(receiver, fmt).inc(len(spans))
        return submitted(len(spans), checked)

    async def _accept(self, spans: Sequence[Span], receiver: str, fmt: str) -> None:
        n = len(spans)
        js = self._js
        if self._closing:
            raise self._refuse(n, receiver, fmt, "shutting_down", "shutting down")
        if js is None:
            raise self._refuse(n, receiver, fmt, "buffer_unavailable", "not connected to NATS")
        if self._in_flight and self._in_flight + n > self.max_in_flight:
            raise self._refuse(n, receiver, fmt, "queue_full",
                               f"{self._in_flight} spans waiting for JetStream (limit {self.max_in_flight})")
        self._in_flight += n
        try:
            await self._publish_all(js, spans)
        except APIError as exc:
            full = "maximum" in (exc.description or "").lower() or exc.err_code in (10047, 10077, 10027)
            raise self._refuse(n, receiver, fmt, "buffer_full" if full else "buffer_error",
                               f"JetStream refused the spans: {exc.description or exc}") from None
        except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
            raise self._refuse(n, receiver, fmt, "buffer_unavailable",
                               f"JetStream did not acknowledge: {type(exc).__name__} {exc}") from None
        finally:
            self._in_flight -= n

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """UDP: publish in the background; a refusal is counted by ``_accept`` (UDP has no one
        to tell). ``_accept`` checks the in-flight bound before its first ``await``, so the
        tasks waiting here are bounded like the rest."""
        good, checked = screen(self.metrics, spans, receiver, fmt, nbytes)
        if good:
            async def publish() -> None:
                try:
                    await self._accept(good, receiver, fmt)
                    self.metrics.spans_accepted.labels(receiver, fmt).inc(len(good))
                except ServerBusy:
                    pass  # counted by _accept

            self._spawn(publish())
        return submitted(len(good), checked)

    # -- publishing ------------------------------------------------------------------------------
    async def _publish_all(self, js: JetStreamContext, spans: Sequence[Span]) -> None:
        if len(spans) > _THREAD_ENCODE_SPANS:
            data = await asyncio.to_thread(encode_batch, spans)
        else:
            data = encode_batch(spans)
        limit = (self._nc.max_payload if self._nc is not None else 1 << 20) - 1024
        if len(data) <= limit or len(spans) == 1:
            await self._publish(js, data)
            return
        half = len(spans) // 2
        await asyncio.gather(self._publish_all(js, spans[:half]), self._publish_all(js, spans[half:]))

    async def _publish(self, js: JetStreamContext, data: bytes) -> None:
        started = time.perf_counter()
        await js.publish(self.config.subject, data, timeout=self.config.publish_timeout, stream=self.config.stream)
        self.publish_seconds.observe(time.perf_counter() - started)
        self.published.inc()
