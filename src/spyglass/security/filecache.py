"""A credentials file read once and re-read when it changes, so an operator can add or revoke a
user or a token without restarting, and a revoked one stops working within ``check_interval``.

A file that becomes unreadable or malformed keeps the last good contents (logged once per change)
rather than locking everyone out or, worse, letting everyone in.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class ReloadingFile(Generic[T]):
    """``parse(text)`` of ``path``, re-parsed when its mtime, size or inode changes."""

    def __init__(self, path: str, parse: Callable[[str], T], check_interval: float = 1.0) -> None:
        self.path = path
        self._parse = parse
        self._interval = check_interval
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self.generation = 0  # bumped on every successful reload
        self._value = self._load_first()

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load_first(self) -> T:
        """The first read fails loudly: a server must not start with credentials it cannot read."""
        try:
            stamp = self._stat()
            with open(self.path, encoding="utf-8") as f:
                value = self._parse(f.read())
        except OSError as exc:
            raise ValueError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        self._stamp = stamp
        self._checked = time.monotonic()
        return value

    def get(self) -> T:
        """The current contents, re-read first when the file changed (checked at most once per
        ``check_interval``)."""
        now = time.monotonic()
        if now - self._checked < self._interval:
            return self._value
        with self._lock:
            if now - self._checked < self._interval:
                return self._value
            self._checked = now
            try:
                stamp = self._stat()
                if stamp != self._stamp:
                    with open(self.path, encoding="utf-8") as f:
                        self._value = self._parse(f.read())
                    self._stamp = stamp
                    self.generation += 1
                    log.info("reloaded credentials file %s", self.path)
            except (OSError, ValueError) as exc:
                if self._stamp is not None:
                    log.error("credentials file %s: %s; keeping the previous contents", self.path, exc)
                self._stamp = None  # retry the next time, log again only after a good load
        return self._value
