"""The leader's calculation (Jaeger's post-aggregator and
``PercentageIncreaseCappedCalculator``), with no I/O so it can be tested on its own.

Each interval a bucket of QPS per operation is added (newest first, at most
``aggregation_buckets``). Per operation, ``weightedQPS = sum(qps_i * w_i)`` with
``w_i`` proportional to ``(n - i)^4`` (the newest bucket weighs most), normalised. Then:

* within tolerance (``|qps - target| / target < delta_tolerance``), or the service does
  not follow adaptive sampling (it reported no ``sampler.param`` equal to the last
  computed probability, unless that is still the initial one): keep the old probability;
* ``qps == 0``: double it;
* else ``old * target / qps``, an increase capped at +50% per step, a decrease in full;
* clamped to ``[min_sampling_probability, 1]``.
"""

from __future__ import annotations

import math
from collections import deque

from spyglass.collector.sampling.adaptive.aggregator import truncate_float
from spyglass.collector.sampling.adaptive.options import AdaptiveOptions
from spyglass.storage.api.sampling import ServiceOperationProbabilities, ServiceOperationQPS, Throughput

INCREASE_CAP = 0.5


def weights(n: int) -> list[float]:
    """Jaeger's ``GetWeights``: ``n^4, (n-1)^4, ... 1^4`` normalised; index 0 is the newest."""
    raw = [float(i) ** 4 for i in range(n, 0, -1)]
    total = sum(raw)
    return [w / total for w in raw]


def capped_increase(target_qps: float, cur_qps: float, prev_probability: float, cap: float = INCREASE_CAP) -> float:
    factor = target_qps / cur_qps
    new = prev_probability * factor
    if factor > 1.0 and prev_probability > 0:
        if (new - prev_probability) / prev_probability > cap:
            new = prev_probability + prev_probability * cap
    return new


def _float_equals(a: float, b: float) -> bool:
    return math.fabs(a - b) < 1e-10


class Calculator:
    def __init__(self, options: AdaptiveOptions) -> None:
        self.options = options
        # newest first: (qps per (service, operation), throughput rows of that interval)
        self.buckets: deque[tuple[dict[tuple[str, str], float], dict[tuple[str, str], Throughput]]] = deque(
            maxlen=options.aggregation_buckets
        )
        self.probabilities: ServiceOperationProbabilities = {}

    def add_bucket(self, rows: list[Throughput], interval_s: float) -> None:
        """The throughput of every collector for one interval, merged per operation."""
        merged: dict[tuple[str, str], Throughput] = {}
        for t in rows:
            key = (t.service, t.operation)
            m = merged.get(key)
            if m is None:
                m = merged[key] = Throughput(t.service, t.operation, 0, set())
            m.count += t.count
            m.probabilities |= t.probabilities
        qps = {k: t.count / interval_s for k, t in merged.items()}
        self.buckets.appendleft((qps, merged))

    def weighted_qps(self, key: tuple[str, str]) -> float:
        series = [b[0].get(key, 0.0) for b in self.buckets]
        return sum(q * w for q, w in zip(series, weights(len(series))))

    def _using_adaptive(self, probability: float, key: tuple[str, str]) -> bool:
        if _float_equals(probability, self.options.initial_sampling_probability):
            return True  # a service seen for the first time is assumed to follow
        latest = self.buckets[0][1] if self.buckets else {}
        t = latest.get(key)
        return t is not None and truncate_float(probability) in t.probabilities

    def probability(self, key: tuple[str, str], qps: float) -> float:
        o = self.options
        old = self.probabilities.get(key[0], {}).get(key[1], o.initial_sampling_probability)
        within = math.fabs(qps - o.target_samples_per_second) / o.target_samples_per_second < o.delta_tolerance
        if within or not self._using_adaptive(old, key):
            return old
        if _float_equals(qps, 0.0):
            new = old * 2.0
        else:
            new = capped_increase(o.target_samples_per_second, qps, old)
        return min(1.0, max(o.min_sampling_probability, new))

    def calculate(self) -> tuple[ServiceOperationProbabilities, ServiceOperationQPS]:
        """New probabilities (kept as the old ones of the next step) and the weighted QPS."""
        keys: set[tuple[str, str]] = set()
        for qps, _ in self.buckets:
            keys.update(qps)
        probabilities: ServiceOperationProbabilities = {}
        all_qps: ServiceOperationQPS = {}
        for key in sorted(keys):
            q = self.weighted_qps(key)
            all_qps.setdefault(key[0], {})[key[1]] = q
            probabilities.setdefault(key[0], {})[key[1]] = self.probability(key, q)
        self.probabilities = probabilities
        return probabilities, all_qps
