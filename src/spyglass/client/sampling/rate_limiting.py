"""Sample at most N traces per second (``sampler.type=ratelimiting``), with a token bucket."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from spyglass.client.constants import SAMPLER_PARAM_TAG_KEY, SAMPLER_TYPE_RATE_LIMITING, SAMPLER_TYPE_TAG_KEY
from spyglass.client.sampling.base import Sampler, SamplerTags


class RateLimiter:
    """A token bucket: ``credits_per_second`` refill, at most ``max_balance`` saved up.

    It starts full, so a service that just started can sample its first requests. The lock
    keeps concurrent threads from spending the same credit twice.
    """

    def __init__(self, credits_per_second: float, max_balance: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.credits_per_second = float(credits_per_second)
        self.max_balance = float(max_balance)
        self.balance = self.max_balance
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def check_credit(self, cost: float = 1.0) -> bool:
        with self._lock:
            now = self._clock()
            elapsed = now - self._last
            self._last = now
            if elapsed > 0:
                self.balance = min(self.max_balance, self.balance + elapsed * self.credits_per_second)
            if self.balance >= cost:
                self.balance -= cost
                return True
            return False

    def update(self, credits_per_second: float, max_balance: float) -> None:
        """New limits; the saved balance keeps its fraction of the bucket."""
        with self._lock:
            if self.max_balance > 0:
                self.balance = max_balance * self.balance / self.max_balance
            else:
                self.balance = max_balance
            self.credits_per_second = float(credits_per_second)
            self.max_balance = float(max_balance)


class RateLimitingSampler(Sampler):
    def __init__(self, max_traces_per_second: float) -> None:
        self.max_traces_per_second = 0.0
        self.rate_limiter: RateLimiter | None = None
        self.tags: SamplerTags = ()
        self.update(max_traces_per_second)

    def update(self, max_traces_per_second: float) -> None:
        rate = float(max_traces_per_second)
        if not rate >= 0:
            raise ValueError(f"max_traces_per_second must be >= 0, got {rate}")
        self.max_traces_per_second = rate
        balance = max(rate, 1.0) if rate > 0 else 0.0  # 0/s means none, not one
        if self.rate_limiter is None:
            self.rate_limiter = RateLimiter(rate, balance)
        else:
            self.rate_limiter.update(rate, balance)
        self.tags = ((SAMPLER_TYPE_TAG_KEY, SAMPLER_TYPE_RATE_LIMITING), (SAMPLER_PARAM_TAG_KEY, rate))

    def is_sampled(self, trace_id: int, operation: str = "") -> tuple[bool, SamplerTags]:
        return self.rate_limiter.check_credit(1.0), self.tags  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"RateLimitingSampler(max_traces_per_second={self.max_traces_per_second})"
