"""Sample every trace or none (``sampler.type=const``; ``param`` 1/0)."""

from __future__ import annotations

from spyglass.client.constants import SAMPLER_PARAM_TAG_KEY, SAMPLER_TYPE_CONST, SAMPLER_TYPE_TAG_KEY
from spyglass.client.sampling.base import Sampler, SamplerTags


class ConstSampler(Sampler):
    def __init__(self, decision: bool) -> None:
        self.decision = bool(decision)
        self.tags: SamplerTags = ((SAMPLER_TYPE_TAG_KEY, SAMPLER_TYPE_CONST), (SAMPLER_PARAM_TAG_KEY, self.decision))

    def is_sampled(self, trace_id: int, operation: str = "") -> tuple[bool, SamplerTags]:
        return self.decision, self.tags

    def __repr__(self) -> str:
        return f"ConstSampler(decision={self.decision})"
