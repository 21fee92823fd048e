"""The contract of anything that listens on a port."""

from __future__ import annotations

import abc


class Listener(abc.ABC):
    """A server on one port. Port 0 asks the OS for a free one; after ``start`` the bound
    port is in ``port`` (tests rely on this to run many servers side by side)."""

    name: str
    host: str
    port: int

    @abc.abstractmethod
    async def start(self) -> None:
        """Bind and start serving; raises OSError when the port cannot be bound."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop accepting new work and let in-flight requests finish."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.host}:{self.port}>"
