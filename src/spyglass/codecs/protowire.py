"""Protobuf wire-format primitives for the fast paths that read raw attribute bytes
(``jaeger_proto``, ``otlp_proto``) without building a message object per attribute, and
that write messages from bytes already encoded (the agent's batches, Tempo's responses)."""

from __future__ import annotations


def read_varint(raw: bytes, p: int) -> tuple[int, int]:
    """The varint at ``raw[p:]`` and the position after it; ValueError past ten bytes,
    IndexError when truncated (callers turn both into DecodeError). The tenth byte's bits
    above bit 63 are dropped, as protobuf's parser does: a value never exceeds 64 bits."""
    b = raw[p]
    if b < 0x80:
        return b, p + 1
    result = 0
    shift = 0
    while True:
        b = raw[p]
        p += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, p
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


class WireCache:
    """Decoded attributes keyed by their wire bytes.

    Attributes repeat a lot between spans (the same method, status, host), so a hit is one
    dict lookup instead of a parse. Values must be immutable, since one object is shared by
    every span that carries it. Memory is bounded: only short entries are kept (long values
    such as stack traces rarely repeat), and the cache starts over when full.
    """

    __slots__ = ("entries", "max_entries", "max_key_bytes")

    def __init__(self, max_entries: int = 65_536, max_key_bytes: int = 256) -> None:
        self.entries: dict[bytes, object] = {}
        self.max_entries = max_entries
        self.max_key_bytes = max_key_bytes

    def remember(self, raw: bytes, value: object) -> None:
        if len(raw) <= self.max_key_bytes:
            if len(self.entries) >= self.max_entries:
                self.entries.clear()
            self.entries[raw] = value


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def varint(n: int) -> bytes:
    """``n`` (0 <= n < 2**64) as a varint. Unrolled up to five bytes (every length below
    34 GB, timestamps' seconds and nanos) because the agent writes several per span."""
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    if n < 0x20_0000:
        return bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, n >> 14))
    if n < 0x1000_0000:
        return bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, (n >> 14) & 0x7F | 0x80, n >> 21))
    if n < 0x8_0000_0000:
        return bytes((n & 0x7F | 0x80, (n >> 7) & 0x7F | 0x80, (n >> 14) & 0x7F | 0x80, (n >> 21) & 0x7F | 0x80,
                      n >> 28))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def len_field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field: ``tag`` (one byte for fields 1-15), length, ``data``."""
    n = len(data)
    return tag + (_ONE_BYTE[n] if n < 0x80 else varint(n)) + data
