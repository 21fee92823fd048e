"""``jaeger.api_v2.SamplingManager/GetSamplingStrategy`` on a real gRPC server, called
through the generated client stub."""

from __future__ import annotations

import grpc

from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.codecs.proto.jaeger.api_v2.sampling_pb2_grpc import SamplingManagerStub
from spyglass.collector.sampling import SERVICE_NAMES, StaticStrategyProvider, StrategyProvider, parse_strategies, register
from spyglass.server import GrpcServer

PROVIDER = StaticStrategyProvider(parse_strategies({
    "default_strategy": {"type": "probabilistic", "param": 0.5,
                         "operation_strategies": [{"operation": "op", "type": "probabilistic", "param": 0.2}]},
    "service_strategies": [{"service": "rl", "type": "ratelimiting", "param": 9}],
}))


async def call(provider: StrategyProvider, service: str):
    server = GrpcServer("grpc", "127.0.0.1", 0, [lambda s: register(s, provider)], SERVICE_NAMES)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            return await SamplingManagerStub(channel).GetSamplingStrategy(pb.SamplingStrategyParameters(serviceName=service))
    finally:
        await server.stop()


async def test_get_sampling_strategy():
    resp = await call(PROVIDER, "rl")
    assert resp.strategyType == pb.RATE_LIMITING and resp.rateLimitingSampling.maxTracesPerSecond == 9
    resp = await call(PROVIDER, "")
    assert resp.probabilisticSampling.samplingRate == 0.5
    assert [(s.operation, s.probabilisticSampling.samplingRate) for s in resp.operationSampling.perOperationStrategies] == [("op", 0.2)]


class Broken(StrategyProvider):
    def get_strategy(self, service: str):
        raise RuntimeError("boom")


async def test_provider_error_is_internal():
    try:
        await call(Broken(), "x")
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INTERNAL and "collector error: boom" in exc.details()
    else:
        raise AssertionError("expected INTERNAL")
