"""Decoding that keeps the event loop responsive, shared by every receiver.

Small payloads decode inline (a thread hop costs more than they do); payloads above
``THREAD_DECODE_BYTES`` decode in a worker thread, so one large batch does not stall every
other client for tens of milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

THREAD_DECODE_BYTES = 256 * 1024


async def decode_payload(decode: Callable[[bytes], T], data: bytes, threshold: int = THREAD_DECODE_BYTES) -> T:
    """``decode(data)``, in a worker thread when ``data`` is larger than ``threshold``."""
    if len(data) > threshold:
        return await asyncio.get_running_loop().run_in_executor(None, decode, data)
    return decode(data)
