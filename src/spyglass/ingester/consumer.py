"""The ingester's loop: fetch a large batch from the shared durable pull consumer, store it,
commit, and only then acknowledge every message of it.

Any number of ingesters bind the same durable consumer (``--nats.consumer``); JetStream
hands each fetch to one of them. A message is acknowledged only after ``write_spans`` and
the storage's ``sync()`` (for sqlite: the fsync'd commit) returned, so an ingester killed at
any point leaves its unacknowledged messages to be redelivered after ``--nats.ack-wait``:
at-least-once. The copy stored twice that way is equal in every field (the encoding is
lossless) and the query's dedupe adjuster shows it once.

With ``insert_spans`` (ClickHouse: ``--clickhouse.batch-size``, 10,000) the ingester keeps
fetching until that many spans are in hand or ``linger`` (``--clickhouse.flush-interval``)
has passed since the first fetch, and stores them as one batch: a fetch holds what arrived
since the last one (often a few client requests), and ClickHouse spends more CPU per span on
small inserts (each is a part per table to write and merge later; bench/capacity.py
insert-size). ``linger`` stays far below ``--nats.ack-wait``.

When storage refuses a batch (disk full, or for sqlite another ingester holding the one
writer lock on the data directory) the messages are negatively acknowledged with a delay,
so another ingester (or this one, later) gets them, and this ingester backs off, fetching
one message at a time until a write succeeds: with sqlite, extra ingesters are standbys
that take over within about two seconds when the writing one dies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from spyglass.collector.buffer.encoding import BatchDecodeError, decode_batch
from spyglass.collector.buffer.stream import BufferConfig, StreamGauges, connect, ensure_stream
from spyglass.ingester.metrics import IngesterMetrics
from spyglass.model import Span
from spyglass.storage.api import SpanWriter

log = logging.getLogger(__name__)

_FETCH_WAIT = 1.0
_MAX_BACKOFF = 2.0  # also how soon a standby notices the writing ingester is gone


class BufferConsumer:
    def __init__(self, config: BufferConfig, writer: SpanWriter, metrics: IngesterMetrics, *,
                 insert_spans: int = 0, linger: float = 0.0) -> None:
        self.config = config
        self.writer = writer
        self.insert_spans = insert_spans
        self.linger = min(linger, config.ack_wait / 4)
        self.sync: Callable[[], bool] = getattr(writer, "sync", None) or (lambda: True)
        self.metrics = metrics
        self.gauges = StreamGauges(metrics.registry, config, consumer=True)
        self.connected = False
        self._stopping = asyncio.Event()
        self._nc: Any = None
        self._backoff = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect (retrying until NATS is there), then consume until ``stop``."""
        while not self._stopping.is_set():
            try:
                self._nc = await connect(self.config, "spyglass-ingester")
                js = self._nc.jetstream(timeout=5)
                await ensure_stream(js, self.config)
                sub = await js.pull_subscribe(
                    self.config.subject,
                    durable=self.config.consumer,
                    stream=self.config.stream,
                    config=ConsumerConfig(
                        durable_name=self.config.consumer,
                        ack_policy=AckPolicy.EXPLICIT,
                        ack_wait=self.config.ack_wait,
                        max_ack_pending=max(10_000, self.config.fetch_batch * 20),
                        max_waiting=512,
                    ),
                )
            except (OSError, nats.errors.Error, asyncio.TimeoutError) as exc:
                log.warning("cannot bind the JetStream consumer at %s (%s); retrying", self.config.servers, exc)
                await self._close_connection()
                await self._sleep(1.0)
                continue
            self.connected = True
            log.info("ingesting from JetStream stream %s (consumer %s)", self.config.stream, self.config.consumer)
            gauges = asyncio.ensure_future(self.gauges.run(js))
            try:
                await self._consume(sub)
            finally:
                gauges.cancel()
                self.connected = False
        await self._close_connection()

    async def stop(self) -> None:
        self._stopping.set()

    async def _close_connection(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                await nc.close()
            except (nats.errors.Error, asyncio.TimeoutError):
                pass

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    # -- consuming -------------------------------------------------------------------------------
    async def _fetch(self, sub: JetStreamContext.PullSubscription, batch: int, timeout: float) -> list[Any]:
        """Up to ``batch`` messages, waiting at most ``timeout`` for the first; [] when none."""
        try:
            return list(await sub.fetch(batch=batch, timeout=timeout))
        except (asyncio.TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as exc:  # disconnected: the client reconnects by itself
            log.debug("fetch failed: %s", exc)
            await self._sleep(0.5)
            return []

    async def _consume(self, sub: JetStreamContext.PullSubscription) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            batch = 1 if self._backoff else self.config.fetch_batch
            msgs = await self._fetch(sub, batch, _FETCH_WAIT)
            if not msgs:
                continue
            decoded = await self._decode(msgs)
            if self.insert_spans and not self._backoff:
                deadline = loop.time() + self.linger
                while len(decoded[0]) < self.insert_spans and not self._stopping.is_set():
                    left = deadline - loop.time()
                    if left <= 0.001:
                        break
                    more = await self._fetch(sub, batch, left)
                    if more:
                        spans, good, newest = await self._decode(more)
                        decoded = (decoded[0] + spans, decoded[1] + good, max(decoded[2], newest))
            await self._store_and_ack(*decoded)

    async def _decode(self, msgs: Sequence[Any]) -> tuple[list[Span], list[Any], float]:
        """The spans of ``msgs``, the messages they came from, the newest publish time;
        messages that are not span batches are terminated and counted."""
        m = self.metrics
        spans: list[Span] = []
        good = []
        newest = 0.0
        for msg in msgs:
            try:
                meta = msg.metadata
                if meta.num_delivered > 1:
                    m.redeliveries.inc()
                newest = max(newest, meta.timestamp.timestamp())
            except Exception:  # not a JetStream message: no metadata
                pass
            try:
                spans.extend(decode_batch(msg.data))
            except BatchDecodeError as exc:
                log.error("terminating a message that is not a span batch: %s", exc)
                m.poison_messages.inc()
                await self._reply(msg.term())
                continue
            good.append(msg)
        return spans, good, newest

    async def _store_and_ack(self, spans: list[Span], good: list[Any], newest: float) -> None:
        """Store ``spans`` and acknowledge the messages they came from, or hand them back."""
        m = self.metrics
        started = time.perf_counter()
        stored = await asyncio.to_thread(self._store, spans)
        m.write_seconds.observe(time.perf_counter() - started)
        if not stored:
            m.write_failures.inc()
            self._backoff = min(_MAX_BACKOFF, (self._backoff or 0.25) * 2)
            m.standby.set(1)
            for msg in good:
                await self._reply(msg.nak(delay=self._backoff))
            await self._sleep(self._backoff)
            return
        if self._backoff:
            log.info("storage accepts writes again")
        self._backoff = 0.0
        m.standby.set(0)
        for msg in good:
            await self._reply(msg.ack())
        m.messages_acked.inc(len(good))
        m.spans_written.inc(len(spans))
        if newest:
            m.lag_seconds.set(max(0.0, time.time() - newest))

    def _store(self, spans: list[Span]) -> bool:
        """Write and commit; False (logged once per state change) when storage refuses."""
        try:
            if spans:
                self.writer.write_spans(spans)
            if self.sync():
                return True
            reason = "the storage could not commit"
        except Exception as exc:  # any backend failure: the messages go back to JetStream
            reason = str(exc)
        if not self._backoff:
            log.warning("storage refused %d spans (%s); handing them back to JetStream", len(spans), reason)
        return False

    @staticmethod
    async def _reply(coro: Any) -> None:
        """Ack/nak/term are plain publishes; a lost one only means a redelivery."""
        try:
            await coro
        except (nats.errors.Error, asyncio.TimeoutError) as exc:
            log.debug("acknowledgement not sent: %s", exc)
