"""Reading a request body for a receiver: bounded in size, in time and in memory.

Every HTTP listener runs aiohttp with ``auto_decompress=False`` (see
``spyglass.server.http_server``), because aiohttp inflates each received chunk whole: a
64 KiB slice of a gzip bomb becomes ~64 MiB at once, before the size limit is looked at
(a 1 MB bomb raised RSS by ~250 MB). Here compressed bodies are inflated as they arrive,
with ``zlib.decompressobj(...).decompress(data, max_length)``, so no step produces more than
``_OUT_CHUNK`` bytes and the total stops at the limit: the memory a body can take is the
limit plus one chunk, whatever its compression ratio.

Limits per body do not bound memory when many arrive at once (eight concurrent bombs are
eight times the limit), so every body being read or decoded also holds a share of one
process-wide ``BodyBudget``; a body that would take the budget past its size is refused
with 503 and ``Retry-After`` (``BudgetExhausted``), exactly like a full span queue.

A body that stops arriving for ``stall_timeout`` seconds, or is not complete
``total_timeout`` seconds after its headers (a client trickling a byte now and then would
otherwise hold its connection for ever), is abandoned (``BodyTimeout``), and
a client that goes away mid-body is ``ClientGone``: the connection is dead, there is nobody
to answer, and it is not an error of ours (counted, never a traceback).
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import hdrs, web

from spyglass.codecs.errors import DecodeError

# Encodings inflated here; "" and "identity" are bodies sent as they are.
ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})

_OUT_CHUNK = 256 * 1024  # most bytes one inflate step may produce
DEFAULT_STALL_TIMEOUT = 30.0
DEFAULT_TOTAL_TIMEOUT = 300.0  # a 64 MiB body needs ~220 KB/s to make it


class BodyTooLarge(Exception):
    """The body (after inflating) is larger than the limit: answer 413."""


class BodyTimeout(Exception):
    """No body bytes arrived for the stall timeout: answer 408 and close."""


class ClientGone(Exception):
    """The client closed the connection before the body was complete: nobody to answer."""


class BudgetExhausted(Exception):
    """Bodies in flight already hold the whole ``BodyBudget``: answer 503, retry later."""


DEFAULT_BODY_MEMORY = 256 * 1024 * 1024


class BodyBudget:
    """Bytes of request bodies held at once by every receiver of the process. One event
    loop serves all HTTP receivers, so plain counters suffice."""

    def __init__(self, limit: int = DEFAULT_BODY_MEMORY) -> None:
        self.limit = limit
        self.used = 0

    def lease(self) -> Lease:
        return Lease(self)


class Lease:
    """One request's share of a ``BodyBudget``; a context manager returning it all on exit."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.held = 0

    def take(self, n: int) -> None:
        b = self.budget
        if b.used + n > b.limit:
            raise BudgetExhausted
        b.used += n
        self.held += n

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.budget.used -= self.held
        self.held = 0


PROCESS_BUDGET = BodyBudget()
"""The budget receivers share unless given one (``AllInOne`` sizes it from the settings)."""


class _Inflater:
    """Inflates a gzip (all members) or deflate stream into at most ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int, lease: Lease | None) -> None:
        self.gzip = encoding in ("gzip", "x-gzip")
        self.limit = limit
        self.lease = lease
        self.out: list[bytes] = []
        self.size = 0
        self._d: zlib._Decompress | None = None  # created on the first bytes (deflate sniffs them)
        self._pending = b""  # deflate: bytes held until two are seen to sniff the header

    def _new(self, head: bytes) -> zlib._Decompress:
        if self.gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # HTTP "deflate" is zlib-wrapped, but some clients send raw deflate (as aiohttp,
        # browsers and curl accept): a zlib header has CM=8 and a multiple of 31.
        zlib_header = head[0] & 0x0F == 8 and ((head[0] << 8) | head[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        if self._d is None:
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return
            self._pending = b""
            self._d = self._new(data)
        d = self._d
        while data:
            try:
                chunk = d.decompress(data, _OUT_CHUNK)
            except zlib.error as exc:
                raise DecodeError(f"invalid {'gzip' if self.gzip else 'deflate'} body: {exc}") from None
            self.size += len(chunk)
            if self.size > self.limit:
                raise BodyTooLarge
            if chunk:
                if self.lease is not None:
                    self.lease.take(len(chunk))
                self.out.append(chunk)
            data = d.unconsumed_tail
            if d.eof:
                rest = d.unused_data
                if rest and self.gzip and rest.strip(b"\0"):  # another gzip member follows
                    d = self._d = self._new(rest)
                    data = rest
                elif rest.strip(b"\0"):
                    raise DecodeError("trailing bytes after the compressed body")

    def finish(self) -> bytes:
        if self._d is None:
            if self._pending:
                raise DecodeError("truncated compressed body")
            return b""
        if not self._d.eof:
            raise DecodeError("truncated compressed body")
        return b"".join(self.out)


async def read_body(
    request: web.Request, limit: int, lease: Lease | None = None, stall_timeout: float | None = None,
    total_timeout: float | None = None,
) -> bytes:
    """The request's body, inflated per its ``Content-Encoding`` (one of ``ENCODINGS``; the
    caller refuses others first), at most ``limit`` bytes, each byte taken from ``lease``
    (which the caller holds until it is done with the body). Raises ``BodyTooLarge``,
    ``BudgetExhausted``, ``BodyTimeout``, ``ClientGone`` or ``DecodeError`` (a bad
    compressed stream)."""
    if stall_timeout is None:
        stall_timeout = DEFAULT_STALL_TIMEOUT
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (DEFAULT_TOTAL_TIMEOUT if total_timeout is None else total_timeout)
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    inflater = _Inflater(encoding, limit, lease) if encoding not in ("", "identity") else None
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge
    stream = request.content
    raw: list[bytes] = []
    received = 0
    try:
        while True:
            async with asyncio.timeout(min(stall_timeout, max(0.0, deadline - loop.time()))):
                data = await stream.readany()
            if not data:
                break
            received += len(data)
            if received > limit:  # compressed bytes count against the limit too
                raise BodyTooLarge
            if inflater is None:
                if lease is not None:
                    lease.take(len(data))
                raw.append(data)
            else:
                inflater.feed(data)
    except TimeoutError:
        raise BodyTimeout from None
    except (ConnectionError, web.RequestPayloadError) as exc:
        if request.transport is None or request.transport.is_closing():
            raise ClientGone(str(exc)) from None
        # Malformed chunked encoding or a body shorter than Content-Length on a live
        # connection: the client's mistake, answered with 400.
        raise DecodeError(f"cannot read body: {exc}".replace("\n", " ")) from None
    if inflater is not None:
        return inflater.finish()
    return raw[0] if len(raw) == 1 else b"".join(raw)
