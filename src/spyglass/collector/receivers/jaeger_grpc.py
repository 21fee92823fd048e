"""Jaeger protobuf over gRPC: ``jaeger.api_v2.CollectorService/PostSpans`` (port 14250).

Used by the Jaeger agent, by SDKs' Jaeger gRPC exporters and by Jaeger collectors
forwarding to each other. The request is handed to the codec as raw bytes (no generated
deserializer), because ``spyglass.codecs.jaeger_proto`` decodes faster from bytes than
from a parsed message. A payload that does not decode is INVALID_ARGUMENT, and so is a
request with spans no storage can hold (``spyglass.collector.validation``; the message
says how many, the others are stored); a full queue is RESOURCE_EXHAUSTED (before decoding
while the queue has no room: ``processor.refuse_undecoded``), which the
agent's reporter retries; storage that cannot take spans is UNAVAILABLE (retryable too).
"""

from __future__ import annotations


import grpc

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.jaeger_proto import decode_post_spans
from spyglass.collector.processor import (QUEUE_FULL_MESSAGE, ServerBusy, SpanProcessor, StorageUnhealthy,
                                          refuse_undecoded, rejection_text)
from spyglass.collector.receivers.offload import decode_payload
from spyglass.tenancy import gate as tenancy_gate
from spyglass.tenancy import rpc as tenancy_rpc
from spyglass.tenancy.gate import RateLimited, TenancyGate

RECEIVER = "jaeger_grpc"
FORMAT = "jaeger_proto"
SERVICE = "jaeger.api_v2.CollectorService"
SERVICE_NAMES = (SERVICE,)

_EMPTY_RESPONSE = b""  # PostSpansResponse has no fields


class _PostSpans:
    def __init__(self, processor: SpanProcessor, tenancy: TenancyGate | None = None) -> None:
        self.processor = processor
        self.tenancy = tenancy

    async def handle(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        metrics = self.processor.metrics
        tenant = await tenancy_rpc.tenant_of(self.tenancy, context, RECEIVER)
        if refuse_undecoded(self.processor, RECEIVER, FORMAT):
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"server busy, retry later: {QUEUE_FULL_MESSAGE}")
        try:
            spans = await decode_payload(decode_post_spans, request)
        except DecodeError as exc:
            metrics.reject_request(RECEIVER, FORMAT, "decode_error")
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode PostSpansRequest: {exc}")
        try:
            submitted = await tenancy_gate.accept(self.tenancy, self.processor, spans, tenant,
                                                  receiver=RECEIVER, fmt=FORMAT, nbytes=len(request))
        except RateLimited as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except StorageUnhealthy as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"retry later: {exc}")
        except ServerBusy as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"server busy, retry later: {exc}")
        if submitted.rejected:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, rejection_text(submitted))
        return _EMPTY_RESPONSE


def register(server: grpc.aio.Server, processor: SpanProcessor, tenancy: TenancyGate | None = None) -> None:
    """Add ``CollectorService/PostSpans`` to ``server`` (before it starts)."""
    handlers = {
        "PostSpans": grpc.unary_unary_rpc_method_handler(
            _PostSpans(processor, tenancy).handle, request_deserializer=None, response_serializer=None
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if hasattr(server, "add_registered_method_handlers"):  # grpcio >= 1.62: faster dispatch
        server.add_registered_method_handlers(SERVICE, handlers)
