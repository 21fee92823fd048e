"""The background reporter: a bounded queue drained by one thread into a sender.

The application thread only appends to a ``deque`` (atomic under the GIL, no lock); when
the queue is full the span is dropped and counted, so a slow or dead backend can never
block or grow the application. The thread wakes every ``flush_interval`` seconds, or as
soon as ``batch_size`` spans are waiting, converts the spans to the model and gives them
all to the sender, which packs them into as few packets or requests as it can.

``flush`` drains on the caller's thread under the same lock as the background thread, so
when it returns every span reported before the call has been handed to the sender.
``close`` flushes and then closes the sender. After ``os.fork`` the child starts with an
empty queue and its own thread (threads do not survive a fork).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
import weakref

from spyglass.client.constants import DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_QUEUE_SIZE
from spyglass.client.reporting.base import Reporter
from spyglass.client.reporting.convert import to_model
from spyglass.client.reporting.senders.base import Sender
from spyglass.client.span import Span
from spyglass.model import Resource

log = logging.getLogger(__name__)

# Spans converted and handed to the sender in one go. Small chunks let the conversion's
# temporary objects die young, before the garbage collector promotes them and scans them
# again: measured here, 64 costs about half the background CPU per span of 10,000.
_SEND_CHUNK = 64
_ERROR_LOG_INTERVAL = 60.0


class RemoteReporter(Reporter):
    """Counters: ``reported`` (spans the sender accepted), ``dropped`` (queue full or
    closed), ``failed`` (sender errors, including spans too large for any packet)."""

    def __init__(
        self,
        sender: Sender,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
    ) -> None:
        if queue_size < 1 or batch_size < 1 or not flush_interval > 0:
            raise ValueError("queue_size and batch_size must be >= 1 and flush_interval > 0")
        self.sender = sender
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.reported = 0
        self.dropped = 0
        self.failed = 0
        self._last_error_log = 0.0
        self._init_runtime()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _restart_after_fork(ref))

    def _init_runtime(self) -> None:
        self._queue: collections.deque[Span] = collections.deque()
        self._wakeup = threading.Event()
        self._send_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="spyglass-reporter", daemon=True)
        self._thread.start()

    # -- application thread ---------------------------------------------------------------
    def report_span(self, span: Span) -> None:
        queue = self._queue
        n = len(queue)
        if n >= self.queue_size or self._closed:
            with self._count_lock:
                self.dropped += 1
            return
        queue.append(span)
        if n + 1 >= self.batch_size and not self._wakeup.is_set():
            self._wakeup.set()

    @property
    def queue_length(self) -> int:
        return len(self._queue)

    # -- background thread ---------------------------------------------------------------
    def _run(self) -> None:
        wakeup = self._wakeup
        while not self._closed:
            wakeup.wait(self.flush_interval)
            wakeup.clear()
            if self._closed:
                break
            self._drain()

    def _drain(self) -> bool:
        ok = True
        with self._send_lock:
            queue = self._queue
            while queue:
                n = min(len(queue), _SEND_CHUNK)
                chunk = [queue.popleft() for _ in range(n)]
                ok = self._send(chunk) and ok
        return ok

    def _send(self, spans: list[Span]) -> bool:
        process = self.process
        if process is None:  # a reporter used without a tracer; nothing to attribute spans to
            process = Resource("unknown_service")
        try:
            model = [to_model(s, process, self.max_tag_value_length, self.max_traceback_length) for s in spans]
            failed = self.sender.send(model)
        except Exception as exc:  # a sender must not kill the thread; count and go on
            self._count_failure(len(spans), exc)
            return False
        self.reported += len(spans) - failed
        if failed:
            self._count_failure(failed, None)
        return not failed

    def _count_failure(self, n: int, exc: Exception | None) -> None:
        self.failed += n
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_INTERVAL:
            self._last_error_log = now
            what = f"{type(exc).__name__}: {exc}" if exc else "spans too large for one packet"
            log.warning("spyglass reporter could not send %d span(s) with %r: %s", n, self.sender, what)

    # -- lifecycle -------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        return self._drain() and self.sender.flush()

    def close(self, timeout: float | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        self._wakeup.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout if timeout is not None else 10.0)
        try:
            self._drain()
        finally:
            self.sender.close()

    def __repr__(self) -> str:
        return (
            f"RemoteReporter({self.sender!r}, queue={len(self._queue)}/{self.queue_size}, "
            f"reported={self.reported}, dropped={self.dropped}, failed={self.failed})"
        )


def _restart_after_fork(ref: weakref.ref[RemoteReporter]) -> None:
    reporter = ref()
    if reporter is not None and not reporter._closed:
        reporter._init_runtime()
        reporter.sender.after_fork()
