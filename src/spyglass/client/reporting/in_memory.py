"""Keeps finished spans in a list, for tests of instrumented code."""

from __future__ import annotations

import threading

from spyglass.client.reporting.base import Reporter
from spyglass.client.span import Span


class InMemoryReporter(Reporter):
    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._lock = threading.Lock()

    def report_span(self, span: Span) -> None:
        with self._lock:
            self._spans.append(span)

    def get_spans(self) -> list[Span]:
        """A copy of the spans reported so far, in finishing order."""
        with self._lock:
            return list(self._spans)

    @property
    def spans(self) -> list[Span]:
        return self.get_spans()

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
