"""``jaeger.api_v2.SamplingManager/GetSamplingStrategy`` on the collector's gRPC port
(14250), for SDKs and agents that fetch strategies over gRPC (OpenTelemetry's Jaeger
remote samplers, the Jaeger agent with a gRPC reporter)."""

from __future__ import annotations

import grpc

from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.collector.sampling.provider import StrategyProvider
from spyglass.tenancy.gate import TenancyGate
from spyglass.tenancy.resolve import TenantError, TenantMissing
from spyglass.tenancy.rpc import CODES

SERVICE = "jaeger.api_v2.SamplingManager"
SERVICE_NAMES = (SERVICE,)


class _GetSamplingStrategy:
    def __init__(self, provider: StrategyProvider, tenancy: TenancyGate | None = None) -> None:
        self.provider = provider
        self.tenancy = tenancy

    async def _tenant(self, context: grpc.aio.ServicerContext) -> str:
        """The call's tenant; none (the shared strategies) when it names none."""
        gate = self.tenancy
        if gate is None or not gate.enabled:
            return ""
        values = [v if isinstance(v, str) else v.decode("utf-8", "replace")
                  for k, v in (context.invocation_metadata() or ()) if k.lower() == gate.config.header]
        try:
            return gate.resolve(values, "sampling_grpc")
        except TenantMissing:
            return ""
        except TenantError as exc:
            await context.abort(CODES[exc.kind], str(exc))
            raise

    async def handle(self, request: pb.SamplingStrategyParameters, context: grpc.aio.ServicerContext) -> pb.SamplingStrategyResponse:
        tenant = await self._tenant(context)
        try:
            if tenant:
                return self.provider.get_tenant_strategy(tenant, request.serviceName)
            return self.provider.get_strategy(request.serviceName)
        except Exception as exc:
            await context.abort(grpc.StatusCode.INTERNAL, f"collector error: {exc}")
            raise  # unreachable: abort raises


def register(server: grpc.aio.Server, provider: StrategyProvider, tenancy: TenancyGate | None = None) -> None:
    """Add ``SamplingManager/GetSamplingStrategy`` to ``server`` (before it starts)."""
    handlers = {
        "GetSamplingStrategy": grpc.unary_unary_rpc_method_handler(
            _GetSamplingStrategy(provider, tenancy).handle,
            request_deserializer=pb.SamplingStrategyParameters.FromString,
            response_serializer=pb.SamplingStrategyResponse.SerializeToString,
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if hasattr(server, "add_registered_method_handlers"):
        server.add_registered_method_handlers(SERVICE, handlers)
