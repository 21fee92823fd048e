"""What every instrumentation shares: finding the tracer and tagging errors."""

from __future__ import annotations

import traceback
from typing import Any

import opentracing

from spyglass.client.suppress import is_suppressed

__all__ = ["is_suppressed", "resolve_tracer", "status_tags", "tag_error"]


def resolve_tracer(tracer: opentracing.Tracer | None) -> opentracing.Tracer:
    """The given tracer, else whatever ``opentracing.global_tracer()`` is at call time
    (so instrumentation installed before ``initialize_tracer`` still uses the real one)."""
    return tracer if tracer is not None else opentracing.global_tracer()


def tag_error(span: opentracing.Span, exc: BaseException) -> None:
    """OpenTracing's error convention: ``error=true`` and an ``error`` log."""
    span.set_tag("error", True)
    span.log_kv({
        "event": "error",
        "error.kind": type(exc).__name__,
        "error.object": exc,
        "message": str(exc),
        "stack": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    })


def status_tags(span: opentracing.Span, status: Any) -> None:
    """``http.status_code``; 5xx also marks the span as an error."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return
    span.set_tag("http.status_code", code)
    if code >= 500:
        span.set_tag("error", True)
