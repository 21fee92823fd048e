from collections.abc import Sequence

import pytest
from prometheus_client import generate_latest

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, ServerBusy, SpanProcessor
from spyglass.model import Resource, Span
from spyglass.storage.api import SpanWriter
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


class FailingWriter(SpanWriter):
    def __init__(self) -> None:
        self.calls = 0

    def write_spans(self, spans: Sequence[Span]) -> None:
        self.calls += 1
        raise OSError("disk full")


def test_storage_errors_are_counted_and_the_writer_keeps_going() -> None:
    metrics = IngestMetrics()
    writer = FailingWriter()
    p = SpanProcessor(writer, metrics)
    p.start()
    p.submit(spans(2), receiver="r", fmt="f")
    wait_for(lambda: sample(metrics, "spyglass_spans_dropped_total", reason="storage_error") == 2)
    p.submit(spans(1), receiver="r", fmt="f")
    wait_for(lambda: sample(metrics, "spyglass_spans_dropped_total", reason="storage_error") == 3)
    p.close()
    assert writer.calls == 2


def test_close_drains_everything_queued() -> None:
    store = MemoryStore()
    p = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=100_000, batch_size=10))
    for t in range(1, 201):
        p.submit(spans(5, trace=t), receiver="r", fmt="f")
    p.start()
    p.close()
    assert sum(len(store.get_trace(t)) for t in range(1, 201)) == 1000
