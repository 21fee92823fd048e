from collections.abc import Sequence

import pytest
from prometheus_client import generate_latest

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, ServerBusy, SpanProcessor, StorageUnhealthy
from spyglass.collector.retry import RetryBuffer
from spyglass.model import Resource, Span
from spyglass.storage.api import Health, SpanWriter
from spyglass.storage.memory import MemoryStore
from support import wait_for

R = Resource("svc")


def spans(n: int, trace: int = 1) -> list[Span]:
    return [Span(trace, i + 1, "op", 0, 1, R) for i in range(n)]


def sample(metrics: IngestMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_spans_reach_storage_and_are_counted() -> None:
    store = MemoryStore()
    metrics = IngestMetrics()
    p = SpanProcessor(store, metrics)
    p.start()
    p.submit(spans(3), receiver="r", fmt="f", nbytes=100)
    wait_for(lambda: len(store.get_trace(1)) == 3)
    p.close()
    assert sample(metrics, "spyglass_spans_received_total", receiver="r", format="f") == 3
    assert sample(metrics, "spyglass_spans_accepted_total", receiver="r", format="f") == 3
    assert sample(metrics, "spyglass_bytes_received_total", receiver="r", format="f") == 100
    assert sample(metrics, "spyglass_spans_written_total") == 3
    assert b"spyglass_queue_capacity" in generate_latest(metrics.registry)


def test_full_queue_raises_busy_and_counts_the_drop() -> None:
    metrics = IngestMetrics()
    p = SpanProcessor(MemoryStore(), metrics, ProcessorConfig(queue_size=4))  # not started: nothing drains
    p.submit(spans(4), receiver="r", fmt="f")
    with pytest.raises(ServerBusy):
        p.submit(spans(2, trace=2), receiver="r", fmt="f")
    assert sample(metrics, "spyglass_spans_rejected_total", receiver="r", format="f", reason="queue_full") == 2
    assert sample(metrics, "spyglass_spans_dropped_total", reason="queue_full") == 2
    assert sample(metrics, "spyglass_queue_length") == 4


class FlakyWriter(SpanWriter):
    """Fails every write while ``broken``; stores into memory otherwise."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.broken = True
        self.calls = 0

    def write_spans(self, spans: Sequence[Span]) -> None:
        self.calls += 1
        if self.broken:
            raise OSError("disk full")
        self.store.write_spans(spans)


def test_a_failed_write_is_held_refuses_new_spans_and_is_written_when_storage_recovers() -> None:
    metrics = IngestMetrics()
    writer = FlakyWriter()
    p = SpanProcessor(writer, metrics)
    p.start()
    p.submit(spans(2), receiver="r", fmt="f")  # acknowledged before anyone knows the disk is full
    wait_for(lambda: not p.storage_healthy)
    assert "disk full" in (p.unhealthy_reason or "")
    with pytest.raises(StorageUnhealthy):
        p.submit(spans(1, trace=2), receiver="r", fmt="f")
    assert sample(metrics, "spyglass_spans_rejected_total", receiver="r", format="f", reason="storage_unavailable") == 1
    wait_for(lambda: writer.calls >= 3)  # retried, with a backoff, not dropped
    assert sample(metrics, "spyglass_spans_dropped_total", reason="storage_error") == 0
    writer.broken = False
    wait_for(lambda: len(writer.store.get_trace(1)) == 2)
    wait_for(lambda: p.storage_healthy)
    p.submit(spans(1, trace=3), receiver="r", fmt="f")
    wait_for(lambda: len(writer.store.get_trace(3)) == 1)
    p.close()
    assert sample(metrics, "spyglass_spans_written_total") == 3


def test_storage_reporting_itself_unhealthy_refuses_spans_until_it_recovers() -> None:
    state = {"health": Health(False, "lock lost")}
    p = SpanProcessor(MemoryStore(), IngestMetrics(), ProcessorConfig(health_interval=0.05),
                      health=lambda: state["health"])
    p.start()
    wait_for(lambda: p.unhealthy_reason == "lock lost")
    with pytest.raises(StorageUnhealthy, match="lock lost"):
        p.submit(spans(1), receiver="r", fmt="f")
    state["health"] = Health(True)
    wait_for(lambda: p.storage_healthy)
    p.submit(spans(1), receiver="r", fmt="f")
    p.close()


def test_spans_still_held_when_stopping_are_counted_as_lost() -> None:
    metrics = IngestMetrics()
    writer = FlakyWriter()
    p = SpanProcessor(writer, metrics, ProcessorConfig(shutdown_retry_seconds=0.3))
    p.start()
    p.submit(spans(2), receiver="r", fmt="f")
    wait_for(lambda: not p.storage_healthy)
    p.close()
    assert sample(metrics, "spyglass_spans_dropped_total", reason="storage_unavailable") == 2


def test_retry_buffer_is_bounded_and_says_what_it_dropped() -> None:
    buf = RetryBuffer(5, first_delay=0.1, max_delay=0.4)
    assert buf.add(spans(3), now=0.0) == 0
    assert buf.add(spans(2, trace=2), now=0.0) == 0
    assert buf.add(spans(2, trace=3), now=0.0) == 3  # the oldest batch made room
    assert len(buf) == 4 and buf.peek()[0].trace_id == 2
    delays = []
    for _ in range(4):
        buf.failed(10.0)
        delays.append(round(buf.next_attempt - 10.0, 3))
    assert delays == sorted(delays) and delays[-1] == 0.4  # backs off, up to the cap
    buf.pop()
    assert len(buf) == 2 and buf.next_attempt == 0.0
    assert buf.drain() == 2 and not buf


def test_close_drains_everything_queued() -> None:
    store = MemoryStore()
    p = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=100_000, batch_size=10))
    for t in range(1, 201):
        p.submit(spans(5, trace=t), receiver="r", fmt="f")
    p.start()
    p.close()
    assert sum(len(store.get_trace(t)) for t in range(1, 201)) == 1000
