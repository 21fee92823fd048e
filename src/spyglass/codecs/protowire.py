"""Protobuf wire-format primitives for the fast paths that read raw attribute bytes
(``jaeger_proto``, ``otlp_proto``) without building a message object per attribute."""

from __future__ import annotations


def read_varint(raw: bytes, p: int) -> tuple[int, int]:
    """The varint at ``raw[p:]`` and the position after it; ValueError past 64 bits,
    IndexError when truncated (callers turn both into DecodeError)."""
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
            return result, p
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
