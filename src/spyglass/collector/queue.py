"""A bounded queue of span batches, measured in spans, between receivers and the writer.

Receivers run on the event loop and must never block: ``put_nowait`` either takes the whole
batch or raises ``QueueFull``. The writer thread takes up to ``batch_size`` spans at a time.

``has_room`` lets receivers refuse a request *before* decoding it: decoding a batch that the
queue then refuses costs as much CPU as one it takes, and under overload that was most of
the CPU (a probe: 344,000 spans decoded and refused for 115,000 accepted). Once a batch has
been refused for lack of room, ``has_room`` stays False until the writer has drained the
queue to ``resume_at`` (90 % of the capacity), so the refusals stop only when a typical
request fits again instead of flapping with every batch the writer takes.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from spyglass.model import Span


class QueueFull(Exception):
    """The queue has no room for the batch; the receiver answers with a retryable error."""


class QueueClosed(Exception):
    """The queue no longer takes batches (the process is shutting down)."""


class BoundedSpanQueue:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("queue capacity must be at least 1")
        self.capacity = capacity
        self._batches: deque[Sequence[Span]] = deque()
        self._length = 0
        self._closed = False
        self._cond = threading.Condition()
        self.resume_at = capacity - max(1, capacity // 10)
        self._refusing = False  # a batch was refused for lack of room; cleared at ``resume_at``

    def __len__(self) -> int:
        return self._length

    def has_room(self) -> bool:
        """False while the queue is full, or refusing since it was (until it drains to
        ``resume_at``). Read without the lock: a stale answer only moves one request's
        refusal from before its decoding to after it."""
        return not self._refusing and self._length < self.capacity

    def note_refusal(self) -> None:
        """A caller that checks the capacity itself (the write-ahead log) refused a batch."""
        self._refusing = True

    def put_nowait(self, spans: Sequence[Span], *, force: bool = False) -> None:
        """Enqueue all of ``spans`` or none. A batch larger than the whole capacity is
        accepted only into an empty queue, so one big request is never refused forever.
        ``force`` skips the capacity check: for room the caller reserved beforehand (the
        write-ahead log reserves before it writes, then enqueues what it wrote)."""
        n = len(spans)
        if n == 0:
            return
        with self._cond:
            if self._closed:
                raise QueueClosed("shutting down")
            if not force and self._length + n > self.capacity and self._length > 0:
                self._refusing = True
                raise QueueFull(f"queue full ({self._length}/{self.capacity} spans)")
            self._batches.append(spans)
            self._length += n
            self._cond.notify()

    def get_batch(self, max_spans: int, timeout: float) -> list[Span] | None:
        """Up to about ``max_spans`` spans (whole batches, at least one), waiting up to
        ``timeout`` seconds; ``[]`` on time-out, ``None`` once closed and empty."""
        with self._cond:
            if not self._batches:
                if self._closed:
                    return None
                self._cond.wait(timeout)
                if not self._batches:
                    return None if self._closed else []
            if getattr(self._batches[0], "prepared", False):
                return self._take_prepared(max_spans)
            out: list[Span] = []
            while self._batches and (not out or len(out) + len(self._batches[0]) <= max_spans) \
                    and not getattr(self._batches[0], "prepared", False):
                batch = self._batches.popleft()
                self._length -= len(batch)
                out.extend(batch)
            self._drained()
            return out

    def _drained(self) -> None:
        if self._refusing and self._length <= self.resume_at:
            self._refusing = False

    def _take_prepared(self, max_spans: int) -> list[Span]:
        """Batches a collector worker prepared for the writer (``storage.sqlite.prepared``)
        stay whole: a ``PreparedRun`` whose ``len()`` counts their spans."""
        from spyglass.storage.sqlite.prepared import PreparedRun

        run = PreparedRun()
        while self._batches and getattr(self._batches[0], "prepared", False) \
                and (not run or len(run) + len(self._batches[0]) <= max_spans):
            item = self._batches.popleft()
            self._length -= len(item)
            run.append(item)  # type: ignore[arg-type]
        self._drained()
        return run

    def close(self) -> None:
        """Refuse new batches; the writer drains what is left."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
