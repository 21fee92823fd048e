"""Per-operation sampling with the lower bound, and strategy answers turned into samplers."""

from __future__ import annotations

import pytest

from spyglass.client.sampling import (
    PerOperationSampler,
    ProbabilisticSampler,
    RateLimitingSampler,
    apply_strategy,
)
from spyglass.client.sampling.per_operation import GuaranteedThroughputSampler

ALWAYS_NO = (1 << 64) - 1  # the largest low half: never below any rate < 1


def test_lower_bound_samples_what_probability_rejects():
    s = GuaranteedThroughputSampler(lower_bound=2.0, sampling_rate=0.0)
    first = [s.is_sampled(ALWAYS_NO) for _ in range(5)]
    assert [d for d, _ in first] == [True, True, False, False, False]
    assert dict(first[0][1]) == {"sampler.type": "lowerbound", "sampler.param": 0.0}
    s.update(2.0, 1.0)
    sampled, tags = s.is_sampled(ALWAYS_NO)
    assert sampled and dict(tags) == {"sampler.type": "probabilistic", "sampler.param": 1.0}


def test_per_operation_rates_default_and_max_operations():
    s = PerOperationSampler(0.0, 0.0, {"GET /a": 1.0}, max_operations=2)
    assert s.is_sampled(ALWAYS_NO, "GET /a")[0] is True
    assert s.is_sampled(ALWAYS_NO, "GET /b")[0] is False  # new op with the default rate
    assert set(s.samplers) == {"GET /a", "GET /b"}
    s.is_sampled(0, "GET /c")  # beyond max_operations: default sampler, not tracked
    assert set(s.samplers) == {"GET /a", "GET /b"}
    s.update(1.0, 0.0, {"GET /a": 0.0})
    assert s.is_sampled(ALWAYS_NO, "GET /a")[0] is False
    assert s.is_sampled(ALWAYS_NO, "GET /b")[0] is True  # now the new default


def test_apply_strategy_forms():
    p = apply_strategy({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.3}}, None)
    assert isinstance(p, ProbabilisticSampler) and p.rate == 0.3
    assert apply_strategy({"strategyType": 0, "probabilisticSampling": {"samplingRate": 0.3}}, p) is p
    r = apply_strategy({"strategyType": 1, "rateLimitingSampling": {"maxTracesPerSecond": 7}}, p)
    assert isinstance(r, RateLimitingSampler) and r.max_traces_per_second == 7
    r2 = apply_strategy({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 9}}, r)
    assert r2 is r and r.max_traces_per_second == 9  # updated in place
    per_op = {
        "strategyType": "PROBABILISTIC",
        "probabilisticSampling": {"samplingRate": 0.5},
        "operationSampling": {
            "defaultSamplingProbability": 0.5,
            "defaultLowerBoundTracesPerSecond": 0.1,
            "perOperationStrategies": [{"operation": "op", "probabilisticSampling": {"samplingRate": 0.2}}],
            "defaultUpperBoundTracesPerSecond": 0,
        },
    }
    po = apply_strategy(per_op, r)
    assert isinstance(po, PerOperationSampler) and po.default_sampler.rate == 0.5 and po.lower_bound == 0.1
    assert po.samplers["op"].probabilistic.rate == 0.2
    assert apply_strategy(per_op, po) is po


@pytest.mark.parametrize(
    "bad",
    [[], {}, {"probabilisticSampling": 5}, {"probabilisticSampling": {"samplingRate": 2}},
     {"operationSampling": {"perOperationStrategies": [{"operation": 1}]}}],
)
def test_apply_strategy_rejects_garbage(bad):
    with pytest.raises((ValueError, TypeError)):
        apply_strategy(bad, None)
