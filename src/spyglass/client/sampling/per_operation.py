"""Per-operation sampling with a guaranteed lower bound (Jaeger's "adaptive" client side).

The sampling server sends a probability per operation plus a lower bound in traces per
second (``operationSampling``). Each operation gets a ``GuaranteedThroughputSampler``: its
probability decides first; when that says no, a rate limiter still lets through up to
``lower_bound`` traces per second, so rarely called endpoints are never invisible. Such
traces are tagged ``sampler.type=lowerbound``, which tells the backend's adaptive sampling
they do not count as probabilistic throughput.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from spyglass.client.constants import (
    DEFAULT_MAX_OPERATIONS,
    SAMPLER_PARAM_TAG_KEY,
    SAMPLER_TYPE_LOWER_BOUND,
    SAMPLER_TYPE_TAG_KEY,
)
from spyglass.client.sampling.base import Sampler, SamplerTags
from spyglass.client.sampling.probabilistic import ProbabilisticSampler
from spyglass.client.sampling.rate_limiting import RateLimiter


class GuaranteedThroughputSampler(Sampler):
    """A probability with a lower bound of ``lower_bound`` traces per second."""

    def __init__(self, lower_bound: float, sampling_rate: float) -> None:
        self.probabilistic = ProbabilisticSampler(sampling_rate)
        self.lower_bound = float(lower_bound)
        self.rate_limiter = RateLimiter(self.lower_bound, max(self.lower_bound, 1.0) if self.lower_bound > 0 else 0.0)
        self.lower_bound_tags: SamplerTags = (
            (SAMPLER_TYPE_TAG_KEY, SAMPLER_TYPE_LOWER_BOUND),
            (SAMPLER_PARAM_TAG_KEY, self.probabilistic.rate),
        )

    def is_sampled(self, trace_id: int, operation: str = "") -> tuple[bool, SamplerTags]:
        sampled, tags = self.probabilistic.is_sampled(trace_id, operation)
        if sampled:
            self.rate_limiter.check_credit(1.0)  # sampled traces count toward the bound too
            return True, tags
        return self.rate_limiter.check_credit(1.0), self.lower_bound_tags

    def update(self, lower_bound: float, sampling_rate: float) -> None:
        if sampling_rate != self.probabilistic.rate:
            self.probabilistic = ProbabilisticSampler(sampling_rate)
            self.lower_bound_tags = (
                (SAMPLER_TYPE_TAG_KEY, SAMPLER_TYPE_LOWER_BOUND),
                (SAMPLER_PARAM_TAG_KEY, self.probabilistic.rate),
            )
        if lower_bound != self.lower_bound:
            self.lower_bound = float(lower_bound)
            self.rate_limiter.update(self.lower_bound, max(self.lower_bound, 1.0) if self.lower_bound > 0 else 0.0)

    def __repr__(self) -> str:
        return f"GuaranteedThroughputSampler(rate={self.probabilistic.rate}, lower_bound={self.lower_bound})"


class PerOperationSampler(Sampler):
    """One ``GuaranteedThroughputSampler`` per operation, created on first use with the
    default probability. Past ``max_operations`` distinct operations, new ones share the
    default probability (no lower bound) so that a service generating unbounded operation
    names (IDs in URLs) cannot grow memory without limit."""

    def __init__(
        self,
        default_sampling_probability: float,
        lower_bound: float = 0.0,
        per_operation: Mapping[str, float] | None = None,
        max_operations: int = DEFAULT_MAX_OPERATIONS,
    ) -> None:
        self.max_operations = max_operations
        self.default_sampler = ProbabilisticSampler(default_sampling_probability)
        self.lower_bound = float(lower_bound)
        self.samplers: dict[str, GuaranteedThroughputSampler] = {}
        self._lock = threading.Lock()
        for operation, rate in (per_operation or {}).items():
            if len(self.samplers) < max_operations:
                self.samplers[operation] = GuaranteedThroughputSampler(self.lower_bound, rate)

    def is_sampled(self, trace_id: int, operation: str = "") -> tuple[bool, SamplerTags]:
        sampler = self.samplers.get(operation)
        if sampler is None:
            with self._lock:
                sampler = self.samplers.get(operation)
                if sampler is None:
                    if len(self.samplers) >= self.max_operations:
                        return self.default_sampler.is_sampled(trace_id, operation)
                    sampler = GuaranteedThroughputSampler(self.lower_bound, self.default_sampler.rate)
                    self.samplers[operation] = sampler
        return sampler.is_sampled(trace_id, operation)

    def update(
        self, default_sampling_probability: float, lower_bound: float, per_operation: Mapping[str, float]
    ) -> None:
        """Apply a new strategy: listed operations get their rate, the others the new default."""
        with self._lock:
            if default_sampling_probability != self.default_sampler.rate:
                self.default_sampler = ProbabilisticSampler(default_sampling_probability)
            self.lower_bound = float(lower_bound)
            for operation, sampler in self.samplers.items():
                sampler.update(self.lower_bound, per_operation.get(operation, self.default_sampler.rate))
            for operation, rate in per_operation.items():
                if operation not in self.samplers and len(self.samplers) < self.max_operations:
                    self.samplers[operation] = GuaranteedThroughputSampler(self.lower_bound, rate)

    def __repr__(self) -> str:
        return (
            f"PerOperationSampler(default={self.default_sampler.rate}, lower_bound={self.lower_bound}, "
            f"operations={len(self.samplers)})"
        )


def operation_rates(strategies: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``perOperationStrategies`` JSON entries as {operation: samplingRate}."""
    rates: dict[str, float] = {}
    for entry in strategies:
        operation = entry.get("operation")
        prob = entry.get("probabilisticSampling") or {}
        if not isinstance(operation, str) or not isinstance(prob, Mapping):
            raise ValueError(f"invalid perOperationStrategies entry: {entry!r}")
        rates[operation] = float(prob.get("samplingRate", 0.0))
    return rates
