"""The two HTTP JSON forms, byte for byte (jaeger-reference.md D.3)."""

from __future__ import annotations

from spyglass.collector.sampling import legacy_json, parse_strategies, proto_json

DOC = {
    "default_strategy": {"type": "probabilistic", "param": 1},
    "service_strategies": [
        {"service": "rl", "type": "ratelimiting", "param": 42},
        {"service": "ops", "type": "probabilistic", "param": 1,
         "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.1}]},
        {"service": "tiny", "type": "probabilistic", "param": 1e-7},
    ],
}
S = parse_strategies(DOC)


def test_proto_json():
    assert proto_json(S.for_service("x")) == b'{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1}}'
    assert proto_json(S.for_service("rl")) == b'{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}'
    assert proto_json(S.for_service("ops")) == (
        b'{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1},'
        b'"operationSampling":{"defaultSamplingProbability":1,"defaultLowerBoundTracesPerSecond":0,'
        b'"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0.1}}],'
        b'"defaultUpperBoundTracesPerSecond":0}}'
    )
    assert proto_json(S.for_service("tiny")) == b'{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":1e-7}}'


def test_legacy_json_has_integer_enums():
    assert legacy_json(S.for_service("rl")) == b'{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":42}}'
    assert legacy_json(S.for_service("x")) == b'{"strategyType":0,"probabilisticSampling":{"samplingRate":1}}'
    assert legacy_json(S.for_service("ops")) == (
        b'{"strategyType":0,"probabilisticSampling":{"samplingRate":1},'
        b'"operationSampling":{"defaultSamplingProbability":1,"defaultLowerBoundTracesPerSecond":0,'
        b'"perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0.1}}]}}'
    )


def test_legacy_clamps_to_thrift_i16():
    s = parse_strategies({"default_strategy": {"type": "ratelimiting", "param": 100000}})
    assert legacy_json(s.for_service("x")) == b'{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":32767}}'
