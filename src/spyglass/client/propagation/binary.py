"""OpenTracing's BINARY format, in the layout of Jaeger's Go client, so binary carriers
interoperate with Go services: trace ID high and low, span ID, parent ID (8 bytes each,
big-endian), flags (1 byte), baggage count (4 bytes), then per item key length, key,
value length, value (lengths 4 bytes, UTF-8 text).

The carrier is a ``bytearray`` the context is appended to (inject) or read from (extract).
"""

from __future__ import annotations

import struct

from spyglass.client.context import SpanContext
from spyglass.client.propagation.base import log

_HEAD = struct.Struct(">QQQQBI")
_LEN = struct.Struct(">I")
_U64 = (1 << 64) - 1
MAX_BAGGAGE_ITEMS = 1024


class BinaryPropagator:
    def inject(self, context: SpanContext, carrier: bytearray) -> None:
        if not isinstance(carrier, bytearray):
            raise TypeError("the BINARY carrier must be a bytearray")
        baggage = [(k.encode(), str(v).encode()) for k, v in context.baggage.items()]
        carrier += _HEAD.pack(
            context.trace_id >> 64, context.trace_id & _U64, context.span_id, context.parent_id,
            context.flags & 0xFF, len(baggage),
        )
        for key, value in baggage:
            carrier += _LEN.pack(len(key)) + key + _LEN.pack(len(value)) + value

    def extract(self, carrier: bytes | bytearray | memoryview) -> SpanContext | None:
        data = bytes(carrier)
        try:
            high, low, span_id, parent_id, flags, count = _HEAD.unpack_from(data, 0)
            if count > MAX_BAGGAGE_ITEMS:
                raise ValueError(f"{count} baggage items")
            pos = _HEAD.size
            baggage: dict[str, str] = {}
            for _ in range(count):
                (n,) = _LEN.unpack_from(data, pos)
                key = data[pos + 4 : pos + 4 + n]
                pos += 4 + n
                (m,) = _LEN.unpack_from(data, pos)
                value = data[pos + 4 : pos + 4 + m]
                pos += 4 + m
                if len(key) != n or len(value) != m:
                    raise ValueError("truncated baggage")
                baggage[key.decode()] = value.decode()
        except (struct.error, ValueError, UnicodeDecodeError) as exc:
            log.debug("ignoring malformed binary span context: %s", exc)
            return None
        trace_id = (high << 64) | low
        if not trace_id or not span_id:
            return None
        return SpanContext(trace_id, span_id, parent_id, flags, baggage or None)
