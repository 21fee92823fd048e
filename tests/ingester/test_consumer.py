"""The ingester's consumer against a real nats-server: it acknowledges only stored batches,
hands refused ones back (they are written later, nothing lost), and terminates messages
that are not span batches instead of retrying them for ever."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import nats
import pytest

from pipeline_procs import NatsServer
from spyglass.collector.buffer.encoding import encode_batch
from spyglass.collector.buffer.stream import BufferConfig, ensure_stream
from spyglass.config import Settings
from spyglass.ingester.consumer import BufferConsumer
from spyglass.ingester.metrics import IngesterMetrics
from spyglass.model import Resource, Span
from spyglass.storage.api import SpanWriter, StorageWriteError

R = Resource("ing")


class FlakyWriter(SpanWriter):
    """Refuses the first ``failures`` writes (a full disk, another writer's lock), then stores."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.stored: list[Span] = []
        self.lock = threading.Lock()

    def write_spans(self, spans: Sequence[Span]) -> None:
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                raise StorageWriteError("disk full")
            self.stored.extend(spans)


@pytest.mark.slow
async def test_refused_batches_come_back_and_poison_is_terminated(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)
    server.start()
    try:
        config = BufferConfig.from_settings(Settings.from_env({}, nats_url=server.url, nats_stream="ing",
                                                              nats_ack_wait="2s", nats_fetch_batch=10))
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await ensure_stream(js, config)
        for trace in range(1, 21):
            await js.publish(config.subject, encode_batch([Span(trace, i + 1, "op", 0, 1, R) for i in range(5)]))
        await js.publish(config.subject, b"not a span batch")

        writer = FlakyWriter(failures=2)
        metrics = IngesterMetrics()
        consumer = BufferConsumer(config, writer, metrics)
        task = asyncio.create_task(consumer.run())
        try:
            async def drained() -> None:
                while len(writer.stored) < 100 or (await js.stream_info("ing")).state.messages:
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(drained(), 30)
        finally:
            await consumer.stop()
            await asyncio.wait_for(task, 10)
        await nc.close()
        assert sorted((s.trace_id, s.span_id) for s in writer.stored) == [
            (t, i) for t in range(1, 21) for i in range(1, 6)]  # every span, once (no ack lost here)
        sample = metrics.registry.get_sample_value
        assert sample("spyglass_ingester_write_failures_total") == 2
        assert sample("spyglass_ingester_redeliveries_total") >= 1  # the refused messages came back
        assert sample("spyglass_ingester_undecodable_messages_total") == 1
        assert sample("spyglass_ingester_spans_written_total") == 100
        assert sample("spyglass_ingester_standby") == 0
    finally:
        server.close()


class SizeRecorder(SpanWriter):
    """Stores everything; remembers the size of each ``write_spans`` call (one insert each)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def write_spans(self, spans: Sequence[Span]) -> None:
        self.sizes.append(len(spans))


@pytest.mark.slow
@pytest.mark.parametrize("insert_spans, expected", [(0, [10] * 10), (50, [50, 50])])
async def test_fetches_are_combined_into_inserts_of_insert_spans(tmp_path: Path, insert_spans: int,
                                                                 expected: list[int]) -> None:
    """Fetches of 2 messages (10 spans): without ``insert_spans`` each is one write; with 50,
    five fetches make one write (ClickHouse pays per insert, so it gets few large ones)."""
    server = NatsServer(tmp_path)
    server.start()
    try:
        config = BufferConfig.from_settings(Settings.from_env({}, nats_url=server.url, nats_stream="big",
                                                              nats_fetch_batch=2))
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await ensure_stream(js, config)
        for trace in range(1, 21):
            await js.publish(config.subject, encode_batch([Span(trace, i + 1, "op", 0, 1, R) for i in range(5)]))
        writer = SizeRecorder()
        consumer = BufferConsumer(config, writer, IngesterMetrics(), insert_spans=insert_spans, linger=5.0)
        task = asyncio.create_task(consumer.run())
        try:
            async def drained() -> None:
                while sum(writer.sizes) < 100 or (await js.stream_info("big")).state.messages:
                    await asyncio.sleep(0.1)

            await asyncio.wait_for(drained(), 30)
        finally:
            await consumer.stop()
            await asyncio.wait_for(task, 10)
        await nc.close()
        assert writer.sizes == expected
    finally:
        server.close()
