"""Samplers: decide at a trace's root whether it is recorded (see ``base.Sampler``)."""

from spyglass.client.sampling.base import Sampler, SamplerTags
from spyglass.client.sampling.const import ConstSampler
from spyglass.client.sampling.per_operation import GuaranteedThroughputSampler, PerOperationSampler
from spyglass.client.sampling.probabilistic import ProbabilisticSampler
from spyglass.client.sampling.rate_limiting import RateLimiter, RateLimitingSampler
from spyglass.client.sampling.remote import RemoteControlledSampler
from spyglass.client.sampling.strategy import apply_strategy

__all__ = [
    "ConstSampler",
    "GuaranteedThroughputSampler",
    "PerOperationSampler",
    "ProbabilisticSampler",
    "RateLimiter",
    "RateLimitingSampler",
    "RemoteControlledSampler",
    "Sampler",
    "SamplerTags",
    "apply_strategy",
]
