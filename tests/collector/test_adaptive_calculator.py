"""Jaeger's adaptive calculation (D.5) and the aggregator, without I/O: weights, tolerance,
the +50% increase cap, doubling at zero QPS, floors, 'not using adaptive sampling', and
root-span counting by sampler tags."""

from __future__ import annotations

import pytest

from spyglass.collector.sampling.adaptive import AdaptiveOptions, Aggregator, Calculator
from spyglass.collector.sampling.adaptive.aggregator import truncate_float
from spyglass.collector.sampling.adaptive.calculator import capped_increase, weights
from spyglass.model import KeyValue, Resource, Span
from spyglass.storage.api.sampling import Throughput

RES = Resource("svc")


def root(op: str, kind: str = "probabilistic", param: float = 0.001, parent: int = 0) -> Span:
    return Span(1, 2, op, 0, 1, RES, parent_span_id=parent,
                attributes=[KeyValue("sampler.type", kind), KeyValue("sampler.param", param)])


def test_weights_are_jaegers():
    w = weights(3)
    assert w == pytest.approx([81 / 98, 16 / 98, 1 / 98])
    assert weights(1) == [1.0]


def test_increase_is_capped_at_half_and_decrease_is_full():
    assert capped_increase(10, 1, 0.1) == pytest.approx(0.15)  # 10x wanted, +50% given
    assert capped_increase(10, 8, 0.1) == pytest.approx(0.125)  # +25% under the cap
    assert capped_increase(1, 10, 0.5) == pytest.approx(0.05)  # decrease in full


def calc(**kw) -> Calculator:
    return Calculator(AdaptiveOptions(**{"target_samples_per_second": 1.0, "initial_sampling_probability": 0.1,
                                         "calculation_interval_s": 1.0, "aggregation_buckets": 1, **kw}))


def bucket(c: Calculator, count: int, prob: str = "0.1", op: str = "op") -> None:
    c.add_bucket([Throughput("svc", op, count, {prob})], 1.0)


def test_steps_towards_target():
    c = calc()
    bucket(c, 10)  # 10 qps at 0.1 -> 0.01
    assert c.calculate()[0] == {"svc": {"op": pytest.approx(0.01)}}
    bucket(c, 1, truncate_float(0.01))  # on target: unchanged
    assert c.calculate()[0]["svc"]["op"] == pytest.approx(0.01)
    bucket(c, 0, truncate_float(0.01))  # nothing sampled: doubled
    assert c.calculate()[0]["svc"]["op"] == pytest.approx(0.02)


def test_tolerance_keeps_probability():
    c = calc(delta_tolerance=0.3)
    bucket(c, 12)  # 12 qps vs target 10: |12-10|/10 = 0.2 < 0.3
    c.options.target_samples_per_second = 10.0
    assert c.calculate()[0]["svc"]["op"] == pytest.approx(0.1)


def test_floor_and_ceiling():
    c = calc(min_sampling_probability=0.05)
    bucket(c, 1000)
    assert c.calculate()[0]["svc"]["op"] == 0.05
    c = calc(initial_sampling_probability=0.9)
    bucket(c, 0, "0.9")
    assert c.calculate()[0]["svc"]["op"] == 1.0


def test_service_not_following_adaptive_keeps_old_probability():
    c = calc()
    bucket(c, 10)
    assert c.calculate()[0]["svc"]["op"] == pytest.approx(0.01)
    bucket(c, 10, "0.5")  # its roots report 0.5, not the 0.01 we computed: not adaptive
    assert c.calculate()[0]["svc"]["op"] == pytest.approx(0.01)


def test_weighted_qps_uses_newest_bucket_most():
    c = calc(aggregation_buckets=2)
    bucket(c, 0)
    bucket(c, 10)
    assert c.weighted_qps(("svc", "op")) == pytest.approx(10 * 16 / 17)


def test_aggregator_counts_probabilistic_roots_only():
    a = Aggregator()
    a.observe([root("a"), root("a"), root("a", parent=5), root("b", "lowerbound"), root("c", "unknown"),
               Span(1, 2, "d", 0, 1, RES)])
    rows = {t.operation: t for t in a.flush()}
    assert rows["a"].count == 2 and rows["a"].probabilities == {"0.001"}
    assert rows["b"].count == 0  # known to exist, not counted
    assert set(rows) == {"a", "b"}
    assert a.flush() == []


def test_aggregator_remembers_at_most_ten_probabilities():
    a = Aggregator()
    a.observe([root("a", param=i / 100) for i in range(1, 30)])
    assert len(a.flush()[0].probabilities) == 10
