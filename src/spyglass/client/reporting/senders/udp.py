"""Jaeger Thrift compact over UDP to the agent's ``emitBatch`` port (6831).

Spans are packed into as few ``emitBatch`` messages as fit in ``max_packet_size`` bytes
(65,000, the agent's limit) by ``jaeger_thrift.split_agent_messages``; a span that alone
exceeds the limit is skipped and counted by the reporter. UDP cannot tell whether the
agent got the packet; on Linux a refused packet on loopback does surface as
``ConnectionRefusedError`` on a later send, which is reported as a failure.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from spyglass.client.constants import DEFAULT_REPORTING_HOST, DEFAULT_REPORTING_PORT, UDP_MAX_PACKET_SIZE
from spyglass.client.reporting.senders.base import Sender, SenderError
from spyglass.codecs.jaeger_thrift import split_agent_messages
from spyglass.model import Span


class UDPSender(Sender):
    def __init__(
        self,
        host: str = DEFAULT_REPORTING_HOST,
        port: int = DEFAULT_REPORTING_PORT,
        max_packet_size: int = UDP_MAX_PACKET_SIZE,
        protocol: str = "compact",
    ) -> None:
        self.host = host
        self.port = int(port)
        self.max_packet_size = max_packet_size
        self.protocol = protocol
        self.packets_sent = 0
        self._seq = 0
        self._sock: socket.socket | None = None
        self._addr: tuple | None = None

    def _socket(self) -> tuple[socket.socket, tuple]:
        if self._sock is None or self._addr is None:
            # Resolved once (not per packet); a failure is retried on the next send.
            family, _, _, _, addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_DGRAM)[0]
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
            self._addr = addr
        return self._sock, self._addr

    def send(self, spans: Sequence[Span]) -> int:
        packets, too_large = split_agent_messages(spans, self.protocol, self.max_packet_size, self._seq)
        self._seq = (self._seq + len(packets)) & 0x7FFFFFFF
        try:
            sock, addr = self._socket()
            for packet in packets:
                sock.sendto(packet, addr)
                self.packets_sent += 1
        except OSError as exc:
            raise SenderError(f"UDP send to {self.host}:{self.port} failed: {exc}") from exc
        return len(too_large)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def after_fork(self) -> None:
        self._sock = None

    def __repr__(self) -> str:
        return f"UDPSender({self.host}:{self.port})"
