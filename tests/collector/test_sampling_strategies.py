"""Strategies file parsing and Jaeger's merge rules (jaeger-reference.md D.1), checked
through the exact proto-JSON each service gets."""

from __future__ import annotations

import json

import pytest

from spyglass.collector.sampling import StrategiesError, load_strategies, parse_strategies, proto_json

REFERENCE = {
    "default_strategy": {"type": "probabilistic", "param": 0.5,
                         "operation_strategies": [{"operation": "op0", "type": "probabilistic", "param": 0.2}]},
    "service_strategies": [
        {"service": "foo", "type": "probabilistic", "param": 0.8,
         "operation_strategies": [{"operation": "op2", "type": "probabilistic", "param": 0.2},
                                  {"operation": "op0", "type": "probabilistic", "param": 0.9}]},
        {"service": "bar", "type": "ratelimiting", "param": 5},
        {"service": "baz", "type": "probabilistic", "param": 0.1},
    ],
}


def js(strategies, service: str) -> dict:
    return json.loads(proto_json(strategies.for_service(service)))


def per_op(rate: float, ops: list[tuple[str, float]], default: float) -> dict:
    return {
        "defaultSamplingProbability": default,
        "defaultLowerBoundTracesPerSecond": 0,
        "perOperationStrategies": [{"operation": o, "probabilisticSampling": {"samplingRate": r}} for o, r in ops],
        "defaultUpperBoundTracesPerSecond": 0,
    }


def test_merge_rules():
    s = parse_strategies(REFERENCE)
    # own list wins for op0, default-only operations are appended
    assert js(s, "foo") == {
        "strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.8},
        "operationSampling": per_op(0.8, [("op2", 0.2), ("op0", 0.9)], 0.8),
    }
    # no own list: a copy of the default's, the service's rate as default when probabilistic
    assert js(s, "baz")["operationSampling"] == per_op(0.1, [("op0", 0.2)], 0.1)
    assert js(s, "bar") == {
        "strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 5},
        "operationSampling": per_op(0.5, [("op0", 0.2)], 0.5),
    }
    # unknown service: the default strategy; and the copies did not change the default
    assert js(s, "unknown") == {
        "strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5},
        "operationSampling": per_op(0.5, [("op0", 0.2)], 0.5),
    }


def test_no_default_strategy_uses_default_probability():
    s = parse_strategies({"service_strategies": [{"service": "a", "type": "ratelimiting", "param": 2.9}]}, 0.001)
    assert proto_json(s.for_service("x")) == b'{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}'
    assert proto_json(s.for_service("a")) == b'{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":2}}'


def test_ratelimiting_service_with_operations_uses_default_probability():
    s = parse_strategies({"service_strategies": [{"service": "a", "type": "ratelimiting", "param": 1,
                                                   "operation_strategies": [{"operation": "x", "type": "probabilistic", "param": 0.3}]}]}, 0.01)
    assert js(s, "a")["operationSampling"]["defaultSamplingProbability"] == 0.01


def test_unknown_types_and_ratelimiting_operations():
    s = parse_strategies({"default_strategy": {"type": "adaptive", "param": 7},
                          "service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.4,
                                                  "operation_strategies": [
                                                      {"operation": "rl", "type": "ratelimiting", "param": 3},
                                                      {"operation": "odd", "type": "nope", "param": 0.9}]}]}, 0.002)
    assert js(s, "zzz") == {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.002}}
    # the rate-limiting operation is dropped; the unknown type gets the service's probability
    assert js(s, "a")["operationSampling"]["perOperationStrategies"] == [
        {"operation": "odd", "probabilisticSampling": {"samplingRate": 0.4}}]


def test_huge_ratelimiting_param_is_clamped():
    s = parse_strategies({"default_strategy": {"type": "ratelimiting", "param": 1e12}})
    assert js(s, "x")["rateLimitingSampling"]["maxTracesPerSecond"] == 2**31 - 1


@pytest.mark.parametrize(
    "text",
    ["", "{", "[]", '{"service_strategies": {}}', '{"service_strategies": [{"type": "probabilistic"}]}',
     '{"default_strategy": {"type": "probabilistic", "param": "high"}}',
     '{"default_strategy": {"type": "probabilistic", "param": 0.1, "operation_strategies": [{"type": "x"}]}}'],
)
def test_invalid_documents(text):
    with pytest.raises(StrategiesError):
        load_strategies(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"service_strategies": [{"service": "a\\ud800", "type": "probabilistic", "param": 0.5}]}',
        '{"default_strategy": {"type": "probabilistic", "param": 0.5, '
        '"operation_strategies": [{"operation": "op\\udc00", "type": "probabilistic", "param": 0.1}]}}',
    ],
)
def test_lone_surrogates_are_a_strategies_error(text):
    """Found by bench/fuzz.py: a "\\ud800" escape reached protobuf (UnicodeEncodeError)."""
    with pytest.raises(StrategiesError, match="not valid Unicode"):
        load_strategies(text)
