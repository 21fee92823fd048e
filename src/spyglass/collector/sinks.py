"""Chooses the collector's ``SpanSink`` from the settings (the one place that knows all three)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.sink import SpanSink
from spyglass.config import Settings
from spyglass.storage.api import SpanWriter
from spyglass.storage.api.health import Health


def build_sink(
    settings: Settings, writer: SpanWriter, metrics: IngestMetrics, health: Callable[[], Health] | None = None
) -> SpanSink:
    """``--collector.buffer nats``: publish to JetStream (no local writer); otherwise the
    in-memory queue in front of ``writer``, behind a write-ahead log under
    ``<data-dir>/queue`` with ``--collector.queue.durable``."""
    config = ProcessorConfig(queue_size=settings.collector_queue_size, batch_size=settings.collector_batch_size)
    if settings.collector_buffer == "nats":
        from spyglass.collector.buffer.publisher import NatsPublisher
        from spyglass.collector.buffer.stream import BufferConfig

        return NatsPublisher(BufferConfig.from_settings(settings), metrics, max_in_flight=config.queue_size)
    if settings.collector_buffer not in ("", "memory"):
        raise ValueError(f"--collector.buffer: unknown buffer {settings.collector_buffer!r}; known: memory, nats")
    if settings.collector_queue_durable:
        from spyglass.collector.wal import DurableSpanProcessor

        return DurableSpanProcessor(writer, metrics, config, Path(settings.data_dir) / "queue", health=health)
    return SpanProcessor(writer, metrics, config, health=health)
