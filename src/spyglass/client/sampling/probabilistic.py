"""Sample a fixed fraction of traces, decided on the trace ID (``sampler.type=probabilistic``).

Deciding on the ID rather than a fresh random draw means every service that sees the
trace, with the same rate, makes the same decision: sampled when the low 64 bits are below
``rate * 2**64`` (jaeger-client-python's rule, also OpenTelemetry's ``TraceIdRatioBased``).
"""

from __future__ import annotations

from spyglass.client.constants import SAMPLER_PARAM_TAG_KEY, SAMPLER_TYPE_PROBABILISTIC, SAMPLER_TYPE_TAG_KEY
from spyglass.client.sampling.base import LOW_64, Sampler, SamplerTags


def check_rate(rate: float) -> float:
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:  # also rejects NaN
        raise ValueError(f"sampling rate must be in [0, 1], got {rate}")
    return rate


class ProbabilisticSampler(Sampler):
    def __init__(self, rate: float) -> None:
        self.rate = check_rate(rate)
        # A float, compared exactly with the int ID: rate 0 samples nothing, rate 1 all.
        self.boundary = self.rate * (LOW_64 + 1)
        self.tags: SamplerTags = ((SAMPLER_TYPE_TAG_KEY, SAMPLER_TYPE_PROBABILISTIC), (SAMPLER_PARAM_TAG_KEY, self.rate))

    def is_sampled(self, trace_id: int, operation: str = "") -> tuple[bool, SamplerTags]:
        return (trace_id & LOW_64) < self.boundary, self.tags

    def __repr__(self) -> str:
        return f"ProbabilisticSampler(rate={self.rate})"
