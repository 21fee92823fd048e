"""``spyglass agent``'s sampling proxy in front of an adaptive collector: SDKs asking the
agent (5778) get the collector's per-operation probabilities, fetched over gRPC."""

from __future__ import annotations

import asyncio

import aiohttp
from agent.test_agent import start_agent
from conftest import RunningAllInOne


async def test_agent_serves_the_adaptive_probabilities() -> None:
    collector = await asyncio.to_thread(RunningAllInOne, sampling_type="adaptive")
    collector.app.sampling.processor._set({"shop": {"GET /": 0.125}})
    agent = await start_agent(f"127.0.0.1:{collector.ports['collector_grpc']}")
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{agent.ports['agent_sampling']}/sampling?service=shop") as resp:
                assert resp.status == 200
                body = await resp.json()
        assert body["strategyType"] == "PROBABILISTIC"
        assert body["operationSampling"]["perOperationStrategies"] == [
            {"operation": "GET /", "probabilisticSampling": {"samplingRate": 0.125}}]
        assert body["operationSampling"]["defaultSamplingProbability"] == 0.001
    finally:
        await agent.stop()
        await asyncio.to_thread(collector.close)
