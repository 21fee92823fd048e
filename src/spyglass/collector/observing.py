"""A ``SpanSink`` that shows every accepted batch to an observer (adaptive sampling's
aggregator) before handing it on; everything else is the inner sink's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from spyglass.collector.processor import Submitted
from spyglass.model import Span

Observer = Callable[[Sequence[Span]], None]


class ObservingSink:
    def __init__(self, inner: Any, observe: Observer) -> None:
        self.inner = inner
        self.observe = observe

    def __getattr__(self, name: str) -> Any:  # metrics, writer, unhealthy_reason, ...
        return getattr(self.inner, name)

    async def accept(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        result = await self.inner.accept(spans, receiver=receiver, fmt=fmt, nbytes=nbytes)
        self.observe(spans)
        return result

    def submit(self, spans: Sequence[Span], *, receiver: str, fmt: str, nbytes: int = 0) -> Submitted:
        result = self.inner.submit(spans, receiver=receiver, fmt=fmt, nbytes=nbytes)
        self.observe(spans)
        return result

    async def open(self) -> None:
        await self.inner.open()

    async def aclose(self) -> None:
        await self.inner.aclose()
