"""OTLP over gRPC: ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` (4317).

The request is decoded from raw bytes by ``spyglass.codecs.otlp_proto``. Spans with
invalid IDs (and, in the processor, spans no storage can hold) are rejected one by one and reported in the response's ``partial_success``
(the request still succeeds, as the OTLP spec asks). A payload that does not decode is
INVALID_ARGUMENT (not retryable). A full queue is UNAVAILABLE (before decoding while the
queue has no room: ``processor.refuse_undecoded``): the OTLP spec lists it as
retryable, so SDK exporters back off and resend, whereas RESOURCE_EXHAUSTED is only
retried when the server sends RetryInfo.
"""

from __future__ import annotations


import grpc

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.otlp_proto import decode_export_request_partial, export_response
from spyglass.collector.processor import QUEUE_FULL_MESSAGE, ServerBusy, SpanProcessor, partial_success, refuse_undecoded
from spyglass.collector.receivers.offload import decode_payload
from spyglass.tenancy import gate as tenancy_gate
from spyglass.tenancy import rpc as tenancy_rpc
from spyglass.tenancy.gate import RateLimited, TenancyGate

RECEIVER = "otlp_grpc"
FORMAT = "otlp_proto"
SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
SERVICE_NAMES = (SERVICE,)

_OK_RESPONSE = export_response()


class _Export:
    def __init__(self, processor: SpanProcessor, tenancy: TenancyGate | None = None) -> None:
        self.processor = processor
        self.tenancy = tenancy

    async def handle(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        metrics = self.processor.metrics
        tenant = await tenancy_rpc.tenant_of(self.tenancy, context, RECEIVER)
        if refuse_undecoded(self.processor, RECEIVER, FORMAT):
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"server busy, retry later: {QUEUE_FULL_MESSAGE}")
        try:
            decoded = await decode_payload(decode_export_request_partial, request)
        except DecodeError as exc:
            metrics.reject_request(RECEIVER, FORMAT, "decode_error")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode ExportTraceServiceRequest: {exc}")
        spans, rejected, error = decoded
        if rejected:
            metrics.spans_rejected.labels(RECEIVER, FORMAT, "invalid_span").inc(rejected)
            metrics.spans_dropped.labels("invalid_span").inc(rejected)
        try:
            submitted = await tenancy_gate.accept(self.tenancy, self.processor, spans, tenant,
                                                  receiver=RECEIVER, fmt=FORMAT, nbytes=len(request))
        except RateLimited as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except ServerBusy as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"server busy, retry later: {exc}")
        rejected, error = partial_success(rejected, error, submitted)
        return export_response(rejected, error) if rejected else _OK_RESPONSE


def register(server: grpc.aio.Server, processor: SpanProcessor, tenancy: TenancyGate | None = None) -> None:
    """Add ``TraceService/Export`` to ``server`` (before it starts)."""
    handlers = {
        "Export": grpc.unary_unary_rpc_method_handler(_Export(processor, tenancy).handle, request_deserializer=None, response_serializer=None)
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if hasattr(server, "add_registered_method_handlers"):
        server.add_registered_method_handlers(SERVICE, handlers)
