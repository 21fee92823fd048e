"""``jaeger.api_v2.SamplingManager/GetSamplingStrategy`` on the collector's gRPC port
(14250), for SDKs and agents that fetch strategies over gRPC (OpenTelemetry's Jaeger
remote samplers, the Jaeger agent with a gRPC reporter)."""

from __future__ import annotations

import grpc

from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.collector.sampling.provider import StrategyProvider

SERVICE = "jaeger.api_v2.SamplingManager"
SERVICE_NAMES = (SERVICE,)


class _GetSamplingStrategy:
    def __init__(self, provider: StrategyProvider) -> None:
        self.provider = provider

    async def handle(self, request: pb.SamplingStrategyParameters, context: grpc.aio.ServicerContext) -> pb.SamplingStrategyResponse:
        try:
            return self.provider.get_strategy(request.serviceName)
        except Exception as exc:
            await context.abort(grpc.StatusCode.INTERNAL, f"collector error: {exc}")
            raise  # unreachable: abort raises


def register(server: grpc.aio.Server, provider: StrategyProvider) -> None:
    """Add ``SamplingManager/GetSamplingStrategy`` to ``server`` (before it starts)."""
    handlers = {
        "GetSamplingStrategy": grpc.unary_unary_rpc_method_handler(
            _GetSamplingStrategy(provider).handle,
            request_deserializer=pb.SamplingStrategyParameters.FromString,
            response_serializer=pb.SamplingStrategyResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if hasattr(server, "add_registered_method_handlers"):
        server.add_registered_method_handlers(SERVICE, handlers)
