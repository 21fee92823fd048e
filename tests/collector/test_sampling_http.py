"""The sampling HTTP endpoints on real servers: the agent app (5778 ``/sampling`` and
``/``) and ``/api/sampling`` added to the collector's Thrift HTTP app (14268)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers import jaeger_http
from spyglass.collector.sampling import StaticStrategyProvider, StrategyProvider, add_routes, build_sampling_app, parse_strategies
from spyglass.config import Settings
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryStore

PROVIDER = StaticStrategyProvider(parse_strategies({"service_strategies": [{"service": "rl", "type": "ratelimiting", "param": 42}]}, 0.001))


async def serve(app) -> tuple[HttpServer, str]:
    server = HttpServer("test", "127.0.0.1", 0, app)
    await server.start()
    return server, f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def agent() -> AsyncIterator[str]:
    server, base = await serve(build_sampling_app(PROVIDER))
    yield base
    await server.stop()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_agent_sampling_forms(agent):
    assert await get(f"{agent}/sampling?service=rl") == (
        200, "application/json", '{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}')
    assert await get(f"{agent}/?service=rl") == (
        200, "application/json", '{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":42}}')
    assert (await get(f"{agent}/sampling?service=other"))[2] == (
        '{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}')


@pytest.mark.parametrize("query", ["", "?service=a&service=b", "?svc=a"])
async def test_service_must_be_given_once(agent, query):
    for path in ("/sampling", "/"):
        status, ctype, text = await get(f"{agent}{path}{query}")
        assert (status, text) == (400, "'service' parameter must be provided once\n")
        assert ctype.startswith("text/plain")


class Broken(StrategyProvider):
    def get_strategy(self, service: str):
        raise RuntimeError("store unavailable")


async def test_provider_error_is_500():
    server, base = await serve(build_sampling_app(Broken()))
    try:
        assert await get(f"{base}/sampling?service=x") == (500, "text/plain; charset=utf-8", "collector error: store unavailable\n")
    finally:
        await server.stop()


async def test_collector_api_sampling_next_to_api_traces():
    processor = SpanProcessor(MemoryStore(), IngestMetrics(), ProcessorConfig(queue_size=10))
    app = jaeger_http.build_app(processor)
    add_routes(app, PROVIDER)
    server, base = await serve(app)
    try:
        assert (await get(f"{base}/api/sampling?service=rl"))[:2] == (200, "application/json")
        assert (await get(f"{base}/api/sampling"))[0] == 400
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/api/traces", data=b"", headers={"Content-Type": "text/plain"}) as resp:
                assert resp.status == 400  # the traces route is still there
    finally:
        await server.stop()


WIRED = {"agent_sampling_port", "sampling_strategies_file"} <= {f.name for f in dataclasses.fields(Settings)}


@pytest.mark.skipif(not WIRED, reason="the all-in-one does not serve sampling yet (settings not added)")
def test_all_in_one_serves_every_sampling_endpoint(tmp_path):
    import grpc as grpc_sync
    import requests
    from conftest import RunningAllInOne

    from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
    from spyglass.codecs.proto.jaeger.api_v2.sampling_pb2_grpc import SamplingManagerStub

    path = tmp_path / "s.json"
    path.write_text('{"service_strategies": [{"service": "rl", "type": "ratelimiting", "param": 42}]}')
    aio = RunningAllInOne(agent_sampling_port=0, sampling_strategies_file=str(path))
    try:
        proto = '{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}'
        assert requests.get(aio.url("agent_sampling", "/sampling?service=rl")).text == proto
        assert requests.get(aio.url("agent_sampling", "/?service=rl")).text == (
            '{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":42}}')
        assert requests.get(aio.url("collector_http", "/api/sampling?service=rl")).text == proto
        with grpc_sync.insecure_channel(f"127.0.0.1:{aio.ports['collector_grpc']}") as channel:
            resp = SamplingManagerStub(channel).GetSamplingStrategy(pb.SamplingStrategyParameters(serviceName="rl"))
        assert resp.rateLimitingSampling.maxTracesPerSecond == 42
    finally:
        aio.close()
