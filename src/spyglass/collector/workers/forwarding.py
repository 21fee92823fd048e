"""The worker's ``SpanSink``: hands each request's spans to the parent and answers the
client with the parent's answer.

The spans travel in the buffer's lossless encoding (``buffer.encoding``, ~1 µs per span
here); the parent validates, counts and queues them exactly as an in-process receiver's
sink would, so a worker adds no semantics of its own: "accepted" still means what the
parent's sink promises (queued, or fsync'd to the write-ahead log with
``--collector.queue.durable``). A worker holds no spans: if it dies, the requests it had
in flight were either answered or the client sees its connection close and retries.
While the parent's queue is full (it says so with a "room" frame), the worker's receivers
refuse requests before decoding them.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence

from spyglass.collector.buffer.encoding import encode_batch
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import (ServerBusy, StorageUnhealthy, Submitted, count_rejected, screen,
                                          submitted)
from spyglass.collector.validation import validate
from spyglass.collector.workers.channel import frame
from spyglass.model import Span
from spyglass.storage.clickhouse.prepared import Preparer as ColumnsPreparer
from spyglass.storage.sqlite.prepared import Preparer
from spyglass.storage.sqlite.rows import encode_chunk
from spyglass.security.forwarding import current_authorization
from spyglass.tenancy.gate import RateLimited

log = logging.getLogger(__name__)

# Requests a worker may have waiting for the parent: beyond it, ServerBusy at once (the
# parent's queue bounds the spans; this bounds the worker's memory if the parent stalls).
MAX_IN_FLIGHT = 1024


class ForwardingSink:
    def __init__(self, metrics: IngestMetrics, writer: asyncio.StreamWriter | None = None,
                 prepare: str = "") -> None:
        self.metrics = metrics
        self.writer = writer
        # sqlite, clickhouse (``prepare`` names the storage): validate, count and prepare the
        # writer's rows here (storage.sqlite.prepared, storage.clickhouse.prepared)
        self.preparer: Preparer | ColumnsPreparer | None = (
            ColumnsPreparer() if prepare == "clickhouse" else Preparer() if prepare else None)
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Submitted]] = {}
        self._closed = False
        self.room = True  # the parent's queue has room (its "room" frames, ``supervisor._watch_room``)

    # -- SpanSink -----------------------------------------------------------------------
    def has_room(self) -> bool:
        """The parent's queue has room (as last told) and fewer than ``MAX_IN_FLIGHT``
        requests wait for it: otherwise the receivers refuse before decoding."""
        return self.room and len(self._waiting) < MAX_IN_FLIGHT

    async def accept(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        if self.preparer is not None:
            return await self._accept_prepared(spans, receiver, fmt, nbytes)
        if not spans:
            return Submitted(0)
        payload, unencodable, why = self._encode(spans, receiver, fmt)
        if payload is None:
            return Submitted(0, unencodable, why)
        if self._closed or self.writer is None or self.writer.is_closing():
            self._refuse(len(spans) - unencodable, receiver, fmt, "shutting_down")
            raise ServerBusy("shutting down")
        if len(self._waiting) >= MAX_IN_FLIGHT:
            self._refuse(len(spans) - unencodable, receiver, fmt, "queue_full")
            raise ServerBusy(f"worker has {MAX_IN_FLIGHT} requests waiting for the writer")
        rid = next(self._ids)
        future: asyncio.Future[Submitted] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            self.writer.write(frame("batch", rid, receiver, fmt, nbytes, payload, True, current_authorization()))
            await self.writer.drain()
            answer = await future
        finally:
            self._waiting.pop(rid, None)
        if unencodable:
            return Submitted(answer.accepted, answer.rejected + unencodable,
                             "; ".join(e for e in (answer.error, why) if e))
        return answer

    async def _accept_prepared(self, spans: Sequence[Span], receiver: str, fmt: str, nbytes: int) -> Submitted:
        good, checked = screen(self.metrics, spans, receiver, fmt, nbytes)
        payload = self._prepare(good)
        if payload is None:
            if good:  # never reported as accepted: the client hears they were refused
                return Submitted(0, len(spans), "spans cannot be stored (values out of range)")
            return submitted(0, checked)
        answer = await self._send(payload, receiver, fmt, len(good), counted=True)
        return submitted(answer.accepted, checked)

    def _prepare(self, spans: Sequence[Span]) -> bytes | None:
        assert self.preparer is not None
        if not spans:
            return None
        try:
            return self.preparer.prepare(spans)
        except (OverflowError, ValueError, TypeError):  # validation lets no such value through
            log.exception("cannot prepare %d span(s) for storage", len(spans))
            self.metrics.spans_dropped.labels("unencodable").inc(len(spans))
            return None

    async def _send(self, payload: bytes, receiver: str, fmt: str, n: int, counted: bool) -> Submitted:
        if self._closed or self.writer is None or self.writer.is_closing():
            self._refuse(n, receiver, fmt, "shutting_down", counted)
            raise ServerBusy("shutting down")
        if len(self._waiting) >= MAX_IN_FLIGHT:
            self._refuse(n, receiver, fmt, "queue_full", counted)
            raise ServerBusy(f"worker has {MAX_IN_FLIGHT} requests waiting for the writer")
        rid = next(self._ids)
        future: asyncio.Future[Submitted] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            self.writer.write(frame("prep", rid, receiver, fmt, 0, payload, True))
            await self.writer.drain()
            return await future
        finally:
            self._waiting.pop(rid, None)

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """UDP: sent without waiting (the parent counts what it refuses)."""
        if self.preparer is not None:
            good, checked = screen(self.metrics, spans, receiver, fmt, nbytes)
            payload = self._prepare(good)
            if payload is None:
                return submitted(0, checked)
            if self._closed or self.writer is None or self.writer.is_closing() \
                    or self.writer.transport.get_write_buffer_size() > 64 * 1024 * 1024:
                self._refuse(len(good), receiver, fmt, "queue_full", True)
                raise ServerBusy("the writer is not keeping up")
            self.writer.write(frame("prep", 0, receiver, fmt, 0, payload, False))
            return submitted(len(good), checked)
        if not spans:
            return Submitted(0)
        payload, unencodable, why = self._encode(spans, receiver, fmt)
        if payload is None:
            return Submitted(0, unencodable, why)
        if self._closed or self.writer is None or self.writer.is_closing():
            self._refuse(len(spans) - unencodable, receiver, fmt, "shutting_down")
            raise ServerBusy("shutting down")
        if self.writer.transport.get_write_buffer_size() > 64 * 1024 * 1024:  # the parent is not reading
            self._refuse(len(spans) - unencodable, receiver, fmt, "queue_full")
            raise ServerBusy("the writer is not keeping up")
        self.writer.write(frame("batch", 0, receiver, fmt, nbytes, payload, False))
        return Submitted(len(spans) - unencodable, unencodable, why)

    async def open(self) -> None:
        return None

    async def aclose(self) -> None:
        self._closed = True

    # -- answers from the parent --------------------------------------------------------
    def answer(self, message: list[object]) -> None:
        kind, rid = message[0], message[1]
        future = self._waiting.get(rid)  # type: ignore[arg-type]
        if future is None or future.done():
            return
        if kind == "ok":
            future.set_result(Submitted(int(message[2]), int(message[3]), str(message[4])))  # type: ignore[arg-type]
        elif kind == "limited":  # the tenant is over its ingest rate (the parent's ``TenancyGate``)
            future.set_exception(RateLimited(str(message[2])))
        else:
            cls = StorageUnhealthy if message[2] else ServerBusy
            future.set_exception(cls(str(message[3])))

    def fail_all(self, reason: str) -> None:
        """The parent is gone: every waiting request gets a retryable error."""
        self._closed = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ServerBusy(reason))

    # -- helpers --------------------------------------------------------------------------
    def _encode(self, spans: Sequence[Span], receiver: str, fmt: str) -> tuple[bytes | None, int, str]:
        """The batch payload, the number of spans refused here and why. The parent validates
        what it receives, but a span whose values the encoding cannot hold never gets
        there: such spans are validated here, so that the client hears the same reason as
        from an in-process collector (times outside 1970..2262, a trace ID over 128 bits),
        and counted; what validation lets through but the encoding still cannot hold
        (integer attributes beyond 64 bits: no storage could keep them either) is refused
        as unencodable."""
        try:
            return encode_batch(spans), 0, ""
        except (OverflowError, ValueError, TypeError):
            pass
        checked = validate(spans)
        good = [s for s in checked.good if _encodable(s)]
        unencodable = len(checked.good) - len(good)
        rejected = {**checked.rejected, **({"unencodable": unencodable} if unencodable else {})}
        count_rejected(self.metrics, receiver, fmt, rejected)
        bad = len(spans) - len(good)
        self.metrics.spans_received.labels(receiver, fmt).inc(bad)  # the parent counts the others
        reasons = [checked.message()] if checked.rejected else []
        if unencodable:
            reasons.append(f"{unencodable} span{'s' if unencodable != 1 else ''} rejected: "
                           "values out of range for storage")
        return (encode_batch(good) if good else None), bad, "; ".join(reasons)

    def _refuse(self, n: int, receiver: str, fmt: str, reason: str, counted: bool = False) -> None:
        m = self.metrics
        if not counted:
            m.spans_received.labels(receiver, fmt).inc(n)
        m.spans_rejected.labels(receiver, fmt, reason).inc(n)
        m.spans_dropped.labels(reason).inc(n)
        m.batches_rejected.labels(receiver, fmt).inc()


def _encodable(span: Span) -> bool:
    """A validated span's values fit the encoding (trace IDs and times were checked)."""
    try:
        encode_chunk([span])
    except (OverflowError, ValueError, TypeError):
        return False
    return True
