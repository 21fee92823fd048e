"""The tail sampling stage: a ``SpanSink`` in front of the collector's own sink.

Spans are validated (``processor.screen``, so bad ones are refused at once, as without tail
sampling) and held per trace in first-seen order. A trace is decided ``decision_wait``
after its first span: kept traces go to the inner sink (``receiver=tail_sampling``), the
others are counted and forgotten. The decision is remembered (as many as ``num_traces``)
so late spans follow it. Memory is bounded: when ``num_traces`` traces (or ``max_spans``
spans) are held, the oldest trace is decided early, and counted in
``spyglass_tail_sampling_early_decisions_total``.

Kept spans are acknowledged to the client when held, as with any tail sampler; if the inner
sink refuses them when released (queue full), they are counted in
``spyglass_spans_dropped_total{reason="tail_sampling_busy"}``.

With ``router`` (several collectors), spans of traces owned by other collectors are
forwarded first (``routing.py``); only owned spans are held, and only they are shown to
``observe`` (adaptive sampling's aggregator), so each root is counted once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import Counter, Gauge

from spyglass.collector.processor import ServerBusy, Submitted, screen, submitted
from spyglass.collector.tailsampling.policies import TailConfig
from spyglass.collector.tailsampling.routing import PeerRouter
from spyglass.model import Span

log = logging.getLogger(__name__)

RECEIVER = "tail_sampling"


class _Held:
    __slots__ = ("first_seen", "spans")

    def __init__(self, first_seen: float) -> None:
        self.first_seen = first_seen
        self.spans: list[Span] = []


class TailSamplingSink:
    def __init__(
        self,
        inner: Any,
        config: TailConfig,
        *,
        router: PeerRouter | None = None,
        observe: Callable[[Sequence[Span]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.config = config
        self.router = router
        self.observe = observe
        self.clock = clock
        self.max_spans = config.max_spans or config.num_traces * 1000
        # Keyed by trace ID, or (tenant, trace ID) for tenants' spans: two tenants' traces
        # that share an ID are held and decided apart (spyglass.tenancy).
        self.held: OrderedDict[int | tuple[str, int], _Held] = OrderedDict()
        self.held_spans = 0
        self.decided: OrderedDict[int | tuple[str, int], bool] = OrderedDict()
        self._release: list[Span] = []
        self._task: asyncio.Task[None] | None = None
        self._forwards: set[asyncio.Task[None]] = set()
        r = inner.metrics.registry
        self.m_traces = Counter("spyglass_tail_sampling_traces", "Traces decided by tail sampling", ["decision"], registry=r)
        self.m_spans = Counter("spyglass_tail_sampling_spans", "Spans kept or dropped by tail sampling decisions", ["decision"], registry=r)
        self.m_early = Counter("spyglass_tail_sampling_early_decisions", "Traces decided before decision_wait because the buffer was full", registry=r)
        self.m_late = Counter("spyglass_tail_sampling_late_spans", "Spans that arrived after their trace was decided", ["decision"], registry=r)
        self.m_forwarded = Counter("spyglass_tail_sampling_forwarded_spans", "Spans forwarded to the collector that owns their trace", registry=r)
        g = Gauge("spyglass_tail_sampling_held_traces", "Traces waiting for a tail sampling decision", registry=r)
        g.set_function(lambda: len(self.held))
        g2 = Gauge("spyglass_tail_sampling_held_spans", "Spans waiting for a tail sampling decision", registry=r)
        g2.set_function(lambda: self.held_spans)

    def __getattr__(self, name: str) -> Any:  # metrics, writer, unhealthy_reason, ...
        return getattr(self.inner, name)

    # -- intake ---------------------------------------------------------------------------
    def has_room(self) -> bool:
        """Always: spans are held here, in a buffer bounded by deciding early, and
        acknowledged when held; a full inner queue shows as ``tail_sampling_busy`` drops."""
        return True

    async def accept(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        good, checked = screen(self.inner.metrics, spans, receiver, fmt, nbytes)
        if self.router is not None:
            local, remote = self.router.split(good)
            if remote:
                await self.router.forward(remote)
                self.m_forwarded.inc(sum(len(v) for v in remote.values()))
        else:
            local = list(good)
        self._hold(local)
        await self._flush_release()
        return submitted(len(good), checked)

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        """UDP: no one waits; forwarding runs as a task and a failure is a counted drop."""
        good, checked = screen(self.inner.metrics, spans, receiver, fmt, nbytes)
        local: list[Span] = list(good)
        if self.router is not None:
            local, remote = self.router.split(good)
            if remote:
                task = asyncio.get_running_loop().create_task(self._forward_quietly(remote))
                self._forwards.add(task)
                task.add_done_callback(self._forwards.discard)
        self._hold(local)
        return submitted(len(good), checked)

    async def _forward_quietly(self, remote: dict[int, list[Span]]) -> None:
        n = sum(len(v) for v in remote.values())
        try:
            await self.router.forward(remote)  # type: ignore[union-attr]
            self.m_forwarded.inc(n)
        except ServerBusy:
            self.inner.metrics.spans_dropped.labels("tail_sampling_forward").inc(n)

    def _hold(self, spans: Sequence[Span]) -> None:
        if not spans:
            return
        if self.observe is not None:
            self.observe(spans)
        now = self.clock()
        for span in spans:
            tid: int | tuple[str, int] = (span.tenant, span.trace_id) if span.tenant else span.trace_id
            h = self.held.get(tid)
            if h is None:
                verdict = self.decided.get(tid)
                if verdict is not None:
                    self.m_late.labels("kept" if verdict else "dropped").inc()
                    if verdict:
                        self._release.append(span)
                    else:
                        self.m_spans.labels("dropped").inc()
                    continue
                h = self.held[tid] = _Held(now)
            h.spans.append(span)
            self.held_spans += 1
        while len(self.held) > self.config.num_traces or self.held_spans > self.max_spans:
            tid, h = self.held.popitem(last=False)
            self.m_early.inc()
            self._decide(tid, h)

    # -- decisions --------------------------------------------------------------------------
    def _decide(self, tid: int | tuple[str, int], h: _Held) -> None:
        self.held_spans -= len(h.spans)
        keep = self.config.keep(h.spans)
        label = "kept" if keep else "dropped"
        self.m_traces.labels(label).inc()
        self.m_spans.labels(label).inc(len(h.spans))
        if keep:
            self._release.extend(h.spans)
        self.decided[tid] = keep
        if len(self.decided) > self.config.num_traces:
            self.decided.popitem(last=False)

    def decide_due(self, now: float | None = None) -> int:
        """Decide every trace held for ``decision_wait``; how many were decided."""
        t = self.clock() if now is None else now
        deadline = t - self.config.decision_wait_s
        n = 0
        while self.held:
            tid, h = next(iter(self.held.items()))
            if h.first_seen > deadline:
                break
            del self.held[tid]
            self._decide(tid, h)
            n += 1
        return n

    async def _flush_release(self) -> None:
        while self._release:
            batch, self._release = self._release[:5000], self._release[5000:]
            try:
                await self.inner.accept(batch, receiver=RECEIVER, fmt="model")
            except ServerBusy:
                self.inner.metrics.spans_dropped.labels("tail_sampling_busy").inc(len(batch))

    async def _ticker(self) -> None:
        period = max(0.01, min(1.0, self.config.decision_wait_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                self.decide_due()
                await self._flush_release()
            except Exception:  # never let the ticker die: held traces would never leave
                log.exception("tail sampling decision failed")

    # -- lifecycle ------------------------------------------------------------------------------
    async def open(self) -> None:
        await self.inner.open()
        self._task = asyncio.get_running_loop().create_task(self._ticker())

    async def aclose(self) -> None:
        """Decide everything still held (nothing accepted is lost silently), then close."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._forwards:
            await asyncio.gather(*self._forwards, return_exceptions=True)
        self.decide_due(float("inf"))
        await self._flush_release()
        if self.router is not None:
            await self.router.close()
        await self.inner.aclose()
