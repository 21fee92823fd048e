"""A direct-mode worker's tenant ingest-rate buckets, kept by the parent.

With ``--collector.buffer nats`` each worker publishes its requests to JetStream itself
(``supervisor.pool_mode``: ``direct``), so the spans never pass through the parent. A
bucket per tenant in every worker would give a tenant N times its rate over N workers;
instead the worker asks the parent, which keeps the one bucket per tenant for every worker
(the same ``RateLimits`` that limits forwarded requests), for each request's tokens before
publishing it: one small frame each way on the local channel per request, not per span.

Frames (``channel``): ``["take", id, tenant, n]`` answered by ``["took", id, granted]``;
``["give", tenant, n]`` returns the tokens of a request admitted and then refused (the
stream was full), as an in-process gate does. A tenant without a rate never leaves the
worker.
"""

from __future__ import annotations

import asyncio
import itertools

from spyglass.collector.processor import ServerBusy
from spyglass.collector.workers.channel import frame
from spyglass.tenancy.ratelimit import RateLimits

# The parent answers at once from memory; past this, the request is refused as retryable.
TAKE_TIMEOUT = 10.0


class ParentRateLimits(RateLimits):
    """``RateLimits`` whose buckets are the parent's (``acquire`` asks it)."""

    def __init__(self, rates: dict[str, float], writer: asyncio.StreamWriter) -> None:
        super().__init__(rates)
        self.writer = writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[bool]] = {}

    def take(self, tenant: str, n: int) -> bool:
        raise TypeError("a worker's buckets are the parent's: use acquire()")

    async def acquire(self, tenant: str, n: int) -> bool:
        if self.rate_of(tenant) is None or n <= 0:
            return True
        if self.writer.is_closing():
            raise ServerBusy("the collector's parent process is gone")
        rid = next(self._ids)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            self.writer.write(frame("take", rid, tenant, n))
            return await asyncio.wait_for(future, TAKE_TIMEOUT)
        except asyncio.TimeoutError:
            raise ServerBusy("the collector's parent did not answer for the tenant's rate limit") from None
        finally:
            self._waiting.pop(rid, None)

    def give_back(self, tenant: str, n: int) -> None:
        if self.rate_of(tenant) is not None and n > 0 and not self.writer.is_closing():
            self.writer.write(frame("give", tenant, n))

    def answer(self, rid: int, granted: bool) -> None:
        """The parent's ``took`` frame."""
        future = self._waiting.get(rid)
        if future is not None and not future.done():
            future.set_result(bool(granted))

    def fail_all(self, reason: str) -> None:
        """The parent is gone: every request waiting for tokens gets a retryable error."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ServerBusy(reason))
