"""Const, probabilistic and rate-limiting samplers: decisions, tags, agreement with
jaeger-client's samplers on the same trace IDs, and end to end into a running all-in-one."""

from __future__ import annotations

import random

import pytest
from support import wait_for
from jaeger_client.sampler import ProbabilisticSampler as JaegerProbabilistic

from spyglass.client import Config
from spyglass.client.sampling import ConstSampler, ProbabilisticSampler, RateLimiter, RateLimitingSampler


def test_const():
    assert ConstSampler(True).is_sampled(1) == (True, (("sampler.type", "const"), ("sampler.param", True)))
    assert ConstSampler(False).is_sampled(1)[0] is False


@pytest.mark.parametrize("rate", [0.0, 0.001, 0.25, 0.5, 1.0])
def test_probabilistic_decides_like_jaeger_client(rate):
    ours, theirs = ProbabilisticSampler(rate), JaegerProbabilistic(rate)
    rng = random.Random(rate)
    ids = [rng.getrandbits(128) for _ in range(20_000)] + [0, (1 << 64) - 1, 1 << 63]
    assert [ours.is_sampled(i)[0] for i in ids] == [theirs.is_sampled(i)[0] for i in ids]
    assert dict(ours.is_sampled(1)[1]) == {"sampler.type": "probabilistic", "sampler.param": rate}


def test_probabilistic_rejects_bad_rates():
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError):
            ProbabilisticSampler(bad)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_refills_and_caps():
    clock = Clock()
    limiter = RateLimiter(2.0, 2.0, clock)
    assert [limiter.check_credit() for _ in range(3)] == [True, True, False]
    clock.now += 0.5
    assert [limiter.check_credit() for _ in range(2)] == [True, False]
    clock.now += 100  # the bucket never holds more than max_balance
    assert [limiter.check_credit() for _ in range(3)] == [True, True, False]
    limiter.update(10.0, 10.0)
    clock.now += 1
    assert sum(limiter.check_credit() for _ in range(20)) == 10


def test_rate_limiting_sampler_caps_traces_per_second():
    sampler = RateLimitingSampler(5)
    decisions = [sampler.is_sampled(i)[0] for i in range(1000)]  # well within one second
    assert 5 <= sum(decisions) <= 6
    assert dict(sampler.is_sampled(0)[1]) == {"sampler.type": "ratelimiting", "sampler.param": 5.0}
    assert sum(RateLimitingSampler(0).is_sampled(i)[0] for i in range(100)) == 0


@pytest.mark.parametrize(
    "sampler, expected_param",
    [({"type": "const", "param": 1}, True), ({"type": "probabilistic", "param": 0.5}, 0.5),
     ({"type": "ratelimiting", "param": 5}, 5.0)],
)
def test_end_to_end_decisions_and_tags_are_stored(all_in_one, sampler, expected_param):
    tracer = Config({"sampler": sampler, "reporter_queue_size": 1000,
                     "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": all_in_one.ports["agent_jaeger_compact"]}},
                    service_name=f"sampled-{sampler['type']}", environ={}).new_tracer()
    roots = []
    for _ in range(100):
        root = tracer.start_span("root")
        tracer.start_span("child", child_of=root).finish()  # follows the root's decision
        root.finish()
        roots.append(root)
    tracer.close()
    sampled = [r for r in roots if r.sampled]
    if sampler["type"] == "probabilistic":
        assert sampled == [r for r in roots if (r.trace_id & ((1 << 64) - 1)) < 1 << 63]
    elif sampler["type"] == "ratelimiting":
        assert 5 <= len(sampled) <= 6
    else:
        assert len(sampled) == 100
    reader = all_in_one.app.storage.trace_reader()
    wait_for(lambda: all(len(reader.get_trace(r.trace_id)) == 2 for r in sampled))
    for r in sampled:
        stored = {s.name: s for s in reader.get_trace(r.trace_id)}
        assert dict(stored["root"].attributes) == {"sampler.type": sampler["type"], "sampler.param": expected_param}
        assert stored["child"].parent_span_id == r.span_id and stored["child"].attributes == []
    assert all(reader.get_trace(r.trace_id) == [] for r in roots if not r.sampled)
