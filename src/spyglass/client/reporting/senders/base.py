"""The sender interface: delivers model spans over one transport.

``send`` gets every span the reporter drained in one cycle and may split them into as
many packets or requests as the transport needs. It returns how many spans it had to give
up on without an error (a span too large for any UDP packet) and raises for a failed
delivery; the reporter counts both. Senders are used from one thread at a time.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from spyglass.model import Span


class SenderError(Exception):
    """A delivery failed (connection refused, HTTP error status, ...)."""


class Sender(abc.ABC):
    @abc.abstractmethod
    def send(self, spans: Sequence[Span]) -> int:
        """Deliver ``spans``; returns the number skipped as undeliverable."""

    def flush(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def after_fork(self) -> None:
        """Called in a forked child: drop sockets shared with the parent."""
