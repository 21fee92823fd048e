"""Adaptive sampling end to end: an all-in-one with ``--sampling.type adaptive`` and short
intervals; simulated services whose clients (our tracer, and jaeger-client) poll its
sampling endpoint and report their sampled roots to it, under a steady load on two
operations with different rates. The sampled rate per operation must converge to the
target, then follow when the load is swapped between the operations."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque

import jaeger_client
import pytest
from conftest import RunningAllInOne
from support import wait_for

from spyglass.client import RemoteControlledSampler
from spyglass.client.reporting.reporter import RemoteReporter
from spyglass.client.reporting.senders.http_thrift import HTTPSender
from spyglass.client.tracer import Tracer

pytestmark = pytest.mark.slow

TARGET = 10.0


class Load:
    """Starts ``rates[op]`` roots per second on ``tracer``; remembers when sampled ones started."""

    def __init__(self, tracer, rates: dict[str, float]) -> None:
        self.tracer = tracer
        self.rates = dict(rates)
        self.sampled: dict[str, deque[float]] = {op: deque() for op in rates}
        self.started: dict[str, deque[float]] = {op: deque() for op in rates}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        tick = 0.05
        owed = {op: 0.0 for op in self.rates}
        while not self._stop.wait(tick):
            now = time.monotonic()
            for op, rate in list(self.rates.items()):
                owed[op] += rate * tick
                while owed[op] >= 1:
                    owed[op] -= 1
                    span = self.tracer.start_span(op)
                    span.finish()
                    self.started[op].append(now)
                    if span.is_sampled():
                        self.sampled[op].append(now)

    def rate(self, op: str, window: float, which: str = "sampled") -> float:
        now = time.monotonic()
        times = getattr(self, which)[op]
        return sum(1 for t in list(times) if t >= now - window) / window

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


@pytest.fixture
def adaptive():
    aio = RunningAllInOne(sampling_type="adaptive", sampling_target_samples_per_second=TARGET,
                          sampling_calculation_interval="1s", sampling_delay="0s",
                          sampling_aggregation_buckets=3, sampling_initial_sampling_probability=0.05,
                          sampling_leader_lease_refresh_interval="200ms",
                          sampling_follower_lease_refresh_interval="1s")
    yield aio
    aio.close()


@pytest.fixture
def main_loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def ours(aio: RunningAllInOne, service: str) -> Tracer:
    sampler = RemoteControlledSampler(service, aio.url("agent_sampling", "/sampling"), sampling_refresh_interval=0.1)
    assert sampler.wait_for_poll(5)
    reporter = RemoteReporter(HTTPSender(aio.url("collector_http", "/api/traces")), flush_interval=0.1)
    return Tracer(service, reporter, sampler)


def theirs(aio: RunningAllInOne, service: str):
    return jaeger_client.Config(
        {"local_agent": {"sampling_port": aio.ports["agent_sampling"], "reporting_host": "127.0.0.1",
                         "reporting_port": aio.ports["agent_jaeger_compact"]},
         "sampling_refresh_interval": 0.1, "reporter_flush_interval": 0.1, "logging": False, "metrics": False},
        service_name=service,
    ).new_tracer()


def converged(load: Load, window: float = 3.0) -> bool:
    """Every operation's sampled rate near the target (Poisson noise on ~30 samples is ~20%)."""
    return all(0.5 * TARGET <= load.rate(op, window) <= 1.6 * TARGET for op in load.rates)


def probabilities(aio: RunningAllInOne, service: str) -> dict[str, float]:
    return dict(aio.app.sampling.processor.probabilities.get(service, {}))


def test_sampled_rate_converges_and_follows_load(adaptive, main_loop):
    our_tracer = ours(adaptive, "ours")
    their_tracer = theirs(adaptive, "theirs")
    loads = [Load(our_tracer, {"GET /a": 300, "GET /b": 60}), Load(their_tracer, {"GET /a": 300, "GET /b": 60})]
    try:
        for load in loads:
            load.thread.start()
        processor = adaptive.app.sampling.processor
        # 300/s from 0.05 is one step down; 60/s needs 3 capped +50% steps, plus the lag of the
        # weighted buckets and of the 3 s measuring window: well under 20 intervals
        wait_for(lambda: all(converged(l) for l in loads), timeout=40, interval=0.25)
        assert processor.calculations <= 20, processor.calculations
        for service in ("ours", "theirs"):
            p = probabilities(adaptive, service)
            assert p["GET /a"] < p["GET /b"], p  # the busier operation is sampled less
        before = probabilities(adaptive, "ours")
        for load in loads:  # swap the load between the operations
            load.rates.update({"GET /a": 60, "GET /b": 300})
        swapped_at = processor.calculations
        time.sleep(3)  # let the old samples leave the measuring window
        wait_for(lambda: all(converged(l) for l in loads), timeout=40, interval=0.25)
        assert processor.calculations - swapped_at <= 20, processor.calculations - swapped_at  # 4 capped steps up
        after = probabilities(adaptive, "ours")
        assert after["GET /a"] > before["GET /a"] and after["GET /b"] < before["GET /b"], (before, after)
        assert adaptive.app.sampling.processor.is_leader
    finally:
        for load in loads:
            load.stop()
        our_tracer.close()
        their_tracer.close()
