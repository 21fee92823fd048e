"""The durable queue: what ``accept`` acknowledged is on disk, survives a crash (a processor
abandoned without ``close``), is replayed exactly, and is truncated once storage holds it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, ServerBusy
from spyglass.collector.wal import DurableSpanProcessor, WriteAheadLog, read_segment, segment_ids
from spyglass.model import KeyValue, Resource, Span
from spyglass.storage.api import SpanWriter
from spyglass.storage.memory import MemoryStore
from support import wait_for

R = Resource("svc", [KeyValue("host", "h")])


def spans(trace: int, n: int = 3) -> list[Span]:
    return [Span(trace, i + 1, f"op{i}", 1_000 + i, 5, R, attributes=[KeyValue("i", i)]) for i in range(n)]


class StuckWriter(SpanWriter):
    """Storage that never finishes a write: everything acknowledged stays only in the log."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def write_spans(self, batch: Sequence[Span]) -> None:
        self.release.wait(30)


class SyncingStore(MemoryStore):
    """Memory storage with the ``sync`` hook; counts the commits the checkpoint asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs = 0
        self.durable = True

    def sync(self) -> bool:
        self.syncs += 1
        return self.durable


def test_acknowledged_spans_survive_a_crash_and_are_replayed(tmp_path: Path) -> None:
    stuck = StuckWriter()
    crashed = DurableSpanProcessor(stuck, IngestMetrics(), ProcessorConfig(), tmp_path)
    crashed.start()
    for trace in (1, 2, 3):
        asyncio.run(crashed.accept(spans(trace), receiver="r", fmt="f"))
    assert segment_ids(tmp_path)  # on disk before accept returned
    # "kill -9": the process is gone without close(); a new one starts on the same directory.
    store = MemoryStore()
    metrics = IngestMetrics()
    fresh = DurableSpanProcessor(store, metrics, ProcessorConfig(), tmp_path)
    fresh.start()
    try:
        for trace in (1, 2, 3):
            assert [repr(s) for s in store.get_trace(trace)] == [repr(s) for s in spans(trace)]
        assert metrics.registry.get_sample_value("spyglass_wal_replayed_spans_total") == 9
    finally:
        fresh.close()
        stuck.release.set()
    assert segment_ids(tmp_path) == []  # replayed, committed, deleted; a clean stop leaves nothing


def test_a_torn_last_record_is_ignored_and_the_rest_replayed(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    from spyglass.collector.buffer.encoding import encode_batch

    seq = wal.append([encode_batch(spans(1)), encode_batch(spans(2))])
    wal.close()
    path = next(tmp_path.glob("wal-*.log"))
    with open(path, "ab") as f:
        f.write(b"\x40\x00\x00\x00\x01\x02\x03")  # a header promising 64 bytes, and 3 of them
    assert seq == 1 and len(list(read_segment(path))) == 2
    store = MemoryStore()
    p = DurableSpanProcessor(store, IngestMetrics(), ProcessorConfig(), tmp_path)
    p.start()
    p.close()
    assert len(store.get_trace(1)) == 3 and len(store.get_trace(2)) == 3


def test_checkpoints_delete_segments_storage_holds(tmp_path: Path) -> None:
    store = SyncingStore()
    p = DurableSpanProcessor(store, IngestMetrics(), ProcessorConfig(), tmp_path, checkpoint_seconds=0.05)
    p.start()
    try:
        async def load() -> None:
            for trace in range(1, 40):
                await p.accept(spans(trace), receiver="r", fmt="f")
                await asyncio.sleep(0.01)

        asyncio.run(load())
        wait_for(lambda: len(store.get_trace(39)) == 3)
        # Closed segments go once the storage committed them; at most the open one stays.
        wait_for(lambda: len(segment_ids(tmp_path)) <= 1, timeout=5)
        assert store.syncs > 0
    finally:
        p.close()
    assert segment_ids(tmp_path) == []


def test_a_storage_that_cannot_commit_keeps_the_log(tmp_path: Path) -> None:
    store = SyncingStore()
    store.durable = False
    p = DurableSpanProcessor(store, IngestMetrics(), ProcessorConfig(), tmp_path, checkpoint_seconds=0.05)
    p.start()
    asyncio.run(p.accept(spans(1), receiver="r", fmt="f"))
    wait_for(lambda: store.syncs >= 3)
    p.close()
    assert segment_ids(tmp_path)  # kept for the next start's replay


def test_a_full_queue_refuses_before_logging(tmp_path: Path) -> None:
    stuck = StuckWriter()
    metrics = IngestMetrics()
    p = DurableSpanProcessor(stuck, metrics, ProcessorConfig(queue_size=5, batch_size=1), tmp_path)
    p.start()
    try:
        asyncio.run(p.accept(spans(1, 3), receiver="r", fmt="f"))
        wait_for(lambda: len(p.queue) == 0)  # the writer took that batch and is stuck on it
        asyncio.run(p.accept(spans(2, 4), receiver="r", fmt="f"))
        with pytest.raises(ServerBusy):
            asyncio.run(p.accept(spans(3, 3), receiver="r", fmt="f"))
        assert metrics.registry.get_sample_value(
            "spyglass_spans_rejected_total", {"receiver": "r", "format": "f", "reason": "queue_full"}) == 3
    finally:
        stuck.release.set()
        p.close()


def test_concurrent_requests_share_fsyncs(tmp_path: Path) -> None:
    metrics = IngestMetrics()
    p = DurableSpanProcessor(MemoryStore(), metrics, ProcessorConfig(), tmp_path)
    p.start()
    try:
        async def burst() -> None:
            await asyncio.gather(*(p.accept(spans(t), receiver="r", fmt="f") for t in range(1, 201)))

        asyncio.run(burst())
    finally:
        p.close()
    groups = metrics.registry.get_sample_value("spyglass_wal_group_commit_records_count")
    records = metrics.registry.get_sample_value("spyglass_wal_group_commit_records_sum")
    assert records == 200
    assert groups < 200  # 200 requests waiting at once cannot each need their own fsync


class FailingAfterRelease(SyncingStore):
    """Storage whose first write waits for ``go`` and then fails (disk full), as do all
    writes until ``ok`` is set: that batch goes to the retry buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.ok = threading.Event()

    def write_spans(self, spans: Sequence[Span]) -> None:
        self.go.wait(30)
        if not self.ok.is_set():
            raise OSError("disk full")
        super().write_spans(spans)


def test_spans_held_for_retry_are_not_truncated_from_the_log(tmp_path: Path) -> None:
    import time

    store = FailingAfterRelease()
    p = DurableSpanProcessor(store, IngestMetrics(), ProcessorConfig(), tmp_path, checkpoint_seconds=0.05)
    p.start()
    try:
        asyncio.run(p.accept(spans(1), receiver="r", fmt="f"))  # its write is under way (waiting)
        time.sleep(0.2)
        asyncio.run(p.accept(spans(2), receiver="r", fmt="f"))  # a newer segment: trace 1's is closed
        assert len(segment_ids(tmp_path)) == 2
        store.go.set()  # trace 1's write fails: held for retry, trace 2 waits in the queue
        wait_for(lambda: len(p.retry) == 3)
        assert p.checkpoint()
        assert len(segment_ids(tmp_path)) == 2  # storage holds neither trace: both stay logged
    finally:
        p._stop_checkpoint.set()  # "kill -9": abandon p (daemon threads); it truncates nothing more
    fresh_store = MemoryStore()
    fresh = DurableSpanProcessor(fresh_store, IngestMetrics(), ProcessorConfig(), tmp_path)
    fresh.start()
    try:
        assert len(fresh_store.get_trace(1)) == 3 and len(fresh_store.get_trace(2)) == 3
    finally:
        fresh.close()
        store.ok.set()
