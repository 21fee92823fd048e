"""A sampling server's answer (``SamplingStrategyResponse`` JSON) as a sampler.

Both JSON forms are read: proto-JSON (``"strategyType":"RATE_LIMITING"``, served on
``/sampling`` and ``/api/sampling``) and the legacy Thrift JSON with integer enums
(``/`` on the agent). As Jaeger's SDKs do, the strategy is chosen by which sub-object is
present (per-operation first), and ``strategyType`` only breaks ties for answers that
carry neither sub-object in full.

``apply_strategy`` updates the current sampler in place when the kind is unchanged, so
per-operation rate limiters keep their balance across polls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spyglass.client.constants import DEFAULT_MAX_OPERATIONS
from spyglass.client.sampling.base import Sampler
from spyglass.client.sampling.per_operation import PerOperationSampler, operation_rates
from spyglass.client.sampling.probabilistic import ProbabilisticSampler, check_rate
from spyglass.client.sampling.rate_limiting import RateLimitingSampler


def _sub(response: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = response.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be an object, got {type(value).__name__}")
    return value


def apply_strategy(
    response: Mapping[str, Any], current: Sampler | None, max_operations: int = DEFAULT_MAX_OPERATIONS
) -> Sampler:
    """The sampler for ``response``: ``current`` updated when it is of the right kind, else
    a new one. Raises ValueError for an answer that names no usable strategy."""
    if not isinstance(response, Mapping):
        raise ValueError(f"sampling strategy must be a JSON object, got {type(response).__name__}")
    per_op = _sub(response, "operationSampling")
    if per_op is not None:
        default = check_rate(per_op.get("defaultSamplingProbability", 0.0))
        lower = float(per_op.get("defaultLowerBoundTracesPerSecond", 0.0))
        rates = {op: check_rate(r) for op, r in operation_rates(per_op.get("perOperationStrategies") or []).items()}
        if isinstance(current, PerOperationSampler):
            current.update(default, lower, rates)
            return current
        return PerOperationSampler(default, lower, rates, max_operations)
    prob = _sub(response, "probabilisticSampling")
    rl = _sub(response, "rateLimitingSampling")
    kind = response.get("strategyType")
    if rl is not None and (prob is None or kind in ("RATE_LIMITING", 1)):
        rate = float(rl.get("maxTracesPerSecond", 0))
        if isinstance(current, RateLimitingSampler):
            if current.max_traces_per_second != rate:
                current.update(rate)
            return current
        return RateLimitingSampler(rate)
    if prob is not None:
        rate = check_rate(prob.get("samplingRate", 0.0))
        if isinstance(current, ProbabilisticSampler) and current.rate == rate:
            return current
        return ProbabilisticSampler(rate)
    raise ValueError(f"sampling strategy has no probabilistic, rate limiting or per-operation part: {dict(response)!r}")
