"""Logs each finished span (jaeger-client's ``logging: true``), for local debugging."""

from __future__ import annotations

import logging

from spyglass.client.reporting.base import Reporter
from spyglass.client.span import Span
from spyglass.model import format_span_id, format_trace_id

DEFAULT_LOGGER = logging.getLogger("jaeger_tracing")


class LoggingReporter(Reporter):
    def __init__(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self.logger = logger or DEFAULT_LOGGER
        self.level = level

    def report_span(self, span: Span) -> None:
        if self.logger.isEnabledFor(self.level):
            self.logger.log(
                self.level,
                "Reporting span %s:%s:%s:%x %s.%s",
                format_trace_id(span.trace_id),
                format_span_id(span.span_id),
                format_span_id(span.parent_id),
                span.flags,
                self.process.service_name if self.process else "",
                span.operation_name,
            )
