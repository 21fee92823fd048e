"""Tail sampling: the stage in front of a real ``SpanProcessor`` and memory store (decisions
driven with a test clock), the policy file, and bounded memory under a flood of traces that
never finish."""

from __future__ import annotations

import json
import random
import tracemalloc

import pytest

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.tailsampling import TailSamplingSink, load_tail_config, parse_tail_config
from spyglass.collector.tailsampling.policies import PolicyError
from spyglass.model import KeyValue, Resource, Span, Status, StatusCode
from spyglass.storage.memory import MemoryStore
from support import wait_for

RES = Resource("shop")
MS = 1_000_000

POLICIES = {
    "decision_wait": "2s",
    "num_traces": 100,
    "policies": [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}},
        {"name": "rest", "type": "probabilistic", "probabilistic": {"sampling_percentage": 20}},
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def trace(tid: int, *, error: bool = False, duration_ms: int = 10, spans: int = 3) -> list[Span]:
    out = []
    for i in range(spans):
        out.append(Span(tid, i + 1, f"op{i}", 1_700_000_000_000 * MS + i * MS, duration_ms * MS if i == 0 else MS,
                        RES, parent_span_id=i, status=Status(StatusCode.ERROR if error and i == spans - 1 else StatusCode.UNSET)))
    return out


@pytest.fixture
def stage():
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=100_000, batch_size=1000))
    clock = Clock()
    sink = TailSamplingSink(processor, parse_tail_config(POLICIES), clock=clock)
    processor.start()
    yield sink, store, clock
    processor.close()


def stored(store: MemoryStore, tid: int) -> int:
    return len(store.get_trace(tid))


async def test_errors_and_slow_traces_kept_the_rest_at_the_rate(stage):
    sink, store, clock = stage
    rnd = random.Random(3)
    errors = [rnd.getrandbits(64) for _ in range(30)]
    slow = [rnd.getrandbits(64) for _ in range(30)]
    plain = [rnd.getrandbits(64) for _ in range(60)]
    sink.config.num_traces = 1000
    for tid in errors:
        first, *rest = trace(tid, error=True)
        await sink.accept([first], receiver="test", fmt="model")
        await sink.accept(rest, receiver="test", fmt="model")  # the error comes late: still one decision
    for tid in slow:
        await sink.accept(trace(tid, duration_ms=800), receiver="test", fmt="model")
    for tid in plain:
        await sink.accept(trace(tid), receiver="test", fmt="model")
    assert sink.decide_due() == 0  # nothing is decided before decision_wait
    clock.now += 2.0
    assert sink.decide_due() == 120
    await sink._flush_release()
    wait_for(lambda: all(stored(store, t) == 3 for t in errors + slow))
    kept = sum(1 for t in plain if stored(store, t))
    assert 3 <= kept <= 25, kept  # 20% of 60
    assert all(stored(store, t) in (0, 3) for t in plain)  # whole traces or nothing
    # late spans follow the decision taken
    late = Span(errors[0], 99, "late", 0, 1, RES, parent_span_id=1)
    await sink.accept([late], receiver="test", fmt="model")
    wait_for(lambda: stored(store, errors[0]) == 4)
    assert sink.m_late.labels("kept")._value.get() == 1


async def test_a_flood_of_unfinished_traces_stays_bounded(stage):
    sink, store, clock = stage  # num_traces 100
    tracemalloc.start()
    try:
        for tid in range(1, 5_001):  # a root that never ends, for each of 5,000 traces
            await sink.accept([Span(tid, 1, "stuck", 0, 0, RES, parent_span_id=7)], receiver="test", fmt="model")
            if tid == 1000:
                base, _ = tracemalloc.get_traced_memory()
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sink.held) == 100 and sink.held_spans == 100
    assert sink.m_early._value.get() == 5_000 - 100  # each decided early, and counted
    assert len(sink.decided) <= 100
    assert grown - base < 8 << 20, grown - base  # flat, not growing with the flood


def test_policy_file_yaml_and_json(tmp_path):
    yaml_text = """
tail_sampling:
  decision_wait: 500ms
  num_traces: 10
  policies:
    - {name: e, type: status_code, status_code: {status_codes: [ERROR]}}
    - {name: s, type: string_attribute, string_attribute: {key: http.url, values: ['^/admin'], enabled_regex_matching: true}}
    - {name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599}}
    - {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 5}}
    - name: both
      type: and
      and: {and_sub_policy: [{name: a, type: latency, latency: {threshold_ms: 1}}, {name: b, type: probabilistic, probabilistic: {sampling_percentage: 100}}]}
    - name: c
      type: composite
      composite:
        max_total_spans_per_second: 10
        policy_order: [x]
        composite_sub_policy: [{name: x, type: always_sample}]
        rate_allocation: [{policy: x, percent: 50}]
"""
    path = tmp_path / "p.yaml"
    path.write_text(yaml_text)
    config = load_tail_config(str(path))
    assert config.decision_wait_s == 0.5 and config.num_traces == 10
    assert [p.kind for p in config.policies] == ["status_code", "string_attribute", "numeric_attribute",
                                                 "rate_limiting", "and", "composite"]
    s = Span(1, 1, "x", 0, 10, RES, attributes=[KeyValue("http.url", "/admin/x")])
    assert config.policies[1].evaluate([s], 0)
    assert config.policies[2].evaluate([Span(1, 1, "x", 0, 10, RES, attributes=[KeyValue("http.status_code", 503)])], 0)
    assert [config.policies[3].evaluate([s, s], 7.0) for _ in range(3)] == [True, True, False]  # 5 spans/s
    assert [config.policies[5].evaluate([s], 9.0) for _ in range(6)] == [True] * 5 + [False]  # 50% of 10
    jpath = tmp_path / "p.json"
    jpath.write_text(json.dumps(POLICIES))
    assert load_tail_config(str(jpath)).decision_wait_s == 2.0


@pytest.mark.parametrize("doc, text", [
    ({"policies": []}, "non-empty"),
    ({"policies": [{"type": "nope"}]}, "unknown type 'nope'"),
    ({"policies": [{"name": "l", "type": "latency", "latency": {}}]}, "'threshold_ms' is required"),
    ({"policies": [{"type": "status_code", "status_code": {"status_codes": ["BAD"]}}]}, "unknown status code"),
    ({"decision_wait": "soon", "policies": [{"type": "always_sample"}]}, "decision_wait"),
])
def test_bad_policies_are_one_clear_error(doc, text):
    with pytest.raises(PolicyError, match=text):
        parse_tail_config(doc)


async def test_adaptive_aggregator_counts_roots_where_they_are_held():
    from spyglass.collector.sampling.adaptive import Aggregator

    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=1000))
    aggregator = Aggregator()
    sink = TailSamplingSink(processor, parse_tail_config(POLICIES), observe=aggregator.observe, clock=Clock())
    tagged = [KeyValue("sampler.type", "probabilistic"), KeyValue("sampler.param", 0.5)]
    await sink.accept([Span(9, 1, "GET /", 0, 1, RES, attributes=tagged), Span(9, 2, "child", 0, 1, RES, parent_span_id=1)],
                      receiver="test", fmt="model")
    [row] = aggregator.flush()
    assert (row.operation, row.count, row.probabilities) == ("GET /", 1, {"0.5"})
