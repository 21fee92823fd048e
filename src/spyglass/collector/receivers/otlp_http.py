"""OTLP over HTTP: ``POST /v1/traces`` (port 4318), protobuf or JSON.

Follows the OTLP/HTTP spec:

* ``Content-Type: application/x-protobuf`` or ``application/json``; anything else is 415.
  The response (``ExportTraceServiceResponse``, with ``partial_success`` when spans were
  rejected) uses the request's content type.
* ``Content-Encoding: gzip`` / ``x-gzip`` / ``deflate`` bodies are inflated as they
  arrive by ``receivers.body``, never past ``max_body_bytes``, so a zip bomb is cut off at
  the limit with 413 instead of filling memory; other encodings are 415.
* A payload that does not decode is 400 with a ``google.rpc.Status`` body (protobuf or
  JSON, like the request); 413 above the size limit; a full queue is 503 with
  ``Retry-After`` (before the body is read while the queue has no room:
  ``processor.refuse_undecoded``) (the spec lists 429, 502, 503 and 504 as retryable). Other methods on
  the route get 405 from the router.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from aiohttp import hdrs, web
from google.rpc import code_pb2, status_pb2

from spyglass.codecs import otlp_json, otlp_proto
from spyglass.codecs.errors import DecodeError
from spyglass.collector.processor import QUEUE_FULL_MESSAGE, ServerBusy, SpanProcessor, partial_success, refuse_undecoded
from spyglass.collector.receivers import body as body_mod
from spyglass.collector.receivers.body import BudgetExhausted, Lease, ENCODINGS, BodyTimeout, BodyTooLarge, ClientGone, read_body
from spyglass.collector.receivers.offload import decode_payload
from spyglass.model import Span
from spyglass.server.http_server import DEFAULT_MAX_BODY
from spyglass.tenancy import gate as tenancy_gate
from spyglass.tenancy import web as tenancy_web
from spyglass.tenancy.gate import RateLimited, TenancyGate

RECEIVER = "otlp_http"
FORMAT_PROTO = "otlp_proto"
FORMAT_JSON = "otlp_json"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PATH = "/v1/traces"

Decoder = Callable[[bytes], tuple[list[Span], int, str]]


def _status_body(json: bool, code: int, message: str) -> bytes:
    if json:
        return orjson.dumps({"code": code, "message": message})
    return status_pb2.Status(code=code, message=message).SerializeToString()


class _TracesHandler:
    def __init__(self, processor: SpanProcessor, max_body_bytes: int, tenancy: TenancyGate | None = None) -> None:
        self.processor = processor
        self.tenancy = tenancy
        self.max_body_bytes = max_body_bytes

    async def handle(self, request: web.Request) -> web.Response:
        with body_mod.PROCESS_BUDGET.lease() as lease:  # held until the body is decoded
            return await self._handle(request, lease)

    async def _handle(self, request: web.Request, lease: Lease) -> web.Response:
        metrics = self.processor.metrics
        refused = tenancy_web.refuse_or_bind(self.tenancy, request, RECEIVER)
        if refused is not None:
            return refused
        media_type = request.headers.get(hdrs.CONTENT_TYPE, "").split(";", 1)[0].strip().lower()
        if media_type == PROTOBUF:
            is_json, fmt = False, FORMAT_PROTO
            decode: Decoder = otlp_proto.decode_export_request_partial
        elif media_type == JSON:
            is_json, fmt = True, FORMAT_JSON
            decode = otlp_json.decode_export_request_partial
        else:
            metrics.reject_request(RECEIVER, FORMAT_PROTO, "unsupported_content_type")
            return web.Response(
                status=415, text=f"unsupported content type {media_type!r}; use {PROTOBUF} or {JSON}\n"
            )

        def reply(status: int, code: int, message: str, **headers: str) -> web.Response:
            return web.Response(
                status=status,
                body=_status_body(is_json, code, message),
                content_type=JSON if is_json else PROTOBUF,
                headers=headers or None,
            )

        encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
        if encoding not in ENCODINGS:
            metrics.reject_request(RECEIVER, fmt, "unsupported_encoding")
            return web.Response(status=415, text=f"unsupported content encoding {encoding!r}\n")
        if refuse_undecoded(self.processor, RECEIVER, fmt):  # neither read nor decoded
            return reply(503, code_pb2.UNAVAILABLE, f"server busy, retry later: {QUEUE_FULL_MESSAGE}",
                         **{hdrs.RETRY_AFTER: "1", hdrs.CONNECTION: "close"})
        try:
            body = await read_body(request, self.max_body_bytes, lease)
        except BodyTooLarge:
            metrics.reject_request(RECEIVER, fmt, "too_large")
            return reply(413, code_pb2.RESOURCE_EXHAUSTED, f"body exceeds {self.max_body_bytes} bytes", **{hdrs.CONNECTION: "close"})
        except DecodeError as exc:  # a bad gzip / deflate stream or broken chunking
            metrics.reject_request(RECEIVER, fmt, "decode_error")
            return reply(400, code_pb2.INVALID_ARGUMENT, str(exc), **{hdrs.CONNECTION: "close"})
        except BudgetExhausted:
            metrics.reject_request(RECEIVER, fmt, "body_memory")
            return reply(503, code_pb2.UNAVAILABLE, "server busy reading other bodies, retry later", **{hdrs.RETRY_AFTER: "1", hdrs.CONNECTION: "close"})
        except BodyTimeout:
            metrics.reject_request(RECEIVER, fmt, "body_timeout")
            return reply(408, code_pb2.DEADLINE_EXCEEDED, "request body stalled", **{hdrs.CONNECTION: "close"})
        except ClientGone:
            metrics.reject_request(RECEIVER, fmt, "client_disconnected")
            raise web.HTTPBadRequest from None  # never sent: the connection is gone
        try:
            spans, rejected, error = await decode_payload(decode, body)
        except DecodeError as exc:
            metrics.reject_request(RECEIVER, fmt, "decode_error")
            return reply(400, code_pb2.INVALID_ARGUMENT, str(exc))
        if rejected:
            metrics.spans_rejected.labels(RECEIVER, fmt, "invalid_span").inc(rejected)
            metrics.spans_dropped.labels("invalid_span").inc(rejected)
        try:
            submitted = await tenancy_gate.accept(self.tenancy, self.processor, spans, tenancy_web.tenant_of(request),
                                                  receiver=RECEIVER, fmt=fmt, nbytes=len(body))
        except RateLimited as exc:
            return reply(429, code_pb2.RESOURCE_EXHAUSTED, str(exc), **{hdrs.RETRY_AFTER: "1"})
        except ServerBusy as exc:
            return reply(503, code_pb2.UNAVAILABLE, f"server busy, retry later: {exc}", **{hdrs.RETRY_AFTER: "1"})
        rejected, error = partial_success(rejected, error, submitted)
        module = otlp_json if is_json else otlp_proto
        return web.Response(
            status=200, body=module.export_response(rejected, error), content_type=JSON if is_json else PROTOBUF
        )


def add_routes(app: web.Application, processor: SpanProcessor, max_body_bytes: int = DEFAULT_MAX_BODY,
               tenancy: TenancyGate | None = None) -> None:
    """Add ``POST /v1/traces`` to ``app`` (whose ``client_max_size`` should be at least
    ``max_body_bytes``; it also bounds the inflated size of compressed bodies)."""
    app.router.add_post(PATH, _TracesHandler(processor, max_body_bytes, tenancy).handle)


def build_app(processor: SpanProcessor, max_body_bytes: int = DEFAULT_MAX_BODY,
              tenancy: TenancyGate | None = None) -> web.Application:
    """The OTLP/HTTP receiver application (with ``tenancy``: each request's tenant)."""
    app = web.Application(client_max_size=max_body_bytes)
    add_routes(app, processor, max_body_bytes, tenancy)
    return app
