"""``SamplingStore``: what adaptive sampling keeps in the storage backend (Jaeger's
``samplingstore.Store``): per-interval root-span throughput from every collector, the
probabilities the leader computed, and the leader's lease.

Every collector writes throughput; only the lease holder computes and writes
probabilities; followers read the latest probabilities. The store is shared by every
collector on one backend (sqlite: ``<data-dir>/sampling.db``), which is what lets several
collectors cooperate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# service -> operation -> value
ServiceOperationProbabilities = dict[str, dict[str, float]]
ServiceOperationQPS = dict[str, dict[str, float]]


@dataclass(slots=True)
class Throughput:
    """Root spans of one operation seen by one collector in one interval: ``count`` the
    probabilistically sampled ones, ``probabilities`` the ``sampler.param`` values seen
    (as text, at most 10), so the leader can tell whether a service follows adaptive sampling."""

    service: str
    operation: str
    count: int = 0
    probabilities: set[str] = field(default_factory=set)


@runtime_checkable
class SamplingStore(Protocol):
    def insert_throughput(self, throughput: list[Throughput], at_s: float) -> None:
        """Record one collector's throughput for the interval that ended at ``at_s`` (epoch s)."""
        ...

    def get_throughput(self, start_s: float, end_s: float) -> list[Throughput]:
        """Every throughput row recorded in ``[start_s, end_s)``."""
        ...

    def insert_probabilities_and_qps(
        self, hostname: str, probabilities: ServiceOperationProbabilities, qps: ServiceOperationQPS, at_s: float
    ) -> None:
        """Store the leader's latest calculation."""
        ...

    def get_latest_probabilities(self) -> ServiceOperationProbabilities:
        """The most recent calculation's probabilities (empty when none yet)."""
        ...

    def acquire_lease(self, name: str, owner: str, ttl_s: float, now_s: float) -> bool:
        """Take or renew the lease ``name`` for ``owner`` until ``now_s + ttl_s``; True when
        ``owner`` holds it afterwards (free, expired or already its own)."""
        ...

    def forfeit_lease(self, name: str, owner: str) -> None:
        """Give the lease up at once when ``owner`` holds it (clean shutdown)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class SamplingCapable(Protocol):
    """A storage factory that offers a ``SamplingStore``."""

    def sampling_store(self) -> SamplingStore: ...
