"""Serves adaptive probabilities as strategies (Jaeger's adaptive provider):

``{strategyType: PROBABILISTIC, operationSampling: {defaultSamplingProbability =
initial_sampling_probability, defaultLowerBoundTracesPerSecond = min_samples_per_second,
perOperationStrategies = the computed ones}}``; an unknown service gets the same with no
per-operation entries. Services listed in ``service_strategies`` of a strategies file
(``--sampling.strategies-file``) are pinned: they get the file's strategy instead.
"""

from __future__ import annotations

import threading

from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.collector.sampling.adaptive.options import AdaptiveOptions
from spyglass.collector.sampling.adaptive.processor import AdaptiveProcessor
from spyglass.collector.sampling.provider import StrategyProvider
from spyglass.tenancy.sampling import qualify, unqualify

_MAX_CACHED = 10_000


class AdaptiveStrategyProvider(StrategyProvider):
    def __init__(self, processor: AdaptiveProcessor, pinned: StrategyProvider | None = None) -> None:
        self.processor = processor
        self.options: AdaptiveOptions = processor.options
        self.pinned = pinned
        self._lock = threading.Lock()
        self._cache: dict[str, pb.SamplingStrategyResponse] = {}
        self._cache_key = (-1, -1)

    @property  # type: ignore[override]
    def generation(self) -> int:
        return self.processor.generation * 1_000_003 + (self.pinned.generation if self.pinned else 0)

    def _pinned(self, service: str) -> pb.SamplingStrategyResponse | None:
        strategies = getattr(self.pinned, "strategies", None)
        if strategies is None:
            return None
        return strategies.services.get(unqualify(service)[1])  # a file pins a service for every tenant

    def get_tenant_strategy(self, tenant: str, service: str) -> pb.SamplingStrategyResponse:
        """From ``tenant``'s own probabilities (``spyglass.tenancy.sampling``)."""
        return self.get_strategy(qualify(tenant, service))

    def get_strategy(self, service: str) -> pb.SamplingStrategyResponse:
        pinned = self._pinned(service)
        if pinned is not None:
            return pinned
        key = (self.processor.generation, 0)
        with self._lock:
            if key != self._cache_key:
                self._cache = {}
                self._cache_key = key
            resp = self._cache.get(service)
            if resp is None:
                resp = self._build(service)
                if len(self._cache) >= _MAX_CACHED:
                    self._cache = {}
                self._cache[service] = resp
        return resp

    def _build(self, service: str) -> pb.SamplingStrategyResponse:
        o = self.options
        resp = pb.SamplingStrategyResponse()
        resp.strategyType = pb.PROBABILISTIC
        per_op = resp.operationSampling
        per_op.defaultSamplingProbability = o.initial_sampling_probability
        per_op.defaultLowerBoundTracesPerSecond = o.min_samples_per_second
        for operation, probability in sorted(self.processor.probabilities.get(service, {}).items()):
            entry = per_op.perOperationStrategies.add()
            entry.operation = operation
            entry.probabilisticSampling.samplingRate = probability
        return resp

    def describe(self, service: str) -> dict[str, object]:
        """For the UI: how ``service`` is sampled now."""
        if self._pinned(service) is not None:
            return {"type": "file", "service": service}
        return {
            "type": "adaptive",
            "service": service,
            "leader": self.processor.is_leader,
            "targetSamplesPerSecond": self.options.target_samples_per_second,
            "operations": dict(sorted(self.processor.probabilities.get(service, {}).items())),
        }

    def start(self) -> None:
        """Take part in the election and start calculating (the collector calls this once
        its storage is open)."""
        self.processor.start()

    def close(self) -> None:
        self.processor.close()
        self.processor.store.close()
        if self.pinned is not None:
            self.pinned.close()
