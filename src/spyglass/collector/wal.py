"""The durable queue (``--collector.queue.durable``): a write-ahead log in front of the queue.

Without it, an acknowledged span lives only in process memory until the storage commits it,
so ``kill -9`` loses the queue plus the commit interval. With it, ``accept`` returns only
after the spans' record is in a segment file under ``<data-dir>/queue/`` and ``fdatasync``
has returned; the writer thread then stores them as before. A checkpoint thread asks the
storage to commit (``sync()``; the sqlite writer's commit is fsync'd) and deletes segments
whose every span is durable in storage. On start, segments left by a crash are replayed into
storage before any listener opens; a span stored but not yet checkpointed is then stored
twice, which the query's dedupe adjuster hides (the encoding is lossless, so copies are
equal).

Group commit: one log thread takes every record waiting, writes them with one ``write`` and
one ``fdatasync``, then wakes all their requests. While one fsync runs the next group
gathers, so concurrent clients share fsyncs and throughput does not fall to one request per
disk flush.

Record: ``length (u32) | crc32 (u32) | payload`` (``buffer.encoding``). Replay stops at the
first short or corrupt record of a segment: it is the write a crash cut, never acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

from spyglass.collector.buffer.encoding import BatchDecodeError, decode_batch, encode_batch
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import (ProcessorConfig, ServerBusy, SpanProcessor, StorageUnhealthy, Submitted,
                                         screen, submitted)
from spyglass.collector.validation import Validated
from spyglass.model import Span
from spyglass.storage.api import SpanWriter
from spyglass.storage.clickhouse.prepared import MAGIC as COLUMNS_MAGIC
from spyglass.storage.clickhouse.prepared import decode as decode_prepared
from spyglass.storage.sqlite.prepared import MAGIC as PREPARED_MAGIC
from spyglass.storage.api.health import Health

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_PREFIX = "wal-"
_SUFFIX = ".log"
SEGMENT_BYTES = 32 * 1024 * 1024
CHECKPOINT_SECONDS = 1.0


def _segment_name(seq: int) -> str:
    return f"{_PREFIX}{seq:012d}{_SUFFIX}"


def segment_ids(directory: Path) -> list[int]:
    """The segments present, oldest first."""
    out = []
    for p in directory.glob(f"{_PREFIX}*{_SUFFIX}"):
        try:
            out.append(int(p.name[len(_PREFIX):-len(_SUFFIX)]))
        except ValueError:
            continue
    return sorted(out)


def read_records(data: bytes) -> Generator[bytes, None, int]:
    """The payloads of the whole records at the start of ``data``, up to the first short or
    corrupt one; returns the offset where they end (``len(data)`` when all are whole). Apart
    from the file read, this is what replay does with a segment, so it is fuzzed on its own
    (``bench/fuzz.py``)."""
    pos, end = 0, len(data)
    while pos + _HEADER.size <= end:
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if start + length > end or zlib.crc32(data[start:start + length]) != crc:
            break
        yield data[start:start + length]
        pos = start + length
    return pos


def read_segment(path: Path) -> Iterator[bytes]:
    """The payloads of one segment, up to its first short or corrupt record."""
    data = path.read_bytes()
    pos = yield from read_records(data)
    if pos != len(data):
        log.warning("write-ahead log %s: %d bytes after the last whole record ignored (a write cut by a crash, "
                    "never acknowledged)", path.name, len(data) - pos)


class WriteAheadLog:
    """Append-only segment files; ``append`` returns once the records are fsync'd.

    A segment is closed after ``segment_bytes`` or ``segment_seconds``, so under steady load
    checkpoints can delete all but the last second or so and a restart re-stores little."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES, segment_seconds: float = 1.0) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self._opened = 0.0
        directory.mkdir(parents=True, exist_ok=True)
        existing = segment_ids(directory)
        self.current = (existing[-1] if existing else 0) + 1
        self._fd = -1
        self._size = 0
        self._dir_fd = os.open(directory, os.O_RDONLY)

    def _open_current(self) -> None:
        self._fd = os.open(self.directory / _segment_name(self.current), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = 0
        self._opened = time.monotonic()
        os.fsync(self._dir_fd)  # the new name itself must survive a crash

    def rotate(self) -> None:
        """Close the current segment (if it has records); the next append starts a new one."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self.current += 1

    def append(self, payloads: Sequence[bytes]) -> int:
        """Write and fsync ``payloads``; the id of the segment now holding them."""
        if self._fd >= 0 and (self._size >= self.segment_bytes
                              or time.monotonic() - self._opened >= self.segment_seconds):
            self.rotate()  # closed segments are what checkpoints delete
        if self._fd < 0:
            self._open_current()
        parts = []
        for p in payloads:
            parts.append(_HEADER.pack(len(p), zlib.crc32(p)))
            parts.append(p)
        data = b"".join(parts)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fdatasync(self._fd)
        self._size += len(data)
        return self.current

    def remove(self, ids: Sequence[int]) -> None:
        for seq in ids:
            try:
                os.unlink(self.directory / _segment_name(seq))
            except FileNotFoundError:
                pass
        if ids:
            os.fsync(self._dir_fd)

    def size_bytes(self) -> int:
        total = 0
        for seq in segment_ids(self.directory):
            try:
                total += (self.directory / _segment_name(seq)).stat().st_size
            except FileNotFoundError:
                pass
        return total

    def close(self) -> None:
        self.rotate()
        os.close(self._dir_fd)


@dataclass(slots=True)
class _Pending:
    spans: Sequence[Span]
    future: asyncio.Future[None] | None
    loop: asyncio.AbstractEventLoop | None


@dataclass(slots=True)
class _WalMetrics:
    registry_owner: IngestMetrics
    fsync_seconds: Histogram = field(init=False)
    group_records: Histogram = field(init=False)
    replayed: Counter = field(init=False)
    segments: Gauge = field(init=False)
    wal_bytes: Gauge = field(init=False)

    def __post_init__(self) -> None:
        r = self.registry_owner.registry
        self.fsync_seconds = Histogram("spyglass_wal_fsync_seconds", "Write and fsync of one group commit",
                                       registry=r, buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1))
        self.group_records = Histogram("spyglass_wal_group_commit_records", "Requests sharing one fsync",
                                       registry=r, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.replayed = Counter("spyglass_wal_replayed_spans", "Spans replayed from the write-ahead log at start",
                                registry=r)
        self.segments = Gauge("spyglass_wal_segments", "Segment files of the write-ahead log", registry=r)
        self.wal_bytes = Gauge("spyglass_wal_bytes", "Bytes in the write-ahead log's segments", registry=r)


class DurableSpanProcessor(SpanProcessor):
    """``SpanProcessor`` whose ``accept`` returns only once the spans are fsync'd to the log.

    ``sync`` commits the storage and says whether everything written so far is durable
    (``SqliteWriter.sync``); backends without one are taken as durable when ``write_spans``
    returns (the memory backend: nothing survives a restart there anyway).
    """

    def __init__(
        self,
        writer: SpanWriter,
        metrics: IngestMetrics,
        config: ProcessorConfig | None,
        directory: Path,
        *,
        segment_bytes: int = SEGMENT_BYTES,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
        health: Callable[[], Health] | None = None,
    ) -> None:
        super().__init__(writer, metrics, config, health=health)
        self.directory = directory
        self.sync: Callable[[], bool] = getattr(writer, "sync", None) or (lambda: True)
        self.segment_bytes = segment_bytes
        self.checkpoint_seconds = checkpoint_seconds
        self.wal_metrics = _WalMetrics(metrics)
        self.wal: WriteAheadLog | None = None
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._reserved = 0  # spans accepted into the log's hands, not yet in the queue
        self._closing = False
        self._enqueued = 0  # spans put into the queue, in log order
        self._taken = 0  # spans the writer thread has taken from the queue (``_done`` subtracts held ones)
        self._segment_end: dict[int, int] = {}  # segment -> ``_enqueued`` after its last record
        self._durable = -1  # ``_done()`` at the last successful storage commit
        self._log_thread: threading.Thread | None = None
        self._checkpoint_thread: threading.Thread | None = None
        self._stop_checkpoint = threading.Event()

    # -- start: replay what a crash left ---------------------------------------------------------
    def replay(self) -> int:
        """Store every span of the segments found on disk, commit, delete them; the count."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ids = segment_ids(self.directory)
        total = 0
        batch: list[Span] = []
        for seq in ids:
            for payload in read_segment(self.directory / _segment_name(seq)):
                if payload[:4] in (PREPARED_MAGIC, COLUMNS_MAGIC):  # a batch a collector worker prepared (--workers)
                    try:
                        prepared = decode_prepared(payload)
                    except ValueError as exc:
                        log.error("write-ahead log segment %d: skipping a record: %s", seq, exc)
                        continue
                    if batch:
                        self.writer.write_spans(batch)
                        total += len(batch)
                        batch = []
                    self.writer.write_prepared([prepared])  # type: ignore[attr-defined]
                    total += len(prepared)
                    continue
                try:
                    batch.extend(decode_batch(payload))
                except BatchDecodeError as exc:
                    log.error("write-ahead log segment %d: skipping a record: %s", seq, exc)
                    continue
                if len(batch) >= self.config.batch_size:
                    self.writer.write_spans(batch)
                    total += len(batch)
                    batch = []
        if batch:
            self.writer.write_spans(batch)
            total += len(batch)
        if ids:
            if not self.sync():
                raise OSError(f"cannot commit the spans replayed from {self.directory} to storage")
            for seq in ids:
                os.unlink(self.directory / _segment_name(seq))
            log.info("replayed %d spans from %d write-ahead log segment(s) into storage", total, len(ids))
        self.wal_metrics.replayed.inc(total)
        return total

    def start(self) -> None:
        self.replay()
        self.wal = WriteAheadLog(self.directory, self.segment_bytes, self.checkpoint_seconds)
        self.wal_metrics.segments.set_function(lambda: len(segment_ids(self.directory)))
        self.wal_metrics.wal_bytes.set_function(lambda: self.wal.size_bytes() if self.wal else 0)
        super().start()
        self._log_thread = threading.Thread(target=self._run_log, name="spyglass-wal", daemon=True)
        self._log_thread.start()
        self._checkpoint_thread = threading.Thread(target=self._run_checkpoint, name="spyglass-wal-checkpoint",
                                                   daemon=True)
        self._checkpoint_thread.start()

    async def open(self) -> None:
        await asyncio.to_thread(self.start)

    # -- accepting -----------------------------------------------------------------------------
    def _reserve(self, n: int, receiver: str, fmt: str) -> None:
        m = self.metrics
        with self._cond:
            waiting = len(self.queue) + self._reserved
            reason = None
            if self._closing:
                reason = "shutting_down"
            elif self.unhealthy_reason is not None:
                reason = "storage_unavailable"
            elif waiting + n > self.config.queue_size and waiting > 0:
                reason = "queue_full"
            if reason is None:
                self._reserved += n
                return
            if reason == "queue_full":
                self.queue.note_refusal()
        m.spans_rejected.labels(receiver, fmt, reason).inc(n)
        m.spans_dropped.labels(reason).inc(n)
        if reason == "storage_unavailable":
            raise StorageUnhealthy(f"storage unavailable: {self.unhealthy_reason}")
        raise ServerBusy(f"queue full ({waiting}/{self.config.queue_size} spans)" if reason == "queue_full"
                         else "shutting down")

    def has_room(self) -> bool:
        """The queue and the spans reserved on their way through the log leave room."""
        return self.queue.has_room() and len(self.queue) + self._reserved < self.config.queue_size

    def _enqueue(self, item: _Pending) -> None:
        with self._cond:
            self._pending.append(item)
            self._cond.notify()

    def _screen(self, spans: Sequence[Span], receiver: str, fmt: str, nbytes: int) -> tuple[Sequence[Span], Validated]:
        spans, checked = screen(self.metrics, spans, receiver, fmt, nbytes)
        if self.sanitizers and spans:
            spans = [self._sanitize(s) for s in spans]
        return spans, checked

    async def accept(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """Return once the storable spans are fsync'd in the log (and queued for storage)."""
        spans, checked = self._screen(spans, receiver, fmt, nbytes)
        if spans:
            self._reserve(len(spans), receiver, fmt)
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()
            self._enqueue(_Pending(spans, future, loop))
            await future  # ServerBusy if the log could not be written
            self.metrics.spans_accepted.labels(receiver, fmt).inc(len(spans))
        return submitted(len(spans), checked)

    async def accept_prepared(self, prepared: Sequence[Span], *, receiver: str, fmt: str) -> Submitted:
        """A batch a collector worker validated and prepared: logged (its bytes as they
        are), then queued; returns once fsync'd."""
        n = len(prepared)
        self._reserve(n, receiver, fmt)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._enqueue(_Pending(prepared, future, loop))
        await future
        self.metrics.spans_accepted.labels(receiver, fmt).inc(n)
        return Submitted(n)

    def submit_prepared(self, prepared: Sequence[Span], *, receiver: str, fmt: str) -> Submitted:
        n = len(prepared)
        self._reserve(n, receiver, fmt)
        self._enqueue(_Pending(prepared, None, None))
        self.metrics.spans_accepted.labels(receiver, fmt).inc(n)
        return Submitted(n)

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """UDP: logged like the rest, but nothing waits (the client gets no answer anyway)."""
        spans, checked = self._screen(spans, receiver, fmt, nbytes)
        if spans:
            self._reserve(len(spans), receiver, fmt)
            self._enqueue(_Pending(spans, None, None))
            self.metrics.spans_accepted.labels(receiver, fmt).inc(len(spans))
        return submitted(len(spans), checked)

    # -- the log thread: group commit ------------------------------------------------------------
    def _run_log(self) -> None:
        assert self.wal is not None
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                group, self._pending = self._pending, []
                if not group and self._closing:
                    return
            self._commit_group(group)

    def _commit_group(self, group: list[_Pending]) -> None:
        wal = self.wal
        assert wal is not None
        started = time.perf_counter()
        payloads, group = self._encode(group)
        if not group:
            return
        try:
            with self._cond:
                rotate = self._processed_durable_through_current()
            if rotate:
                wal.rotate()
            seq = wal.append(payloads)
        except OSError as exc:
            log.error("write-ahead log write of %d request(s) failed: %s", len(group), exc)
            try:
                wal.rotate()  # a torn record ends that segment's replay: later records go to a new one
            except OSError:
                pass
            n = sum(len(i.spans) for i in group)
            self.metrics.spans_dropped.labels("wal_error").inc(n)
            with self._cond:
                self._reserved -= n
            for item in group:
                if item.future is not None and item.loop is not None:
                    item.loop.call_soon_threadsafe(_fail, item.future, f"write-ahead log unavailable: {exc}")
            return
        self.wal_metrics.fsync_seconds.observe(time.perf_counter() - started)
        self.wal_metrics.group_records.observe(len(group))
        for item in group:
            n = len(item.spans)
            self.queue.put_nowait(item.spans, force=True)
            with self._cond:
                self._reserved -= n
                self._enqueued += n
                self._segment_end[seq] = self._enqueued
            if item.future is not None and item.loop is not None:
                item.loop.call_soon_threadsafe(_succeed, item.future)

    def _encode(self, group: list[_Pending]) -> tuple[list[bytes], list[_Pending]]:
        """Encode each request's spans; a request that cannot be encoded fails alone."""
        payloads, kept = [], []
        for item in group:
            try:
                prepared = getattr(item.spans, "payload", None)
                payloads.append(prepared if prepared is not None else encode_batch(item.spans))
                kept.append(item)
            except (ValueError, OverflowError, TypeError) as exc:
                n = len(item.spans)
                log.warning("cannot log %d span(s) (%s); refusing them", n, exc)
                self.metrics.spans_dropped.labels("unencodable").inc(n)
                with self._cond:
                    self._reserved -= n
                if item.future is not None and item.loop is not None:
                    item.loop.call_soon_threadsafe(_fail, item.future, f"spans cannot be logged: {exc}")
        return payloads, kept

    def _processed_durable_through_current(self) -> bool:
        """The current segment may be closed when the checkpoint found all of it durable."""
        wal = self.wal
        end = self._segment_end.get(wal.current) if wal is not None else None
        return end is not None and end <= self._durable

    # -- the writer thread counts what it took ---------------------------------------------------
    def _write(self, batch: Sequence[Span]) -> bool:
        """Counted once the write returned: a failed batch sits in the retry buffer, which
        ``_done`` subtracts, so a checkpoint never truncates spans storage does not hold."""
        try:
            return super()._write(batch)
        finally:
            with self._cond:
                self._taken += len(batch)

    def _done(self) -> int:
        """Spans taken from the queue and written (or counted as dropped), in log order: the
        writer retries held batches before it takes new ones, so order is kept. Read
        ``_taken`` before the retry buffer so a concurrent failure can only make it lower."""
        with self._cond:
            taken = self._taken
        return taken - len(self.retry)

    # -- checkpoints: truncate what storage holds durably ---------------------------------------
    def _run_checkpoint(self) -> None:
        while not self._stop_checkpoint.wait(self.checkpoint_seconds):
            self.checkpoint()

    def checkpoint(self) -> bool:
        """Commit the storage; delete the closed segments it now holds entirely."""
        wal = self.wal
        if wal is None:
            return False
        processed = self._done()
        with self._cond:
            if processed == self._durable:
                return True
        try:
            ok = self.sync()
        except Exception as exc:  # a failing backend keeps the log; it is retried next time
            log.warning("storage commit for the write-ahead log checkpoint failed: %s", exc)
            ok = False
        if not ok:
            return False
        with self._cond:
            self._durable = processed
            done = [seq for seq, end in self._segment_end.items() if end <= processed and seq != wal.current]
            for seq in done:
                del self._segment_end[seq]
        wal.remove(done)
        return True

    # -- shutdown --------------------------------------------------------------------------------
    def close(self, timeout: float = 30.0) -> None:
        """Refuse new spans, log and store what was accepted, commit, delete the log."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._log_thread is not None:
            self._log_thread.join(timeout)
        self._stop_checkpoint.set()
        if self._checkpoint_thread is not None:
            self._checkpoint_thread.join(timeout)
        super().close(timeout)
        wal = self.wal
        if wal is None:
            return
        try:
            clean = (self._thread is None or not self._thread.is_alive()) and self.sync()
        except Exception as exc:
            log.warning("final storage commit failed, keeping the write-ahead log for the next start: %s", exc)
            clean = False
        wal.rotate()
        if clean:
            wal.remove(segment_ids(self.directory))
        wal.close()
        self.wal = None


def _succeed(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future[None], message: str) -> None:
    if not future.done():
        future.set_exception(ServerBusy(message))
