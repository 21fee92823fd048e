"""The two JSON forms of a ``SamplingStrategyResponse`` served over HTTP (D.3).

* ``proto_json``: what Jaeger's ``/sampling`` and ``/api/sampling`` return, gogo jsonpb
  with ``EmitDefaults`` and the null sub-objects removed: ``strategyType`` always present
  as an enum name, zero numbers and empty lists written out, sub-objects only when set.
  Fields come in proto field order and floats in Go's form (``1``, ``0.001``, ``1e-7``).
* ``legacy_json``: the agent's ``GET /?service=``, the Thrift struct marshalled by Go's
  ``encoding/json``: the enum as an integer, optional structs omitted when unset,
  ``maxTracesPerSecond`` as Thrift's i16, and ``defaultUpperBoundTracesPerSecond``
  (optional in Thrift) only when non-zero.
"""

from __future__ import annotations

from typing import Any

from spyglass.codecs.go_json import GoFloat, dumps
from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb

_TYPE_NAMES = {pb.PROBABILISTIC: "PROBABILISTIC", pb.RATE_LIMITING: "RATE_LIMITING"}


def _per_operation(per_op: pb.PerOperationSamplingStrategies, legacy: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "defaultSamplingProbability": GoFloat(per_op.defaultSamplingProbability),
        "defaultLowerBoundTracesPerSecond": GoFloat(per_op.defaultLowerBoundTracesPerSecond),
        "perOperationStrategies": [
            {
                "operation": s.operation,
                "probabilisticSampling": {"samplingRate": GoFloat(s.probabilisticSampling.samplingRate)},
            }
            for s in per_op.perOperationStrategies
        ],
    }
    if not legacy or per_op.defaultUpperBoundTracesPerSecond:
        out["defaultUpperBoundTracesPerSecond"] = GoFloat(per_op.defaultUpperBoundTracesPerSecond)
    return out


def _as_dict(resp: pb.SamplingStrategyResponse, legacy: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "strategyType": int(resp.strategyType) if legacy else _TYPE_NAMES.get(resp.strategyType, int(resp.strategyType))
    }
    if resp.HasField("probabilisticSampling"):
        out["probabilisticSampling"] = {"samplingRate": GoFloat(resp.probabilisticSampling.samplingRate)}
    if resp.HasField("rateLimitingSampling"):
        rate = resp.rateLimitingSampling.maxTracesPerSecond
        if legacy:
            rate = max(-32768, min(32767, rate))
        out["rateLimitingSampling"] = {"maxTracesPerSecond": rate}
    if resp.HasField("operationSampling"):
        out["operationSampling"] = _per_operation(resp.operationSampling, legacy)
    return out


def proto_json(resp: pb.SamplingStrategyResponse) -> bytes:
    return dumps(_as_dict(resp, legacy=False))


def legacy_json(resp: pb.SamplingStrategyResponse) -> bytes:
    return dumps(_as_dict(resp, legacy=True))
