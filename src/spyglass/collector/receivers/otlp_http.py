"""OTLP over HTTP: ``POST /v1/traces`` (port 4318), protobuf or JSON.

Follows the OTLP/HTTP spec:

* ``Content-Type: application/x-protobuf`` or ``application/json``; anything else is 415.
  The response (``ExportTraceServiceResponse``, with ``partial_success`` when spans were
  rejected) uses the request's content type.
* ``Content-Encoding: gzip`` / ``deflate`` bodies are inflated by aiohttp while they are
  read, bounded by the application's ``client_max_size`` (= ``max_body_bytes``), so a
  zip bomb is cut off at the limit with 413 instead of filling memory. ``x-gzip`` is
  inflated here with the same bound; other encodings are 415.
* A payload that does not decode is 400 with a ``google.rpc.Status`` body (protobuf or
  JSON, like the request); 413 above the size limit; a full queue is 503 with
  ``Retry-After`` (the spec lists 429, 502, 503 and 504 as retryable). Other methods on
  the route get 405 from the router.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import orjson
from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from google.rpc import code_pb2, status_pb2

from spyglass.codecs import otlp_json, otlp_proto
from spyglass.codecs.errors import DecodeError
from spyglass.collector.processor import ServerBusy, SpanProcessor, partial_success
from spyglass.collector.receivers.offload import decode_payload
from spyglass.model import Span
from spyglass.server.http_server import DEFAULT_MAX_BODY

RECEIVER = "otlp_http"
FORMAT_PROTO = "otlp_proto"
FORMAT_JSON = "otlp_json"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PATH = "/v1/traces"

_AUTO_INFLATED = frozenset({"gzip", "deflate"})  # aiohttp inflates these while reading

Decoder = Callable[[bytes], tuple[list[Span], int, str]]


class _BodyTooLarge(Exception):
    pass


def _inflate(data: bytes, limit: int) -> bytes:
    """gzip-inflate ``data`` (all members) into at most ``limit`` bytes."""
    out = bytearray()
    while data:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += d.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise DecodeError(f"invalid gzip body: {exc}") from None
        if len(out) > limit:
            raise _BodyTooLarge
        if not d.eof:
            raise DecodeError("truncated gzip body")
        data = d.unused_data
    return bytes(out)


def _status_body(json: bool, code: int, message: str) -> bytes:
    if json:
        return orjson.dumps({"code": code, "message": message})
    return status_pb2.Status(code=code, message=message).SerializeToString()


class _TracesHandler:
    def __init__(self, processor: SpanProcessor, max_body_bytes: int) -> None:
        self.processor = processor
        self.max_body_bytes = max_body_bytes

    async def handle(self, request: web.Request) -> web.Response:
        metrics = self.processor.metrics
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
        if encoding not in ("", "identity", "x-gzip") and encoding not in _AUTO_INFLATED:
            metrics.reject_request(RECEIVER, fmt, "unsupported_encoding")
            return web.Response(status=415, text=f"unsupported content encoding {encoding!r}\n")
        declared = request.content_length
        if declared is not None and declared > self.max_body_bytes:
            metrics.reject_request(RECEIVER, fmt, "too_large")
            return reply(413, code_pb2.RESOURCE_EXHAUSTED, f"body of {declared} bytes exceeds {self.max_body_bytes}", **{hdrs.CONNECTION: "close"})
        try:
            body = await request.read()  # inflated by aiohttp, at most client_max_size bytes
            if encoding == "x-gzip":
                body = _inflate(body, self.max_body_bytes)
        except (web.HTTPRequestEntityTooLarge, _BodyTooLarge):
            metrics.reject_request(RECEIVER, fmt, "too_large")
            return reply(413, code_pb2.RESOURCE_EXHAUSTED, f"body exceeds {self.max_body_bytes} bytes")
        except DecodeError as exc:
            metrics.reject_request(RECEIVER, fmt, "decode_error")
            return reply(400, code_pb2.INVALID_ARGUMENT, str(exc))
        except (web.RequestPayloadError, HttpProcessingError) as exc:  # a bad gzip / deflate stream
            metrics.reject_request(RECEIVER, fmt, "decode_error")
            return reply(400, code_pb2.INVALID_ARGUMENT, f"cannot read body: {exc}".replace("\n", " "))
        try:
            spans, rejected, error = await decode_payload(decode, body)
        except DecodeError as exc:
            metrics.reject_request(RECEIVER, fmt, "decode_error")
            return reply(400, code_pb2.INVALID_ARGUMENT, str(exc))
        if rejected:
            metrics.spans_rejected.labels(RECEIVER, fmt, "invalid_span").inc(rejected)
            metrics.spans_dropped.labels("invalid_span").inc(rejected)
        try:
            submitted = await self.processor.accept(spans, receiver=RECEIVER, fmt=fmt, nbytes=len(body))
        except ServerBusy as exc:
            return reply(503, code_pb2.UNAVAILABLE, f"server busy, retry later: {exc}", **{hdrs.RETRY_AFTER: "1"})
        rejected, error = partial_success(rejected, error, submitted)
        module = otlp_json if is_json else otlp_proto
        return web.Response(
            status=200, body=module.export_response(rejected, error), content_type=JSON if is_json else PROTOBUF
        )


def add_routes(app: web.Application, processor: SpanProcessor, max_body_bytes: int = DEFAULT_MAX_BODY) -> None:
    """Add ``POST /v1/traces`` to ``app`` (whose ``client_max_size`` should be at least
    ``max_body_bytes``; it also bounds the inflated size of compressed bodies)."""
    app.router.add_post(PATH, _TracesHandler(processor, max_body_bytes).handle)


def build_app(processor: SpanProcessor, max_body_bytes: int = DEFAULT_MAX_BODY) -> web.Application:
    """The OTLP/HTTP receiver application."""
    app = web.Application(client_max_size=max_body_bytes)
    add_routes(app, processor, max_body_bytes)
    return app
