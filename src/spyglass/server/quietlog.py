"""Logging that a hostile client cannot turn into a flood.

Anything logged per request or per connection on behalf of a client (a malformed request
line, a decoder that gave up, a client that hung up) goes through ``Throttle``: one line
per key per interval, the next one saying how many were held back. The events are still
counted in full by the metrics next to each call; the log only has to tell an operator
that it is happening.
"""

from __future__ import annotations

import logging
import time

DEFAULT_INTERVAL = 10.0


class Throttle:
    """At most one line per ``key`` every ``interval`` seconds."""

    def __init__(self, logger: logging.Logger, interval: float = DEFAULT_INTERVAL) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` unless ``key`` was logged less than ``interval`` ago; True if
        the line was written."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._last) > 1024:  # keys are few (listener x reason); never grow unbounded
            self._last.clear()
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            msg += " (%d more like this in the last %.0fs)"
            args = (*args, held, now - last if last is not None else 0.0)
        self.logger.log(level, msg, *args)
        return True

    def warning(self, key: str, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)
