"""The framed channel between the collector's parent process and one worker.

A Unix socket pair (inherited by the worker as a file descriptor); each frame is a 4-byte
big-endian length and one msgpack array whose first item names its kind. msgpack, not
pickle: the parent never runs code a worker sends, and a frame is a handful of
bytes around the batch payload (``buffer.encoding``), which is the bulk.

Worker to parent::

    ["ready", {listener: port}]            every listener is bound
    ["fail", message]                      cannot start (the parent reports it and exits)
    ["batch", id, receiver, fmt, nbytes, payload, wait, authorization]
                                           spans to store; wait=False for UDP (and no
                                           authorization: the client's credential, for
                                           tail-sampling peers; "" without one)
    ["prep", id, receiver, fmt, 0, payload, wait]          a prepared batch (sqlite, clickhouse)
    ["status", metrics_text, healthy, reason]             every second, at stop and when health changes
    ["take", id, tenant, n]                direct mode: n spans of the tenant's ingest rate (workers.limits)
    ["give", tenant, n]                    direct mode: tokens of a request then refused

Parent to worker::

    ["ok", id, accepted, rejected, error]  the parent's sink took the spans (Submitted)
    ["busy", id, unhealthy, message]       refused: ServerBusy (StorageUnhealthy if unhealthy)
    ["limited", id, message]               refused: the tenant is over its ingest rate (RateLimited)
    ["room", has_room]                     the parent's queue filled up (False) or has room again
    ["took", id, granted]                  the answer to "take"
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgspec

MAX_FRAME = 256 * 1024 * 1024  # a 64 MiB body decodes to less than this, encoded
_LEN = struct.Struct(">I")
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class ChannelClosed(Exception):
    """The other end went away (a worker died, or the parent did)."""


def frame(*items: Any) -> bytes:
    body = _encoder.encode(items)
    return _LEN.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> list[Any]:
    try:
        head = await reader.readexactly(_LEN.size)
        (length,) = _LEN.unpack(head)
        if length > MAX_FRAME:
            raise ChannelClosed(f"frame of {length} bytes exceeds {MAX_FRAME}")
        body = await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ChannelClosed(str(exc) or "end of channel") from None
    try:
        out = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ChannelClosed(f"undecodable frame: {exc}") from None
    if not isinstance(out, list) or not out:
        raise ChannelClosed("malformed frame")
    return out
