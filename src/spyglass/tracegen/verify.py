"""``--verify``: read every acknowledged trace back through the Jaeger query API
(``GET /api/traces/{id}``) and check it is whole: every span sent, no other.

Each trace is polled from its acknowledgement until it is whole or ``timeout`` has passed
since checking began, so the delay measured (acknowledgement to the first whole read) is the
ingest-to-query delay, plus the verifier's own backlog when it falls behind (an upper bound).
A trace still missing spans at its deadline is lost: ``partial`` when some spans came back,
``missing`` when none did (including when the query service cannot be reached).

A read shows the trace at that moment: a server that serves spans before they are durable
(sqlite between commits) and then crashes loses spans already read. ``delay`` postpones the
first read, so what is checked is what survived that long (``--verify-delay``, e.g. past the
commit interval, or across a restart).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from spyglass.server.tls import ClientTlsConfig


@dataclass(slots=True)
class Acked:
    """One acknowledged trace: its ID (32 hex digits), span IDs (16 hex) and when it was acked."""

    trace_id: str
    span_ids: frozenset[str]
    acked_at: float  # time.time()


@dataclass
class VerifyResult:
    checked: int = 0
    whole: int = 0
    partial: int = 0
    missing: int = 0
    spans_lost: int = 0
    delays: list[float] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.partial + self.missing

    def percentile(self, q: float) -> float | None:
        if not self.delays:
            return None
        ordered = sorted(self.delays)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def as_dict(self) -> dict[str, object]:
        p50, p99 = self.percentile(0.50), self.percentile(0.99)
        return {
            "checked": self.checked, "whole": self.whole, "partial": self.partial, "missing": self.missing,
            "traces_lost": self.lost, "spans_lost": self.spans_lost,
            "delay_p50_s": None if p50 is None else round(p50, 4),
            "delay_p99_s": None if p99 is None else round(p99, 4),
            "errors": self.first_errors,
        }


class _Pending:
    __slots__ = ("trace", "seen", "deadline", "pause")

    def __init__(self, trace: Acked) -> None:
        self.trace = trace
        self.seen: set[str] = set()
        self.deadline = 0.0  # set by the first read, so a verifier that is behind loses nothing by it
        self.pause = 0.01  # the delay's resolution: polls at +10, 25, 47, 81 ms ... (x1.5, up to 0.25 s)


def _ssl(tls: ClientTlsConfig | None) -> dict[str, Any]:
    """aiohttp's ``ssl`` argument for an ``https://`` query URL, from ``--tls.*``."""
    return {"ssl": tls.ssl_context()} if tls is not None and tls.enabled else {}


class Verifier:
    """Checks traces handed to ``add``: ``concurrency`` readers take the trace due soonest from
    one heap, so memory is a small object per trace in flight, not a task each."""

    def __init__(self, query_url: str, timeout: float = 10.0, concurrency: int = 8, delay: float = 0.0,
                 tls: ClientTlsConfig | None = None) -> None:
        self.base = query_url.rstrip("/")
        self.timeout = timeout
        self.delay = delay
        self.result = VerifyResult()
        self._heap: list[tuple[float, int, _Pending]] = []
        self._seq = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                              connector=aiohttp.TCPConnector(limit=concurrency, **_ssl(tls)))
        self._readers = [asyncio.ensure_future(self._reader()) for _ in range(concurrency)]
        self._busy = 0

    def add(self, trace: Acked) -> None:
        """Start checking ``trace`` (call from the event loop)."""
        self._push(trace.acked_at + self.delay, _Pending(trace))

    @property
    def pending(self) -> int:
        return len(self._heap) + self._busy

    def _push(self, when: float, item: _Pending) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, item))
        self._wakeup.set()

    async def drain(self) -> VerifyResult:
        """Wait until every trace added is whole or lost, then stop."""
        self._closing = True
        self._wakeup.set()
        await asyncio.gather(*self._readers)
        await self._session.close()
        return self.result

    async def _reader(self) -> None:
        while True:
            if not self._heap:
                if self._closing and not self._busy:
                    self._wakeup.set()  # let the other readers see it too
                    return
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
                continue
            when = self._heap[0][0]
            now = time.time()
            if when > now:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), when - now)
                except asyncio.TimeoutError:
                    pass
                continue
            _, _, item = heapq.heappop(self._heap)
            self._busy += 1
            try:
                await self._check(item)
            finally:
                self._busy -= 1

    async def _check(self, item: _Pending) -> None:
        trace = item.trace
        item.seen = await self._read(trace.trace_id) or item.seen
        now = time.time()
        item.deadline = item.deadline or now + self.timeout
        if trace.span_ids <= item.seen:
            self.result.whole += 1
            self.result.delays.append(max(0.0, now - trace.acked_at))
        elif now + item.pause > item.deadline:
            got = len(trace.span_ids & item.seen)
            if got:
                self.result.partial += 1
            else:
                self.result.missing += 1
            self.result.spans_lost += len(trace.span_ids) - got
        else:
            self._push(now + item.pause, item)
            item.pause = min(0.25, item.pause * 1.5)
            return
        self.result.checked += 1

    async def _read(self, trace_id: str) -> set[str] | None:
        """The span IDs the query API returns for the trace; None when it cannot be read."""
        try:
            async with self._session.get(f"{self.base}/api/traces/{trace_id}") as resp:
                if resp.status == 404:
                    return set()
                if resp.status != 200:
                    self._note(f"GET /api/traces/{trace_id}: HTTP {resp.status}")
                    return None
                body = await resp.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            self._note(f"{self.base}: {type(exc).__name__}: {exc}")
            return None
        return {span["spanID"] for trace in body.get("data") or () for span in trace.get("spans", ())}

    def _note(self, error: str) -> None:
        if len(self.result.first_errors) < 5 and error not in self.result.first_errors:
            self.result.first_errors.append(error)
