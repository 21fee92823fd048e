"""Acknowledged spans whose storage write failed, held for retry: bounded, oldest first.

Why: a receiver acknowledges spans when they enter the queue, before storage sees them. If
the write then fails (disk full, lock lost, server gone), those spans were promised to the
client and must not be thrown away. The processor keeps them here, retries them with a
backoff, and stops taking new spans until storage takes these again. The buffer is bounded
in spans; what no longer fits (or is still here when the process must stop) is the only
thing ever dropped, and the caller counts it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from spyglass.model import Span


class RetryBuffer:
    """Batches in arrival order; ``capacity`` spans at most (a single batch larger than
    that is still kept when the buffer is empty, as the queue does)."""

    def __init__(self, capacity: int, *, first_delay: float = 0.1, max_delay: float = 5.0) -> None:
        if capacity < 1:
            raise ValueError("retry buffer capacity must be at least 1")
        self.capacity = capacity
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._batches: deque[Sequence[Span]] = deque()
        self._spans = 0
        self._attempts = 0
        self.next_attempt = 0.0  # monotonic time of the next retry

    def __len__(self) -> int:
        return self._spans

    def __bool__(self) -> bool:
        return bool(self._batches)

    def add(self, batch: Sequence[Span], now: float) -> int:
        """Hold ``batch``; returns how many of the oldest spans had to go to make room."""
        dropped = 0
        while self._batches and self._spans + len(batch) > self.capacity:
            n = len(self._batches.popleft())
            self._spans -= n
            dropped += n
        if not self._batches:  # the first failure: retry after the first delay
            self._attempts = 0
            self.failed(now)
        self._batches.append(batch)
        self._spans += len(batch)
        return dropped

    def peek(self) -> Sequence[Span]:
        return self._batches[0]

    def pop(self) -> None:
        """The oldest batch was stored: forget it and retry the next one at once."""
        self._spans -= len(self._batches.popleft())
        self._attempts = 0
        self.next_attempt = 0.0

    def failed(self, now: float) -> None:
        """A retry failed: wait longer before the next one (doubling up to ``max_delay``)."""
        self.next_attempt = now + min(self.first_delay * 2 ** min(self._attempts, 16), self.max_delay)
        self._attempts += 1

    def drain(self) -> int:
        """Forget everything (the process is stopping); returns how many spans that was."""
        n = self._spans
        self._batches.clear()
        self._spans = 0
        return n
