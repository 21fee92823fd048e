"""Decoding that keeps the event loop responsive, shared by every receiver.

Small payloads decode inline (a thread hop costs more than they do); payloads above
``THREAD_DECODE_BYTES`` decode in a worker thread, so one large batch does not stall every
other client for tens of milliseconds.

The threads are ingest's own (``INGEST_WORKERS``, named ``spyglass-ingest-*``), not
asyncio's default executor: query work runs on pools of its own
(``spyglass.query.limits``), so eight slow searches can never hold the threads an export
waits for before it is acknowledged.

It is also the receivers' last line of defence: a decoder that fails in a way it did not
plan for (``RecursionError`` on absurd nesting, a library's own exception type) makes the
payload a ``DecodeError`` like any other bad input, so the client gets 400 /
INVALID_ARGUMENT and the rejection is counted, with one throttled WARNING line instead of
a 500 and a traceback per request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Callable
from typing import TypeVar

from spyglass.codecs.errors import DecodeError
from spyglass.server.quietlog import Throttle

T = TypeVar("T")

THREAD_DECODE_BYTES = 256 * 1024
INGEST_WORKERS = min(8, (os.cpu_count() or 1) + 2)

_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def ingest_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The process's ingest decode pool (created on first use; threads start lazily)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = concurrent.futures.ThreadPoolExecutor(INGEST_WORKERS, thread_name_prefix="spyglass-ingest")
    return _pool


log = logging.getLogger(__name__)
_throttle = Throttle(log)


async def decode_payload(decode: Callable[[bytes], T], data: bytes, threshold: int = THREAD_DECODE_BYTES) -> T:
    """``decode(data)``, in an ingest worker thread when ``data`` is larger than ``threshold``;
    any exception other than ``DecodeError`` is turned into one."""
    try:
        if len(data) > threshold:
            return await asyncio.get_running_loop().run_in_executor(ingest_executor(), decode, data)
        return decode(data)
    except DecodeError:
        raise
    except RecursionError:
        raise DecodeError("payload nested too deeply") from None
    except Exception as exc:
        name = getattr(decode, "__qualname__", repr(decode))
        _throttle.warning(name, "%s failed on a %d-byte payload: %s: %s", name, len(data), type(exc).__name__, exc)
        raise DecodeError(f"undecodable payload ({type(exc).__name__})") from None
