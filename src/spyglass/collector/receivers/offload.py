"""Decoding that keeps the event loop responsive, shared by every receiver.

Small payloads decode inline (a thread hop costs more than they do); payloads above
``THREAD_DECODE_BYTES`` decode in a worker thread, so one large batch does not stall every
other client for tens of milliseconds.

The threads are ingest's own (``INGEST_WORKERS``, named ``spyglass-ingest-*``), not
asyncio's default executor: query work runs on pools of its own
(``spyglass.query.limits``), so eight slow searches can never hold the threads an export
waits for before it is acknowledged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import TypeVar

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


async def decode_payload(decode: Callable[[bytes], T], data: bytes, threshold: int = THREAD_DECODE_BYTES) -> T:
    """``decode(data)``, in an ingest worker thread when ``data`` is larger than ``threshold``."""
    if len(data) > threshold:
        return await asyncio.get_running_loop().run_in_executor(ingest_executor(), decode, data)
    return decode(data)
