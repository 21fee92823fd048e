"""How much work one query request may cause, and where that work runs.

Query requests run storage reads, adjusters and JSON rendering in worker threads. They
must not take the threads (or the queue for them) that ingest needs to acknowledge spans,
and one request must not hold unbounded memory or run forever. So:

* **Own executors.** Heavy query work (searches, trace fetches, dependencies, archiving)
  runs on a pool of ``max_concurrent`` threads of its own; rendering answers on a second
  pool of the same size; the cheap lookups (services, operations) on a small third one, so
  the UI's drop-downs answer while heavy searches run. Ingest decodes on its own pool
  (``spyglass.collector.receivers.offload``); nothing here uses asyncio's default executor.
* **Admission.** At most ``max_concurrent`` heavy calls run at once; up to ``max_queued``
  more wait for a slot; beyond that a request is refused at once with ``QueryBusy``
  (HTTP 503 with ``Retry-After``, gRPC ``RESOURCE_EXHAUSTED``). A slot is given back when
  the worker thread actually finishes, not when the request gives up waiting, so abandoned
  work never piles up behind the limit.
* **Deadline.** Every call gets ``timeout_s`` (``--query.timeout``, 0 disables it) from the
  moment it arrives, queueing included. Past it the request answers ``QueryTimeout``
  (HTTP 503, gRPC ``DEADLINE_EXCEEDED``) and the worker stops at the storage's next
  ``check_deadline`` (``spyglass.storage.api.deadline``).
* **Size.** A search returns at most ``max_traces`` traces (a larger ``limit`` or
  ``search_depth`` is clamped, as Jaeger defines no larger meaningful value) and at most
  ``max_spans_per_response`` spans: traces are taken whole until the next would pass the
  budget; a single trace larger than the budget is cut to its first spans with Jaeger's
  ``max_trace_size`` warning on the first span.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge

from spyglass.storage.api.deadline import Deadline, QueryTimeout, running_under

T = TypeVar("T")

DEFAULT_MAX_TRACES = 1_000
DEFAULT_MAX_SPANS_PER_RESPONSE = 200_000
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_CONCURRENT = 4
DEFAULT_MAX_QUEUED = 64
LIGHT_WORKERS = 2


class QueryBusy(Exception):
    """Every query slot is taken and the waiting line is full; retry later."""


@dataclass(slots=True, frozen=True)
class QueryLimits:
    """The ``--query.max-*`` and ``--query.timeout`` settings (0 = no limit for the counts
    and the timeout; ``max_concurrent`` is at least 1)."""

    max_traces: int = DEFAULT_MAX_TRACES
    max_spans_per_response: int = DEFAULT_MAX_SPANS_PER_RESPONSE
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    max_queued: int = DEFAULT_MAX_QUEUED

    def validate(self) -> None:
        if self.max_traces < 0 or self.max_spans_per_response < 0 or self.timeout_s < 0:
            raise ValueError("--query.max-traces, --query.max-spans-per-response and --query.timeout must not be negative")
        if self.max_concurrent < 1 or self.max_queued < 0:
            raise ValueError("--query.max-concurrent must be at least 1 and --query.max-queued not negative")

    def clamp_traces(self, requested: int) -> int:
        """The number of traces a search for ``requested`` traces may return."""
        if self.max_traces and requested > self.max_traces:
            return self.max_traces
        return requested


def _call(deadline: Deadline | None, func: Callable[..., T], args: tuple[Any, ...]) -> T:
    with running_under(deadline):
        if deadline is not None:
            deadline.check()  # it may have expired while the call waited for a thread
        return func(*args)


class QueryMetrics:
    """``spyglass_query_refused_total{reason=busy|timeout}`` and the heavy calls running and
    waiting, on the process's registry (the admin port's ``/metrics``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or CollectorRegistry()
        self.refused = Counter(
            "spyglass_query_refused", "Query requests refused: busy (waiting line full) or timeout (past --query.timeout)",
            ["reason"], registry=r,
        )
        self.running = Gauge("spyglass_query_running", "Heavy query calls holding a slot", registry=r)
        self.waiting = Gauge("spyglass_query_waiting", "Heavy query calls waiting for a slot", registry=r)


class QueryRunner:
    """The executors, the admission limit and the deadlines of one query server."""

    def __init__(self, limits: QueryLimits | None = None, registry: CollectorRegistry | None = None) -> None:
        self.limits = limits or QueryLimits()
        self.limits.validate()
        self.metrics = QueryMetrics(registry)
        n = self.limits.max_concurrent
        self._heavy = concurrent.futures.ThreadPoolExecutor(n, thread_name_prefix="spyglass-query")
        self._render = concurrent.futures.ThreadPoolExecutor(n, thread_name_prefix="spyglass-query-render")
        self._light = concurrent.futures.ThreadPoolExecutor(LIGHT_WORKERS, thread_name_prefix="spyglass-query-light")
        self._free = n
        self._waiters: list[asyncio.Future[None]] = []
        self.metrics.running.set_function(lambda: n - self._free)
        self.metrics.waiting.set_function(lambda: len(self._waiters))

    # -- admission ---------------------------------------------------------------------
    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next in line
                return
        self._free += 1

    async def _acquire(self, deadline: Deadline) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        if len(self._waiters) >= self.limits.max_queued:
            self.metrics.refused.labels("busy").inc()
            raise QueryBusy(
                f"{self.limits.max_concurrent} queries running and {len(self._waiters)} waiting "
                "(--query.max-concurrent, --query.max-queued); retry later"
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), deadline.remaining())
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot arrived as we gave up: pass it on
            else:
                waiter.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                self.metrics.refused.labels("timeout").inc()
                raise deadline.error() from None
            raise

    # -- running -------------------------------------------------------------------------
    def new_deadline(self) -> Deadline:
        return Deadline(self.limits.timeout_s)

    async def heavy(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` on the heavy pool, after admission, under a new deadline."""
        deadline = self.new_deadline()
        await self._acquire(deadline)
        loop = asyncio.get_running_loop()
        try:
            future = self._heavy.submit(_call, deadline, func, args)
        except BaseException:
            self._release()
            raise

        def done(_: concurrent.futures.Future[T]) -> None:
            try:
                loop.call_soon_threadsafe(self._release)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

        future.add_done_callback(done)
        return await self._timed(future, deadline)

    async def light(self, func: Callable[..., T], *args: Any) -> T:
        """A cheap lookup on its own small pool, under a deadline, without admission."""
        deadline = self.new_deadline()
        return await self._timed(self._light.submit(_call, deadline, func, args), deadline)

    async def _timed(self, future: concurrent.futures.Future[T], deadline: Deadline) -> T:
        try:
            return await self._await(future, deadline)
        except QueryTimeout:
            self.metrics.refused.labels("timeout").inc()
            raise

    async def render(self, func: Callable[..., T], *args: Any) -> T:
        """Encoding an answer (no storage access, no deadline: the answer is ready)."""
        return await asyncio.wrap_future(self._render.submit(func, *args))

    @staticmethod
    async def _await(future: concurrent.futures.Future[T], deadline: Deadline) -> T:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), deadline.remaining())
        except TimeoutError:
            deadline.cancel()
            raise deadline.error() from None
        except asyncio.CancelledError:
            deadline.cancel()  # the client went away: stop the work too
            raise

    def close(self) -> None:
        for pool in (self._heavy, self._render, self._light):
            pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["QueryBusy", "QueryLimits", "QueryRunner", "QueryTimeout"]
