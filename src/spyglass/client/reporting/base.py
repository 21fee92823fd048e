"""The reporter interface: where finished, sampled spans go.

``report_span`` runs on the application's thread inside ``Span.finish``, so every
reporter must make it cheap and must never block or raise. ``set_process`` is called once
by the tracer with the ``Resource`` (service name and process tags) its spans belong to
and the tracer's limits for tag values and tracebacks (as jaeger-client's reporter gets
them), which apply when spans are converted for sending.
"""

from __future__ import annotations

import abc

from spyglass.client.constants import MAX_TAG_VALUE_LENGTH, MAX_TRACEBACK_LENGTH
from spyglass.client.span import Span
from spyglass.model import Resource


class Reporter(abc.ABC):
    process: Resource | None = None
    max_tag_value_length: int = MAX_TAG_VALUE_LENGTH
    max_traceback_length: int = MAX_TRACEBACK_LENGTH

    def set_process(
        self,
        process: Resource,
        max_tag_value_length: int = MAX_TAG_VALUE_LENGTH,
        max_traceback_length: int = MAX_TRACEBACK_LENGTH,
    ) -> None:
        self.process = process
        self.max_tag_value_length = max_tag_value_length
        self.max_traceback_length = max_traceback_length

    @abc.abstractmethod
    def report_span(self, span: Span) -> None:
        """Take a finished span. Cheap, non-blocking, never raises."""

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything reported so far; True when nothing is left undelivered."""
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush, then release threads and sockets. Spans reported later are dropped."""
        self.flush(timeout)


class NullReporter(Reporter):
    """Discards every span (tracing disabled)."""

    def report_span(self, span: Span) -> None:
        pass


class CompositeReporter(Reporter):
    """Hands each span to several reporters (jaeger-client's ``logging: true`` adds a
    ``LoggingReporter`` next to the remote one this way)."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def set_process(
        self,
        process: Resource,
        max_tag_value_length: int = MAX_TAG_VALUE_LENGTH,
        max_traceback_length: int = MAX_TRACEBACK_LENGTH,
    ) -> None:
        super().set_process(process, max_tag_value_length, max_traceback_length)
        for r in self.reporters:
            r.set_process(process, max_tag_value_length, max_traceback_length)

    def report_span(self, span: Span) -> None:
        for r in self.reporters:
            r.report_span(span)

    def flush(self, timeout: float | None = None) -> bool:
        return all([r.flush(timeout) for r in self.reporters])

    def close(self, timeout: float | None = None) -> None:
        for r in self.reporters:
            r.close(timeout)
