"""A UDP server that decodes one span batch per datagram (the jaeger-agent's ports).

UDP gives no back-pressure: a packet the kernel cannot queue is lost silently, so the
socket gets a large receive buffer (``SO_RCVBUF``; as root ``SO_RCVBUFFORCE`` can go past
``net.core.rmem_max``), a thread that only reads it into a bounded queue (see
``UdpServer``), and a decoder that never blocks: it decodes and calls
``processor.submit``, which only enqueues. Nothing a client sends can raise out of the
handler: oversized and undecodable packets are counted in
``spyglass_requests_rejected_total{receiver=<name>,format=<fmt>,reason=...}`` and dropped;
a full queue (``ServerBusy``) is already counted by the processor as dropped spans.
Packets the kernel itself dropped (a full receive buffer) are read from the kernel into
``spyglass_udp_packets_dropped_total{listener=<name>}`` (``agent.kernel_drops``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sized
from typing import Any

from spyglass.codecs.errors import DecodeError
from spyglass.agent.kernel_drops import KernelDrops, ReceiveQueues
from spyglass.agent.sink import SpanSink
from spyglass.collector.processor import ServerBusy
from spyglass.model import Span
from spyglass.server.base import Listener

log = logging.getLogger(__name__)

DEFAULT_RECEIVE_BUFFER = 8 * 1024 * 1024
DEFAULT_MAX_PACKET = 65_000  # the jaeger-agent's default; clients keep packets below it
DEFAULT_RECEIVE_QUEUE = 128 * 1024 * 1024  # bytes read and not yet decoded (~40,000 packets of 10 spans)

# Datagrams are read into a buffer larger than any UDP payload (65,507 bytes), so a packet is
# never cut short and one above max_packet_size is seen at its full length.
_READ_SIZE = 65_536
_YIELD_EVERY = 64  # datagrams decoded between two turns of the event loop
_BATCH_BYTES = 256 * 1024  # datagrams per batch sent to decode_many: at most this many bytes,
_BATCH_DATAGRAMS = 256  # or this many datagrams
_ROOM_POLL = 0.005  # seconds between two looks at a full sink
_DRAIN_SECONDS = 5.0  # at stop, time given to decode what was read

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux only


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Give ``sock`` a ``size``-byte receive buffer if allowed; return what the kernel reports.

    Linux caps ``SO_RCVBUF`` at ``net.core.rmem_max`` (often 208 KiB) but lets a process
    with CAP_NET_ADMIN (root) pass the cap with ``SO_RCVBUFFORCE``, so that is tried first
    and a refusal falls back silently. Linux reports twice the granted size (the doubling
    covers its bookkeeping), which is the number returned here and logged.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:  # not privileged (EPERM), or not Linux
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError as exc:
            log.debug("SO_RCVBUF %d refused: %s", size, exc)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


class UdpServer(Listener):
    """Decodes each datagram with ``decode`` and submits the spans to ``processor`` (the
    collector's span processor or the agent's forwarder) under receiver ``name`` and format
    ``fmt``. ``reuse_port`` lets several worker processes bind the same port (the kernel
    spreads senders over them by address).

    Reading and decoding are apart, so that a decoding stall never leaves the socket unread:
    a thread does nothing but ``recv_into`` (blocking, so it waits without the GIL) and
    appends the datagrams to a queue bounded in bytes (``receive_queue_bytes``); a task on
    the event loop decodes and submits them. The thread drains every datagram waiting before
    it wakes the loop, and it needs the GIL only for that copy, so it is scheduled at once
    even while the decoder is busy: the kernel's buffer (capped at ``net.core.rmem_max``
    without root) only has to cover the few milliseconds of a GIL hand-over, and a longer
    stall of the decoder is taken by the queue. A full queue drops the datagram and counts
    it (``spyglass_requests_rejected_total{reason="receive_queue_full"}``)."""

    def __init__(
        self,
        *,
        name: str,
        host: str,
        port: int,
        decode: Callable[[bytes], Sized],  # spans, or whatever the sink takes (the agent's Packet)
        fmt: str,
        processor: SpanSink,
        receive_buffer_bytes: int = DEFAULT_RECEIVE_BUFFER,
        max_packet_size: int = DEFAULT_MAX_PACKET,
        receive_queue_bytes: int = DEFAULT_RECEIVE_QUEUE,
        reuse_port: bool = False,
        refuse: Callable[[str, str, int], None] | None = None,
        has_room: Callable[[int], bool] | None = None,
        decode_many: Callable[[list[bytes]], Awaitable[list[Any]]] | None = None,
        decode_in_flight: int = 2,
    ) -> None:
        self.name = name
        # Decoding elsewhere (the agent's decoder processes): batches of datagrams go to
        # ``decode_many``, which answers per datagram what ``decode`` would return or raise
        # (the DecodeError as a value), with up to ``decode_in_flight`` batches at once.
        self.decode_many = decode_many
        self.decode_in_flight = max(1, decode_in_flight)
        # The agent's forwarder: while its queue is full the decoder waits and datagrams
        # stay in the receive queue (bounded, counted when full) rather than being decoded
        # only to be dropped; UDP clients cannot be told to retry, so the wait is the only
        # back-pressure there is.
        self.has_room = has_room
        # Multi-tenancy: a datagram carries no tenant, so its spans are counted and dropped
        # by ``refuse(receiver, fmt, spans)`` instead of being submitted (spyglass.tenancy).
        self.refuse = refuse
        self.host = host
        self.port = port
        self.decode = decode
        self.fmt = fmt
        self.processor = processor
        self.receive_buffer_bytes = receive_buffer_bytes
        self.max_packet_size = max_packet_size
        self.receive_queue_bytes = receive_queue_bytes
        self.reuse_port = reuse_port
        self.effective_receive_buffer = 0
        """What the kernel reports for SO_RCVBUF after start (Linux: twice the granted size)."""
        self._handled = 0  # datagrams given to handle_packet (on the loop)
        self._refused = 0  # datagrams the reading thread refused (too large, queue full)
        self._decoding = 0  # datagrams taken from the queue and not yet submitted or refused
        self.queued_bytes = 0
        """Bytes read by the thread and not yet taken by the decoder."""
        self._queue: deque[bytes] = deque()
        self._lock = threading.Lock()  # queued_bytes and _notified, shared with the thread
        self._notified = False  # a wake-up of the decoder task is pending
        self._wake = asyncio.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._drops: KernelDrops | None = None
        self._queues: ReceiveQueues | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            # Before bind, so the buffer is in place when the first packet arrives.
            self.effective_receive_buffer = set_receive_buffer(sock, self.receive_buffer_bytes)
            if self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._stopping = False
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._consume(), name=f"spyglass-udp-{self.name}")
        self._thread = threading.Thread(target=self._receive, args=(sock, loop), name=f"spyglass-udp-{self.name}",
                                        daemon=True)
        self._thread.start()
        self._drops = KernelDrops.for_registry(self.processor.metrics.registry)
        self._drops.watch(self.name, sock)
        self._queues = ReceiveQueues.for_registry(self.processor.metrics.registry)
        self._queues.watch(self.name, lambda: self.queued_bytes)
        # Linux reports double; anything below the request means the buffer was capped.
        level = logging.WARNING if self.effective_receive_buffer < self.receive_buffer_bytes else logging.INFO
        log.log(
            level,
            "%s listening on %s:%d/udp (%s), receive buffer %d bytes requested, kernel reports %d",
            self.name, self.host, self.port, self.fmt, self.receive_buffer_bytes, self.effective_receive_buffer,
        )

    @property
    def packets_received(self) -> int:
        """Datagrams read from the socket and dealt with (submitted or counted as rejected)."""
        return self._handled + self._refused

    # -- the reading thread ----------------------------------------------------------------
    def _receive(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        """Read datagrams until ``stop``; one blocking read, then every waiting one."""
        buf = bytearray(_READ_SIZE)
        view = memoryview(buf)
        recv_into = sock.recv_into
        queue = self._queue
        limit = self.receive_queue_bytes
        too_big = self.max_packet_size
        while True:
            try:
                n = recv_into(buf)
            except OSError:  # closed under us
                return
            if self._stopping:
                return
            full = large = 0
            nbytes = 0
            while True:
                if n > too_big:
                    large += 1
                elif self.queued_bytes + nbytes + n > limit:
                    full += 1
                else:
                    queue.append(bytes(view[:n]))
                    nbytes += n
                try:
                    n = recv_into(buf, 0, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    return
            if large or full:  # prometheus_client's counters may be touched from any thread
                self._reject(large, "too_large")
                self._reject(full, "receive_queue_full")
            with self._lock:
                self.queued_bytes += nbytes
                self._refused += large + full
                notify = not self._notified and nbytes > 0
                if notify:
                    self._notified = True
            if notify:
                try:
                    loop.call_soon_threadsafe(self._wake.set)
                except RuntimeError:  # the loop is closed: nothing left to wake
                    return

    def _reject(self, packets: int, reason: str) -> None:
        if packets:
            self.processor.metrics.requests_rejected.labels(self.name, self.fmt, reason).inc(packets)

    # -- the decoding task -----------------------------------------------------------------
    async def _consume(self) -> None:
        queue = self._queue
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                self._notified = False  # before draining: what the thread adds later wakes us again
            if self.decode_many is not None:
                await self._consume_batches()
                continue
            done = taken = 0
            while queue:
                if self.has_room is not None and not self.has_room(1):
                    with self._lock:
                        self.queued_bytes -= taken
                    taken = 0
                    await asyncio.sleep(_ROOM_POLL)
                    continue
                data = queue.popleft()
                taken += len(data)
                self._decoding += 1
                spans = self._decode(data)
                if spans is not None:
                    if self.has_room is not None:
                        await self._room_for(len(spans))
                    self._submit(spans, len(data))
                self._decoding -= 1
                self._handled += 1
                done += 1
                if done % _YIELD_EVERY == 0:
                    with self._lock:
                        self.queued_bytes -= taken
                    taken = 0
                    await asyncio.sleep(0)  # let the senders and the admin server run
            with self._lock:
                self.queued_bytes -= taken

    async def _room_for(self, spans: int) -> None:
        """Wait until the sink takes ``spans`` more (decoded spans are held, not dropped)."""
        assert self.has_room is not None
        while not self.has_room(spans):
            await asyncio.sleep(_ROOM_POLL)

    async def _consume_batches(self) -> None:
        """Drain the queue through ``decode_many``: batches of up to ``_BATCH_BYTES``, several
        in flight, results submitted in the order the datagrams arrived."""
        assert self.decode_many is not None
        queue = self._queue
        pending: deque[tuple[asyncio.Future[list[Any]], list[bytes]]] = deque()
        while queue or pending:
            while queue and len(pending) < self.decode_in_flight and (self.has_room is None or self.has_room(1)):
                batch: list[bytes] = []
                size = 0
                while queue and size < _BATCH_BYTES and len(batch) < _BATCH_DATAGRAMS:
                    data = queue.popleft()
                    batch.append(data)
                    size += len(data)
                with self._lock:
                    self.queued_bytes -= size
                self._decoding += len(batch)
                pending.append((asyncio.ensure_future(self.decode_many(batch)), batch))
            if not pending:  # the sink is full: wait for room
                await asyncio.sleep(_ROOM_POLL)
                continue
            future, batch = pending.popleft()
            try:
                results = await future
            except Exception:  # the decoders failed as a whole: count the batch, keep serving
                log.exception("%s: decoding a batch of %d datagrams failed", self.name, len(batch))
                results = [DecodeError("decoders failed")] * len(batch)
            for data, result in zip(batch, results):
                if isinstance(result, DecodeError):
                    self.processor.metrics.reject_request(self.name, self.fmt, "decode_error")
                    log.debug("%s: undecodable packet of %d bytes: %s", self.name, len(data), result)
                else:
                    if self.has_room is not None:
                        await self._room_for(len(result))
                    self._submit(result, len(data))
                self._decoding -= 1  # one at a time: a stop while waiting for room counts the rest
                self._handled += 1

    def handle_packet(self, data: bytes) -> None:
        """Decode and submit one datagram; never raises for anything a client sends."""
        self._handled += 1
        spans = self._decode(data)
        if spans is not None:
            self._submit(spans, len(data))

    def _decode(self, data: bytes) -> Sized | None:
        """The datagram's spans, or None when it was refused (counted)."""
        metrics = self.processor.metrics
        try:
            return self.decode(data)
        except DecodeError as exc:
            metrics.reject_request(self.name, self.fmt, "decode_error")
            log.debug("%s: undecodable packet of %d bytes: %s", self.name, len(data), exc)
        except Exception:  # a decoder bug must not stop the server
            metrics.reject_request(self.name, self.fmt, "decode_error")
            log.exception("%s: decoder failed on a packet of %d bytes", self.name, len(data))
        return None

    def _submit(self, spans: Sized, nbytes: int) -> None:
        if self.refuse is not None:
            self.refuse(self.name, self.fmt, len(spans))
            return
        try:
            self.processor.submit(spans, receiver=self.name, fmt=self.fmt, nbytes=nbytes)  # type: ignore[arg-type]
        except ServerBusy:
            pass  # UDP has no way to say "retry"; the processor counted the dropped spans

    async def stop(self) -> None:
        """Stop reading, decode what the thread had read, close the socket."""
        if self._drops is not None:
            self._drops.unwatch(self.name)
            self._drops = None
        if self._queues is not None:
            self._queues.unwatch(self.name)
            self._queues = None
        sock, self._sock = self._sock, None
        if sock is not None:
            self._stopping = True
            try:  # wakes the blocked read (Linux; ENOTCONN for an unconnected socket, but it wakes)
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if self._thread is not None:
                await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5.0)
                self._thread = None
            sock.close()
        if self._task is not None:
            deadline = time.monotonic() + _DRAIN_SECONDS
            while (self._queue or self._decoding) and not self._task.done() and time.monotonic() < deadline:
                self._wake.set()
                await asyncio.sleep(0.01)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            left = len(self._queue) + self._decoding
            self._reject(left, "shutting_down")  # read, but never decoded
            self._refused += left
            self._decoding = 0
            self._queue.clear()
            self.queued_bytes = 0
            self._task = None
