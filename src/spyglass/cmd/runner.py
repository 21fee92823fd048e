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


def tune_gc() -> None:
    """Decoding allocates many short-lived objects; CPython's default GC thresholds make
    collection a 2-3x tax on it (python-speed-limits.md). Raise the first threshold and
    freeze what start-up allocated so it is never scanned again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


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
