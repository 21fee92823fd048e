"""The dependency reader contract."""

from __future__ import annotations

import abc

from spyglass.model import DependencyLink


class DependencyReader(abc.ABC):
    """Service call graph, computed by the backend from the spans it stores."""

    @abc.abstractmethod
    def get_dependencies(self, end_time_ns: int, lookback_ns: int) -> list[DependencyLink]:
        """Links parent service -> child service with call counts, for spans that started in
        ``[end - lookback, end]``; one entry per (parent, child), sorted by parent then child."""
