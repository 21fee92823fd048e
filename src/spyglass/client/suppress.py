"""A switch that turns client instrumentation off for the current context.

The tracer's own network calls (the remote sampler's polls) go through ``urllib``, which
the HTTP client instrumentation traces; without this switch every poll would become a
span. Instrumentation checks ``is_suppressed()`` before starting a span.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

_SUPPRESSED: contextvars.ContextVar[bool] = contextvars.ContextVar("spyglass_suppress_instrumentation", default=False)


def is_suppressed() -> bool:
    return _SUPPRESSED.get()


@contextlib.contextmanager
def suppressed() -> Iterator[None]:
    """No spans from instrumentation inside this block."""
    token = _SUPPRESSED.set(True)
    try:
        yield
    finally:
        _SUPPRESSED.reset(token)
