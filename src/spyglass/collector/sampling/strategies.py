"""A Jaeger strategies file as per-service ``SamplingStrategyResponse`` messages.

The file format and the resolution rules are Jaeger's file provider's
(``jaeger-reference.md`` D.1), so an existing ``--sampling.strategies-file`` works as is:

* ``type`` is ``probabilistic`` (``param`` = probability) or ``ratelimiting`` (``param`` =
  traces per second, truncated to an int32); any other type falls back to probabilistic
  with the default probability.
* ``operation_strategies`` are probabilistic only; a rate-limiting entry is dropped. They
  produce ``operationSampling`` whose ``defaultSamplingProbability`` is the service's
  probability (or the default probability for a rate-limiting service) and whose lower
  bound is 0.
* A service without its own operation strategies gets a copy of the default strategy's
  ``operationSampling``, with the service's probability as ``defaultSamplingProbability``
  when the service is probabilistic.
* A service with its own list is merged with the default's: its entries win for the same
  operation, default-only operations are appended.
* Unknown services get the default strategy; without ``default_strategy``, that is
  probabilistic with ``default_sampling_probability``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb

log = logging.getLogger(__name__)

DEFAULT_SAMPLING_PROBABILITY = 0.001
PROBABILISTIC = "probabilistic"
RATE_LIMITING = "ratelimiting"
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


class StrategiesError(ValueError):
    """The strategies document is not valid JSON or not the expected shape."""


def probabilistic_response(rate: float) -> pb.SamplingStrategyResponse:
    resp = pb.SamplingStrategyResponse()
    resp.strategyType = pb.PROBABILISTIC
    resp.probabilisticSampling.samplingRate = rate
    return resp


@dataclass
class Strategies:
    """The parsed file: a response per known service, and one for everyone else."""

    default: pb.SamplingStrategyResponse
    services: dict[str, pb.SamplingStrategyResponse] = field(default_factory=dict)

    def for_service(self, service: str) -> pb.SamplingStrategyResponse:
        return self.services.get(service, self.default)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StrategiesError(f"{what}: 'param' must be a number, got {value!r}")
    return float(value)


def _strategy(obj: Mapping[str, Any], default_probability: float, what: str) -> pb.SamplingStrategyResponse:
    kind = obj.get("type")
    param = obj.get("param", 0)
    if kind == PROBABILISTIC:
        return probabilistic_response(_number(param, what))
    if kind == RATE_LIMITING:
        rate = _number(param, what)
        resp = pb.SamplingStrategyResponse()
        resp.strategyType = pb.RATE_LIMITING
        resp.rateLimitingSampling.maxTracesPerSecond = 0 if math.isnan(rate) else int(max(_I32_MIN, min(_I32_MAX, rate)))
        return resp
    log.warning("%s: unknown sampling strategy type %r; using probabilistic %s", what, kind, default_probability)
    return probabilistic_response(default_probability)


def _service_strategy(obj: Mapping[str, Any], default_probability: float, what: str) -> pb.SamplingStrategyResponse:
    if not isinstance(obj, Mapping):
        raise StrategiesError(f"{what} must be an object")
    resp = _strategy(obj, default_probability, what)
    ops = obj.get("operation_strategies")
    if ops is None:
        ops = []
    if not isinstance(ops, list):
        raise StrategiesError(f"{what}: 'operation_strategies' must be a list")
    if not ops:
        return resp
    per_op = resp.operationSampling
    per_op.defaultSamplingProbability = (
        resp.probabilisticSampling.samplingRate if resp.strategyType == pb.PROBABILISTIC else default_probability
    )
    per_op.defaultLowerBoundTracesPerSecond = 0.0
    for op in ops:
        if not isinstance(op, Mapping) or not isinstance(op.get("operation"), str):
            raise StrategiesError(f"{what}: each operation strategy needs an 'operation' string")
        s = _strategy(op, per_op.defaultSamplingProbability, f"{what} operation {op['operation']!r}")
        if s.strategyType == pb.RATE_LIMITING:
            log.warning("%s: operation %r: operation strategies support only probabilistic sampling; dropped",
                        what, op["operation"])
            continue
        entry = per_op.perOperationStrategies.add()
        entry.operation = op["operation"]
        entry.probabilisticSampling.samplingRate = s.probabilisticSampling.samplingRate
    return resp


def _merge(service: pb.PerOperationSamplingStrategies, default: pb.PerOperationSamplingStrategies) -> None:
    """Append the default's operations the service does not list itself."""
    own = {s.operation for s in service.perOperationStrategies}
    for entry in default.perOperationStrategies:
        if entry.operation not in own:
            service.perOperationStrategies.add().CopyFrom(entry)


def parse_strategies(doc: Any, default_probability: float = DEFAULT_SAMPLING_PROBABILITY) -> Strategies:
    """Strategies from the decoded JSON document (see the module docstring)."""
    try:
        return _parse_strategies(doc, default_probability)
    except UnicodeEncodeError as exc:  # protobuf strings must be UTF-8: a "\\ud800" escape is not
        raise StrategiesError(f"strategies file has a string that is not valid Unicode: {exc.reason}") from None


def _parse_strategies(doc: Any, default_probability: float) -> Strategies:
    if not isinstance(doc, Mapping):
        raise StrategiesError("the strategies document must be a JSON object")
    default = probabilistic_response(default_probability)
    if doc.get("default_strategy") is not None:
        default = _service_strategy(doc["default_strategy"], default_probability, "default_strategy")
    out = Strategies(default)
    services = doc.get("service_strategies")
    if services is None:
        services = []
    if not isinstance(services, list):
        raise StrategiesError("'service_strategies' must be a list")
    default_has_ops = default.HasField("operationSampling")
    for i, entry in enumerate(services):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("service"), str):
            raise StrategiesError(f"service_strategies[{i}] needs a 'service' string")
        name = entry["service"]
        name.encode("utf-8")  # a lone surrogate ("\\ud800") is no service name: UnicodeEncodeError
        resp = _service_strategy(entry, default_probability, f"service {name!r}")
        out.services[name] = resp
        if not default_has_ops:
            continue
        if not resp.HasField("operationSampling"):
            resp.operationSampling.CopyFrom(default.operationSampling)
            if resp.HasField("probabilisticSampling"):
                resp.operationSampling.defaultSamplingProbability = resp.probabilisticSampling.samplingRate
            continue
        _merge(resp.operationSampling, default.operationSampling)
    return out


def load_strategies(text: str | bytes, default_probability: float = DEFAULT_SAMPLING_PROBABILITY) -> Strategies:
    """Strategies from the file's text; StrategiesError when it is not valid."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StrategiesError(f"strategies file is not valid JSON: {exc}") from None
    return parse_strategies(doc, default_probability)


def copy_response(resp: pb.SamplingStrategyResponse) -> pb.SamplingStrategyResponse:
    """A copy callers may change (responses held by a provider are shared)."""
    return copy.deepcopy(resp)
