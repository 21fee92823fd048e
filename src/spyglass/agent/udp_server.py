"""A UDP server that decodes one span batch per datagram (the jaeger-agent's ports).

UDP gives no back-pressure: a packet the kernel cannot queue is lost silently, so the
socket gets a large receive buffer (``SO_RCVBUF``; as root ``SO_RCVBUFFORCE`` can go past
``net.core.rmem_max``) and the handler never blocks: it decodes and calls
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
from collections.abc import Callable, Sized

from spyglass.codecs.errors import DecodeError
from spyglass.agent.kernel_drops import KernelDrops
from spyglass.agent.sink import SpanSink
from spyglass.collector.processor import ServerBusy
from spyglass.model import Span
from spyglass.server.base import Listener

log = logging.getLogger(__name__)

DEFAULT_RECEIVE_BUFFER = 8 * 1024 * 1024
DEFAULT_MAX_PACKET = 65_000  # the jaeger-agent's default; clients keep packets below it

# asyncio reads datagrams with a 256 KiB buffer, more than any UDP payload (65,507 bytes),
# so a packet is never cut short and one above max_packet_size is seen at its full length.

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


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: UdpServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server.handle_packet(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors from earlier sends; a receive-only server has nothing to do.
        log.debug("%s: socket error: %s", self.server.name, exc)


class UdpServer(Listener):
    """Decodes each datagram with ``decode`` and submits the spans to ``processor`` (the
    collector's span processor or the agent's forwarder) under receiver ``name`` and format
    ``fmt``. ``reuse_port`` lets several worker processes bind the same port (the kernel
    spreads senders over them by address)."""

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
        reuse_port: bool = False,
        refuse: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.name = name
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
        self.reuse_port = reuse_port
        self.effective_receive_buffer = 0
        """What the kernel reports for SO_RCVBUF after start (Linux: twice the granted size)."""
        self.packets_received = 0
        """Datagrams read from the socket, whatever became of them."""
        self._transport: asyncio.DatagramTransport | None = None
        self._drops: KernelDrops | None = None

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
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self.port = sock.getsockname()[1]
        self._drops = KernelDrops.for_registry(self.processor.metrics.registry)
        self._drops.watch(self.name, sock)
        # Linux reports double; anything below the request means the buffer was capped.
        level = logging.WARNING if self.effective_receive_buffer < self.receive_buffer_bytes else logging.INFO
        log.log(
            level,
            "%s listening on %s:%d/udp (%s), receive buffer %d bytes requested, kernel reports %d",
            self.name, self.host, self.port, self.fmt, self.receive_buffer_bytes, self.effective_receive_buffer,
        )

    def handle_packet(self, data: bytes) -> None:
        """Decode and submit one datagram; never raises for anything a client sends."""
        self.packets_received += 1
        metrics = self.processor.metrics
        if len(data) > self.max_packet_size:
            metrics.reject_request(self.name, self.fmt, "too_large")
            return
        try:
            spans = self.decode(data)
        except DecodeError as exc:
            metrics.reject_request(self.name, self.fmt, "decode_error")
            log.debug("%s: undecodable packet of %d bytes: %s", self.name, len(data), exc)
            return
        except Exception:  # a decoder bug must not stop the server
            metrics.reject_request(self.name, self.fmt, "decode_error")
            log.exception("%s: decoder failed on a packet of %d bytes", self.name, len(data))
            return
        if self.refuse is not None:
            self.refuse(self.name, self.fmt, len(spans))
            return
        try:
            self.processor.submit(spans, receiver=self.name, fmt=self.fmt, nbytes=len(data))
        except ServerBusy:
            pass  # UDP has no way to say "retry"; the processor counted the dropped spans

    async def stop(self) -> None:
        if self._drops is not None:
            self._drops.unwatch(self.name)
            self._drops = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
