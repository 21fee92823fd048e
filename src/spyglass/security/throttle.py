"""Failed password checks slowed down per client address.

bcrypt makes each guess cost tens of milliseconds of the server's CPU; without a limit a client
could keep both cores busy guessing. After ``max_failures`` wrong passwords from one address within
``window_s``, further password attempts from it are answered 429 (with ``Retry-After``) without
being checked, until the window has passed. A right password does not reset the count, so a
guesser cannot interleave its own account. The table is bounded (the oldest addresses go first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_FAILURES = 10
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000


class FailureThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(address, ()) if now - t < self.window_s]
        if times:
            self._failures[address] = times
        else:
            self._failures.pop(address, None)
        return times

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try a password again; 0 when it may now."""
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            if len(times) < self.max_failures:
                return 0
            return max(1, int(times[-self.max_failures] + self.window_s - now + 0.999))

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times[-self.max_failures:]
            self._failures.move_to_end(address)
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)
