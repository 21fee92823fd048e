"""The binary encoding of span batches in the durable buffer (NATS) and the write-ahead log.

It reuses the sqlite backend's chunk encoding (``spyglass.storage.sqlite.rows``): msgspec
msgpack in C, positional arrays mirroring ``spyglass.model`` field by field, so a batch
decodes to spans equal to the ones encoded (the dedupe adjuster relies on that to hide a
redelivered copy). Measured on 1,000 spans with attributes and events: about 1 µs per span
to encode and 4.6 µs to decode, against 5.5 and 6.0 µs for OTLP protobuf (this repository's
codec, also lossless), and 28% fewer bytes; Jaeger's protobuf cannot carry the model's scopes,
links' attributes or dropped counts.

Layout: ``MAGIC`` then one msgpack array of ``[trace_id_high, trace_id_low, chunk]``, one
entry per trace of the batch, ``chunk`` being ``rows.encode_chunk`` of that trace's spans.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from spyglass.model import Span
from spyglass.storage.sqlite.rows import ChunkDecodeError, decode_chunk, encode_chunk

MAGIC = b"SGB1"
_U64 = (1 << 64) - 1

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[tuple[int, int, bytes]])


class BatchDecodeError(ValueError):
    """Bytes that are not a span batch of this format (corruption or a foreign message)."""


def encode_batch(spans: Sequence[Span]) -> bytes:
    """Encode ``spans`` (any traces, duplicates kept, order kept within each trace)."""
    groups: dict[int, list[Span]] = {}
    for s in spans:
        group = groups.get(s.trace_id)
        if group is None:
            groups[s.trace_id] = [s]
        else:
            group.append(s)
    entries = [(tid >> 64, tid & _U64, encode_chunk(group)) for tid, group in groups.items()]
    return MAGIC + _encoder.encode(entries)


def decode_batch(data: bytes | memoryview) -> list[Span]:
    """The spans of one encoded batch, as fresh model objects."""
    if bytes(data[:4]) != MAGIC:
        raise BatchDecodeError("not a spyglass span batch (bad magic)")
    try:
        entries = _decoder.decode(data[4:])
        out: list[Span] = []
        for high, low, chunk in entries:
            out.extend(decode_chunk(chunk, (high << 64) | low))
    except (msgspec.DecodeError, msgspec.ValidationError, ChunkDecodeError) as exc:
        raise BatchDecodeError(f"corrupt span batch: {exc}") from None
    return out
