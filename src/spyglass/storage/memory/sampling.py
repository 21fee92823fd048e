"""The memory backend's ``SamplingStore``: one process, so a lease is always won by the
only collector; still useful for all-in-one with adaptive sampling."""

from __future__ import annotations

import threading

from spyglass.storage.api.sampling import ServiceOperationProbabilities, ServiceOperationQPS, Throughput

_MAX_ROWS = 200_000  # throughput rows kept; the oldest go first


class MemorySamplingStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._throughput: list[tuple[float, Throughput]] = []
        self._probabilities: ServiceOperationProbabilities = {}
        self._qps: ServiceOperationQPS = {}
        self._leases: dict[str, tuple[str, float]] = {}

    def insert_throughput(self, throughput: list[Throughput], at_s: float) -> None:
        with self._lock:
            self._throughput.extend((at_s, t) for t in throughput)
            if len(self._throughput) > _MAX_ROWS:
                del self._throughput[: len(self._throughput) - _MAX_ROWS]

    def get_throughput(self, start_s: float, end_s: float) -> list[Throughput]:
        with self._lock:
            return [t for at, t in self._throughput if start_s <= at < end_s]

    def insert_probabilities_and_qps(
        self, hostname: str, probabilities: ServiceOperationProbabilities, qps: ServiceOperationQPS, at_s: float
    ) -> None:
        with self._lock:
            self._probabilities = {s: dict(ops) for s, ops in probabilities.items()}
            self._qps = {s: dict(ops) for s, ops in qps.items()}

    def get_latest_probabilities(self) -> ServiceOperationProbabilities:
        with self._lock:
            return {s: dict(ops) for s, ops in self._probabilities.items()}

    def acquire_lease(self, name: str, owner: str, ttl_s: float, now_s: float) -> bool:
        with self._lock:
            holder = self._leases.get(name)
            if holder is None or holder[0] == owner or holder[1] <= now_s:
                self._leases[name] = (owner, now_s + ttl_s)
                return True
            return False

    def forfeit_lease(self, name: str, owner: str) -> None:
        with self._lock:
            if self._leases.get(name, ("", 0))[0] == owner:
                del self._leases[name]

    def close(self) -> None:
        pass
