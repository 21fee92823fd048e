"""Deadlines for query work running in worker threads.

The query service gives every request a ``Deadline`` and runs the storage call under it
(``running_under``). A thread cannot be stopped from outside, so long-running reader code
asks ``check_deadline()`` between units of work (traces, batches of index rows, SQLite
progress callbacks) and stops with ``QueryTimeout`` once the deadline has passed or the
request was abandoned. Code not running under a deadline (ingest, tests calling a reader
directly) is never interrupted: ``check_deadline`` is then a no-op.

The current deadline is a ``ContextVar``, so concurrent requests in different threads each
see their own.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from contextvars import ContextVar


class QueryTimeout(Exception):
    """The request ran past its deadline; its work was stopped."""


class Deadline:
    """A point on the monotonic clock after which the work is abandoned (``inf``: never),
    or an explicit ``cancel()`` by the request that no longer waits for the result."""

    __slots__ = ("expires_at", "timeout_s", "cancelled")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.expires_at = time.monotonic() + timeout_s if timeout_s > 0 else math.inf
        self.cancelled = False

    def remaining(self) -> float | None:
        """Seconds left (at least 0), None without a deadline (for ``asyncio.wait_for``)."""
        if self.expires_at == math.inf:
            return None
        return max(0.0, self.expires_at - time.monotonic())

    def expired(self) -> bool:
        return self.cancelled or time.monotonic() >= self.expires_at

    def cancel(self) -> None:
        self.cancelled = True

    def error(self) -> QueryTimeout:
        return QueryTimeout(f"query exceeded the deadline of {self.timeout_s:g}s (--query.timeout)")

    def check(self) -> None:
        if self.expired():
            raise self.error()


_current: ContextVar[Deadline | None] = ContextVar("spyglass_query_deadline", default=None)


def current_deadline() -> Deadline | None:
    return _current.get()


def check_deadline() -> None:
    """Raise ``QueryTimeout`` when the work of the current request should stop."""
    deadline = _current.get()
    if deadline is not None and deadline.expired():
        raise deadline.error()


@contextlib.contextmanager
def running_under(deadline: Deadline | None) -> Iterator[None]:
    """Make ``deadline`` the one ``check_deadline`` consults in this context."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)
