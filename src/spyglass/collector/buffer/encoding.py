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

Multi-tenancy (``spyglass.tenancy``) adds version 2: ``MAGIC_TENANTS`` then one msgpack
array of ``[tenant, [[trace_id_high, trace_id_low, chunk], ...]]`` groups. A batch whose
spans all belong to tenant ``""`` (tenancy off) is still written as version 1, byte for
byte as before, so older ingesters and write-ahead logs read it; both versions decode.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from spyglass.model import Span
from spyglass.storage.sqlite.rows import ChunkDecodeError, decode_chunk, encode_chunk

MAGIC = b"SGB1"
MAGIC_TENANTS = b"SGB2"
_U64 = (1 << 64) - 1

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[tuple[int, int, bytes]])
_tenant_decoder = msgspec.msgpack.Decoder(list[tuple[str, list[tuple[int, int, bytes]]]])


class BatchDecodeError(ValueError):
    """Bytes that are not a span batch of this format (corruption or a foreign message)."""


def _entries(spans: Sequence[Span]) -> list[tuple[int, int, bytes]]:
    groups: dict[int, list[Span]] = {}
    for s in spans:
        group = groups.get(s.trace_id)
        if group is None:
            groups[s.trace_id] = [s]
        else:
            group.append(s)
    return [(tid >> 64, tid & _U64, encode_chunk(group)) for tid, group in groups.items()]


def encode_batch(spans: Sequence[Span]) -> bytes:
    """Encode ``spans`` (any traces, duplicates kept, order kept within each trace), with
    their tenants (version 2) when any span has one."""
    by_tenant: dict[str, list[Span]] = {}
    for s in spans:
        group = by_tenant.get(s.tenant)
        if group is None:
            by_tenant[s.tenant] = [s]
        else:
            group.append(s)
    if not by_tenant or list(by_tenant) == [""]:
        return MAGIC + _encoder.encode(_entries(spans))
    return MAGIC_TENANTS + _encoder.encode([(tenant, _entries(group)) for tenant, group in by_tenant.items()])


def _decode_entries(entries: list[tuple[int, int, bytes]], tenant: str, out: list[Span]) -> None:
    for high, low, chunk in entries:
        spans = decode_chunk(chunk, (high << 64) | low)
        if tenant:
            for s in spans:
                s.tenant = tenant
        out.extend(spans)


def decode_batch(data: bytes | memoryview) -> list[Span]:
    """The spans of one encoded batch (either version), as fresh model objects."""
    magic = bytes(data[:4])
    if magic not in (MAGIC, MAGIC_TENANTS):
        raise BatchDecodeError("not a spyglass span batch (bad magic)")
    out: list[Span] = []
    try:
        if magic == MAGIC:
            _decode_entries(_decoder.decode(data[4:]), "", out)
        else:
            for tenant, entries in _tenant_decoder.decode(data[4:]):
                _decode_entries(entries, tenant, out)
    except (msgspec.DecodeError, msgspec.ValidationError, ChunkDecodeError) as exc:
        raise BatchDecodeError(f"corrupt span batch: {exc}") from None
    return out
