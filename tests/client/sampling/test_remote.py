"""The remote sampler against a real sampling server serving a strategies file, side by
side with the real jaeger-client's remote sampler; fallback when the server is away;
and end to end: the sampler tags of stored root spans in a running all-in-one.

The strategies are served by the all-in-one's own sampling port once its settings have
``agent_sampling_port`` and ``sampling_strategies_file``; until then by the sampling app
started on the running all-in-one's event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import socket

import jaeger_client
import pytest
from jaeger_client.sampler import AdaptiveSampler as JaegerAdaptive
from jaeger_client.sampler import ProbabilisticSampler as JaegerProbabilistic
from jaeger_client.sampler import RateLimitingSampler as JaegerRateLimiting
from conftest import RunningAllInOne
from support import wait_for

from spyglass.client import Config, PerOperationSampler, ProbabilisticSampler, RateLimitingSampler, RemoteControlledSampler
from spyglass.collector.sampling import FileStrategyProvider, build_sampling_app
from spyglass.config import Settings
from spyglass.server import HttpServer

STRATEGIES = {
    "default_strategy": {"type": "probabilistic", "param": 0.5},
    "service_strategies": [
        {"service": "limited", "type": "ratelimiting", "param": 3},
        {"service": "per-op", "type": "probabilistic", "param": 0.25,
         "operation_strategies": [{"operation": "GET /health", "type": "probabilistic", "param": 0.0},
                                  {"operation": "GET /checkout", "type": "probabilistic", "param": 1.0}]},
    ],
}


def sampling_is_wired() -> bool:
    """Whether the all-in-one itself serves sampling (settings added by the lead)."""
    names = {f.name for f in dataclasses.fields(Settings)}
    return {"agent_sampling_port", "sampling_strategies_file"} <= names


class SamplingServer:
    """A sampling server for ``STRATEGIES``: the all-in-one's own 5778 listener when it
    is wired up, else ``build_sampling_app`` on the running all-in-one's event loop."""

    def __init__(self, request, path) -> None:
        self.path = path
        path.write_text(json.dumps(STRATEGIES))
        self.own = None
        if sampling_is_wired():
            self.aio = self.own = RunningAllInOne(
                agent_sampling_port=0, sampling_strategies_file=str(path), sampling_strategies_reload_interval="50ms")
            self.port = self.aio.ports["agent_sampling"]
        else:
            self.aio = request.getfixturevalue("all_in_one")
            self.provider = FileStrategyProvider(str(path), reload_interval=0.05)
            self.server = HttpServer("agent_sampling", "127.0.0.1", 0, build_sampling_app(self.provider))
            self.aio.call(self.server.start())
            self.port = self.server.port
        self.url = f"http://127.0.0.1:{self.port}/sampling"

    def close(self) -> None:
        if self.own is not None:
            self.own.close()
        else:
            self.aio.call(self.server.stop())
            self.provider.close()


@pytest.fixture
def sampling(request, tmp_path):
    server = SamplingServer(request, tmp_path / "strategies.json")
    yield server
    server.close()


def ours(url: str, service: str, interval: float = 60) -> RemoteControlledSampler:
    sampler = RemoteControlledSampler(service, url, sampling_refresh_interval=interval)
    assert sampler.wait_for_poll(5)
    return sampler


@pytest.fixture
def main_loop():
    """jaeger-client's Tracer asks tornado for the main thread's event loop; asyncio tests
    that ran before may have left the thread without one."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def theirs(port: int, service: str):
    tracer = jaeger_client.Config(
        {"local_agent": {"sampling_port": port, "reporting_host": "127.0.0.1", "reporting_port": 9},
         "sampling_refresh_interval": 0.05, "logging": False, "metrics": False},
        service_name=service,
    ).new_tracer()
    return tracer


IDS = [random.Random(7).getrandbits(64) for _ in range(3000)]


def test_both_clients_obey_the_strategies_file(sampling, main_loop):
    jaeger_tracers = {s: theirs(sampling.port, s) for s in ("limited", "per-op", "other")}
    try:
        # unknown service: the default probabilistic 0.5
        mine = ours(sampling.url, "other")
        jt = jaeger_tracers["other"].sampler
        wait_for(lambda: isinstance(jt.sampler, JaegerProbabilistic) and jt.sampler.rate == 0.5)
        assert isinstance(mine.sampler, ProbabilisticSampler) and mine.sampler.rate == 0.5
        assert [mine.is_sampled(i)[0] for i in IDS] == [jt.is_sampled(i)[0] for i in IDS]

        mine = ours(sampling.url, "limited")
        jt = jaeger_tracers["limited"].sampler
        wait_for(lambda: isinstance(jt.sampler, JaegerRateLimiting))
        assert jt.sampler.traces_per_second == 3
        assert isinstance(mine.sampler, RateLimitingSampler) and mine.sampler.max_traces_per_second == 3
        assert sum(mine.is_sampled(i)[0] for i in IDS) <= 4

        mine = ours(sampling.url, "per-op")
        jt = jaeger_tracers["per-op"].sampler
        wait_for(lambda: isinstance(jt.sampler, JaegerAdaptive))
        assert isinstance(mine.sampler, PerOperationSampler)
        for op in ("GET /checkout", "GET /health", "POST /other"):
            assert [mine.is_sampled(i, op)[0] for i in IDS] == [jt.is_sampled(i, op)[0] for i in IDS], op
        assert all(mine.is_sampled(i, "GET /checkout")[0] for i in IDS[:10])
        assert not any(mine.is_sampled(i, "GET /health")[0] for i in IDS)
        mine.close()
    finally:
        for t in jaeger_tracers.values():
            t.close()


def test_strategy_change_is_picked_up(sampling):
    mine = RemoteControlledSampler("svc", sampling.url, sampling_refresh_interval=0.05)
    wait_for(lambda: isinstance(mine.sampler, ProbabilisticSampler) and mine.sampler.rate == 0.5)
    sampling.path.write_text(json.dumps({"default_strategy": {"type": "ratelimiting", "param": 11}}))
    wait_for(lambda: isinstance(mine.sampler, RateLimitingSampler) and mine.sampler.max_traces_per_second == 11)
    mine.close()


def test_unreachable_server_keeps_the_initial_sampler():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/sampling"
    initial = ProbabilisticSampler(0.2)
    sampler = RemoteControlledSampler("svc", url, initial_sampler=initial, timeout=1)
    assert sampler.wait_for_poll(5)
    assert sampler.sampler is initial and sampler.errors >= 1 and "URLError" in sampler.last_error
    assert sampler.is_sampled(0)[0] is True
    sampler.close()


def test_bad_answer_keeps_the_current_sampler(all_in_one):
    url = all_in_one.url("collector_http", "/api/traces")  # 405 for GET
    sampler = RemoteControlledSampler("svc", url, start=False)
    assert sampler.update() is False and sampler.errors == 1
    assert isinstance(sampler.sampler, ProbabilisticSampler) and sampler.sampler.rate == 0.001


def test_end_to_end_root_spans_carry_sampler_tags(sampling):
    all_in_one = sampling.aio
    tracer = Config(
        {"sampler": {"type": "remote", "sampling_server_url": sampling.url},
         "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": all_in_one.ports["agent_jaeger_compact"]}},
        service_name="per-op",
    ).new_tracer()
    assert tracer.sampler.wait_for_poll(5)
    checkout = tracer.start_span("GET /checkout")
    tracer.start_span("db", child_of=checkout).finish()
    checkout.finish()
    health = tracer.start_span("GET /health")
    health.finish()
    tracer.close()
    reader = all_in_one.app.storage.trace_reader()
    spans = wait_for(lambda: len(reader.get_trace(checkout.trace_id)) == 2 and reader.get_trace(checkout.trace_id))
    root = next(s for s in spans if s.name == "GET /checkout")
    assert dict(root.attributes) == {"sampler.type": "probabilistic", "sampler.param": 1.0}
    assert next(s for s in spans if s.name == "db").attributes == []
    assert not health.sampled and reader.get_trace(health.trace_id) == []
