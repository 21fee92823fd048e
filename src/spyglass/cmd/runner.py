"""Runs a set of listeners until SIGTERM/SIGINT, then shuts down in order."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Protocol

from spyglass.server.limits import raise_nofile_limit

log = logging.getLogger("spyglass")


class Component(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


GC_THRESHOLD0 = 1_000_000


def tune_gc() -> None:
    """Decoding allocates many short-lived objects; CPython's default GC thresholds make
    collection a 2-3x tax on it (python-speed-limits.md). Raise the first threshold and
    freeze what start-up allocated so it is never scanned again.

    Why 1,000,000 and not 100,000: a young collection scans every object still alive, and
    under load that is the requests being decoded and the queued batches. Timed with
    ``gc.callbacks`` in every process of a saturated collector (``--workers 2``, 2026-12-07):
    into ClickHouse, 1.4-1.75 s of collection per 300,000 spans at 100,000 against 0.05 s at
    1,000,000 (about 5 µs/span); on sqlite (``bench/workers.py``), 1.0 s against 0.08 s per
    ~290,000 spans (about 3 µs/span); the longest single collection 0.1-0.2 s against under
    2 ms. Our spans make no reference cycles, so the objects a collection could free wait
    at most a million allocations longer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD0, 50, 100)


async def serve_until_signalled(component: Component) -> None:
    """Start ``component``; on SIGTERM or SIGINT stop it (it drains and flushes) and return.
    The open-file soft limit is raised to the hard one first: every connection is a
    descriptor, and a default of 1,024 is a few hundred slow clients."""
    soft, hard = raise_nofile_limit()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await component.start()
    log.info("open-file limit %s (hard %s)", soft, hard)  # after start: a failed start is one line
    tune_gc()
    await stop.wait()
    log.info("shutting down")
    await component.stop()
    log.info("stopped")
