"""Bench of sampling (issue 14).

* Adaptive convergence: Jaeger's calculation (``Calculator``, the code the leader runs)
  driven by a simulated operation whose SDK adopts each new probability at once; roots per
  interval are Poisson, sampled ones binomial. Counts the calculation intervals until the
  expected sampled rate stays within the delta tolerance of the target (3 intervals in a
  row), over 20 seeds: a new operation starting at the initial probability, and a 10x load
  change either way after convergence; with Jaeger's 10 aggregation buckets and with 1.
* Tail sampling: µs per span through ``TailSamplingSink`` (validation, holding, the
  decision with three policies, release) in front of a sink that only counts, in batches
  of 100 spans as receivers hand them; and bytes per held trace (10 spans) from
  tracemalloc, the buffer alone and with the spans themselves.

    .venv/bin/python bench/sampling.py [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, make_spans, write_section  # noqa: E402

from spyglass.collector.metrics import IngestMetrics  # noqa: E402
from spyglass.collector.processor import Submitted  # noqa: E402
from spyglass.collector.sampling.adaptive import AdaptiveOptions, Calculator  # noqa: E402
from spyglass.collector.sampling.adaptive.aggregator import truncate_float  # noqa: E402
from spyglass.collector.tailsampling import TailSamplingSink, parse_tail_config  # noqa: E402
from spyglass.storage.api.sampling import Throughput  # noqa: E402

INTERVAL = 60.0


def poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= l:
            return k
        k += 1


def converge(seed: int, buckets: int, phases: list[float], target: float = 1.0) -> list[int]:
    """Intervals to convergence for each phase's roots/s (the probability carries over)."""
    options = AdaptiveOptions(target_samples_per_second=target, aggregation_buckets=buckets,
                              calculation_interval_s=INTERVAL)
    calc = Calculator(options)
    rng = random.Random(seed)
    p = options.initial_sampling_probability
    out = []
    for rate in phases:
        streak, first = 0, None
        for i in range(1, 200):
            sampled = poisson(rng, rate * INTERVAL * p)
            calc.add_bucket([Throughput("svc", "op", sampled, {truncate_float(p)})], INTERVAL)
            p = calc.calculate()[0]["svc"]["op"]
            within = abs(p * rate - target) / target < options.delta_tolerance
            streak = streak + 1 if within else 0
            if within and first is None:
                first = i
            if not within:
                first = None
            if streak >= 3:
                break
        out.append(first if streak >= 3 else 200)
    return out


def adaptive_section() -> str:
    rows = []
    scenarios = [
        ("new operation, 100 roots/s (needs 10x the initial 0.001)", [100.0]),
        ("new operation, 10,000 roots/s (needs 1/10 of 0.001)", [10_000.0]),
        ("load 100 -> 1,000 roots/s after converging", [100.0, 1_000.0]),
        ("load 1,000 -> 100 roots/s after converging", [1_000.0, 100.0]),
    ]
    for name, phases in scenarios:
        cells = []
        for buckets in (10, 1):
            runs = [converge(seed, buckets, phases)[-1] for seed in range(20)]
            cells.append(f"{statistics.median(runs):.0f} ({max(runs)})")
        rows.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join([
        "| scenario (target 1 sampled trace/s per operation, tolerance 0.3) | intervals, 10 buckets: median (max) | intervals, 1 bucket |",
        "|---|---:|---:|",
        *rows,
    ])


class CountingSink:
    """The sink behind the tail stage: takes spans, does nothing else."""

    def __init__(self) -> None:
        self.metrics = IngestMetrics()
        self.taken = 0

    async def accept(self, spans, *, receiver, fmt, nbytes=0):
        self.taken += len(spans)
        return Submitted(len(spans))

    async def open(self): ...

    async def aclose(self): ...


POLICIES = {"decision_wait": "10s", "num_traces": 200_000, "policies": [
    {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
    {"name": "slow", "type": "latency", "latency": {"threshold_ms": 1000}},
    {"name": "rest", "type": "probabilistic", "probabilistic": {"sampling_percentage": 10}},
]}


async def tail_overhead(spans) -> tuple[float, float]:
    inner = CountingSink()
    sink = TailSamplingSink(inner, parse_tail_config(POLICIES), clock=lambda: 0.0)
    t0 = time.perf_counter()
    for i in range(0, len(spans), 100):
        await sink.accept(spans[i:i + 100], receiver="bench", fmt="model")
    t1 = time.perf_counter()
    sink.decide_due(1e9)
    await sink._flush_release()
    t2 = time.perf_counter()
    return (t1 - t0) / len(spans) * 1e6, (t2 - t1) / len(spans) * 1e6


async def held_bytes(traces: int) -> tuple[float, float]:
    tracemalloc.start()
    a = tracemalloc.get_traced_memory()[0]
    spans = make_spans(traces * 10, trace_size=10, seed=5)
    b = tracemalloc.get_traced_memory()[0]
    sink = TailSamplingSink(CountingSink(), parse_tail_config(POLICIES), clock=lambda: 0.0)
    c = tracemalloc.get_traced_memory()[0]
    for i in range(0, len(spans), 100):
        await sink.accept(spans[i:i + 100], receiver="bench", fmt="model")
    d = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(sink.held) == traces
    return (d - c) / traces, (b - a) / traces


async def tail_section() -> str:
    spans = make_spans(200_000, trace_size=10, seed=3)
    runs = [await tail_overhead(spans) for _ in range(3)]
    hold = min(r[0] for r in runs)
    decide = min(r[1] for r in runs)
    buffer_b, span_b = await held_bytes(10_000)
    return "\n".join([
        "| tail sampling (3 policies, 200,000 spans in traces of 10, batches of 100) | figure |",
        "|---|---:|",
        f"| intake µs/span (validation, routing off, holding) | {hold:.2f} |",
        f"| decision + release µs/span (policies on the whole trace) | {decide:.2f} |",
        f"| total µs/span | {hold + decide:.2f} |",
        f"| buffer bytes per held trace (beyond its spans) | {buffer_b:,.0f} |",
        f"| the 10 spans themselves, bytes per trace (as decoded) | {span_b:,.0f} |",
    ])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    adaptive = adaptive_section()
    print(adaptive)
    tail = asyncio.run(tail_section())
    print(tail)
    body = f"""## Sampling (`bench/sampling.py`)

`.venv/bin/python bench/sampling.py` ({machine()}).

**Adaptive convergence**: the leader's calculation (`collector/sampling/adaptive/calculator.py`) on a simulated operation whose SDK takes each new probability at once (Poisson roots, 20 seeds). Intervals (1 minute each by default) until the expected sampled rate stays within the tolerance of the target. Increases are capped at +50% per interval (Jaeger's `PercentageIncreaseCappedCalculator`), so a 10x rise takes about log(10)/log(1.5) = 6 intervals, while a decrease takes one; with 10 buckets (Jaeger's default) the weighted QPS still remembers the old load (the newest bucket weighs 10^4/25333 = 39%), so a load change overshoots and takes several more intervals to settle; with 1 bucket a 10x load rise (a probability drop) settles in one. The test `tests/collector/test_adaptive_convergence.py` checks the same end to end with 1 s intervals, our tracer and jaeger-client polling the collector.

{adaptive}

**Tail sampling** overhead and memory (`collector/tailsampling/`):

{tail}

Memory bound: `num_traces` traces are held at most (the oldest decided early when full, counted in `spyglass_tail_sampling_early_decisions_total`); with the default 50,000 traces of 10 spans that is about 50,000 x (buffer + spans) from the figures above.
"""
    if not args.no_write:
        write_section("sampling", body)


if __name__ == "__main__":
    main()
