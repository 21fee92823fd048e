"""The three UDP receivers of Jaeger's agent ports, built for any ``SpanSink`` (the
collector's processor or the agent's forwarder) from the settings' port flags."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from spyglass.agent.decoders import DecoderPool
from spyglass.agent.sink import SpanSink
from spyglass.agent.udp_server import UdpServer
from spyglass.codecs import jaeger_thrift, zipkin_thrift
from spyglass.config import Settings
from spyglass.model import Span


def _compact(data: bytes) -> list[Span]:
    return jaeger_thrift.decode_agent_message(data, "compact")


def _binary(data: bytes) -> list[Span]:
    return jaeger_thrift.decode_agent_message(data, "binary")


def udp_receivers(
    settings: Settings,
    sink: SpanSink,
    *,
    reuse_port: bool = False,
    jaeger_decode: Callable[[bytes, str], Any] | None = None,
    has_room: Callable[[int], bool] | None = None,
    decoders: DecoderPool | None = None,
) -> list[UdpServer]:
    """``jaeger_decode(data, protocol)`` replaces the model decoder on the two Jaeger ports
    (the agent transcodes them straight to its wire format, ``agent.encode``); ``has_room``
    makes the decoders wait while the sink is full (``UdpServer``); ``decoders`` transcodes
    the two Jaeger ports in worker processes (``agent.decoders``)."""
    s = settings
    compact, binary = _compact, _binary
    if jaeger_decode is not None:
        compact, binary = partial(jaeger_decode, protocol="compact"), partial(jaeger_decode, protocol="binary")
    specs: list[tuple[str, int, Callable[[bytes], Any], str]] = [
        ("agent_jaeger_compact", s.agent_jaeger_compact_port, compact, "jaeger_thrift_compact"),
        ("agent_jaeger_binary", s.agent_jaeger_binary_port, binary, "jaeger_thrift_binary"),
        ("agent_zipkin_compact", s.agent_zipkin_compact_port, zipkin_thrift.decode_agent_zipkin_batch,
         "zipkin_thrift_compact"),
    ]
    many = {}
    if decoders is not None:
        many = {"jaeger_thrift_compact": partial(decoders.decode_many, protocol="compact"),
                "jaeger_thrift_binary": partial(decoders.decode_many, protocol="binary")}
    return [
        UdpServer(name=name, host=s.listen_host, port=port, decode=decode, fmt=fmt, processor=sink,
                  receive_buffer_bytes=s.agent_socket_buffer_size, max_packet_size=s.agent_max_packet_size,
                  receive_queue_bytes=s.agent_receive_queue_bytes,
                  reuse_port=reuse_port, has_room=has_room, decode_many=many.get(fmt),
                  decode_in_flight=decoders.in_flight_limit if decoders is not None else 2)
        for name, port, decode, fmt in specs
    ]
