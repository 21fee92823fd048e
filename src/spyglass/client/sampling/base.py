"""The sampler interface: decide once per trace, at its root span.

``is_sampled`` returns the decision and the tags that record it on the root span
(``sampler.type`` / ``sampler.param``). The tags are built once per sampler, not per call,
and the backend's adaptive sampling reads them to learn each service's throughput.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

SamplerTags = Sequence[tuple[str, Any]]

# Probabilistic samplers decide on the low 64 bits of the trace ID, as jaeger-client-python
# and OpenTelemetry's TraceIdRatioBased sampler do, so a trace gets the same decision in
# every Python service whichever of the three libraries it uses.
LOW_64 = (1 << 64) - 1


class Sampler(abc.ABC):
    @abc.abstractmethod
    def is_sampled(self, trace_id: int, operation: str = "") -> tuple[bool, SamplerTags]:
        """Whether a new trace with this ID, starting at ``operation``, is recorded."""

    def close(self) -> None:
        """Stop background work (polling); the sampler keeps answering with its last state."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
