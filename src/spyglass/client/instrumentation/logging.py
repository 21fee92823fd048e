"""Log correlation: the active span's IDs on every log record.

``install_log_correlation()`` sets a log record factory that adds ``trace_id``,
``span_id`` (hex, as the Jaeger UI shows them; empty outside a span) and
``trace_sampled`` to each record, so any formatter can print them::

    install_log_correlation(tracer)
    logging.basicConfig(format="%(asctime)s %(levelname)s [%(trace_id)s %(span_id)s] %(message)s")

A factory rather than a filter reaches records from every logger and handler, including
ones created later. ``uninstall_log_correlation()`` restores the previous factory.
"""

from __future__ import annotations

import logging
from typing import Any

import opentracing

from spyglass.client.instrumentation._common import resolve_tracer
from spyglass.model import format_span_id, format_trace_id

_previous: Any = None


def correlation_ids(tracer: opentracing.Tracer | None = None) -> tuple[str, str, bool]:
    """(trace_id, span_id, sampled) of the active span, or ("", "", False)."""
    span = resolve_tracer(tracer).active_span
    if span is None:
        return "", "", False
    ctx = span.context
    trace_id = getattr(ctx, "trace_id", 0)
    if not trace_id:
        return "", "", False
    return format_trace_id(trace_id), format_span_id(ctx.span_id), bool(getattr(ctx, "flags", 0) & 1)


def install_log_correlation(tracer: opentracing.Tracer | None = None) -> None:
    global _previous
    if _previous is not None:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.trace_id, record.span_id, record.trace_sampled = correlation_ids(tracer)
        return record

    _previous = previous
    logging.setLogRecordFactory(factory)


def uninstall_log_correlation() -> None:
    global _previous
    if _previous is not None:
        logging.setLogRecordFactory(_previous)
        _previous = None
