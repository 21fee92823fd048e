"""Zipkin's HTTP API on the collector (port 9411): ``POST /api/v2/spans`` and ``/api/v1/spans``.

==================  ==========================  =================  ===================
route               Content-Type                body               ``fmt`` label
==================  ==========================  =================  ===================
``/api/v2/spans``   ``application/json`` or     v2 JSON array      ``zipkin_v2_json``
                    none
``/api/v2/spans``   ``application/x-protobuf``  proto3 ListOfSpans ``zipkin_v2_proto``
``/api/v1/spans``   ``application/json`` or     v1 JSON array      ``zipkin_v1_json``
                    none
``/api/v1/spans``   ``application/x-thrift``    binary list<Span>  ``zipkin_v1_thrift``
==================  ==========================  =================  ===================

Replies follow Zipkin's collector and the OpenTelemetry ``zipkinreceiver`` Jaeger v2 uses:
202 Accepted with an empty body; 400 ``Unsupported Content-Type`` for any other media type
(a missing one is JSON, as in Zipkin); 400 with the decoder's message for a payload that
does not decode (or an undecodable ``Content-Encoding``); 400 naming how many spans were
refused as unstorable (the request's other spans are stored:
``spyglass.collector.validation``); 413 above the body limit; 503
with ``Retry-After`` when the span queue is full.

``Content-Encoding: gzip`` (and ``deflate``) is inflated as it arrives by
``receivers.body``, never past ``max_body_bytes``, so a gzip bomb is refused with 413
once that much has been inflated, never held whole. Other encodings are refused with 400.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import hdrs, web

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.zipkin_json_v1 import decode_zipkin_json_v1
from spyglass.codecs.zipkin_json_v2 import decode_zipkin_json_v2
from spyglass.codecs.zipkin_proto import decode_zipkin_proto
from spyglass.codecs.zipkin_thrift import decode_zipkin_thrift
from spyglass.collector.processor import QUEUE_FULL_MESSAGE, ServerBusy, SpanProcessor, refuse_undecoded, rejection_text
from spyglass.tenancy import gate as tenancy_gate
from spyglass.tenancy import web as tenancy_web
from spyglass.tenancy.gate import RateLimited, TenancyGate
from spyglass.collector.receivers import body as body_mod
from spyglass.collector.receivers.body import BudgetExhausted, Lease, BodyTimeout, BodyTooLarge, ClientGone, read_body
from spyglass.collector.receivers.offload import decode_payload
from spyglass.model import Span
from spyglass.server.http_server import DEFAULT_MAX_BODY

RECEIVER = "zipkin_http"
FMT_V2_JSON = "zipkin_v2_json"
FMT_V2_PROTO = "zipkin_v2_proto"
FMT_V1_JSON = "zipkin_v1_json"
FMT_V1_THRIFT = "zipkin_v1_thrift"
_UNKNOWN_FMT = "unknown"

Decoder = Callable[[bytes], list[Span]]

# route -> media type -> (format label, decoder); "" is a request without Content-Type.
ROUTES: dict[str, dict[str, tuple[str, Decoder]]] = {
    "/api/v2/spans": {
        "": (FMT_V2_JSON, decode_zipkin_json_v2),
        "application/json": (FMT_V2_JSON, decode_zipkin_json_v2),
        "application/x-protobuf": (FMT_V2_PROTO, decode_zipkin_proto),
    },
    "/api/v1/spans": {
        "": (FMT_V1_JSON, decode_zipkin_json_v1),
        "application/json": (FMT_V1_JSON, decode_zipkin_json_v1),
        "application/x-thrift": (FMT_V1_THRIFT, decode_zipkin_thrift),
    },
}

# Encodings inflated by ``read_body`` (see the module docstring).
_ENCODINGS = frozenset({"", "identity", "gzip", "deflate"})

# Bodies above this are decoded in a worker thread: the GIL still serialises the work,
# but the event loop keeps answering other requests every switch interval.


def _error(status: int, text: str, close: bool = False, **headers: str) -> web.Response:
    response = web.Response(status=status, text=text + "\n", headers=headers or None)
    if close:
        response.force_close()  # the rest of the body may still be on the connection
    return response


class _SpansHandler:
    def __init__(self, processor: SpanProcessor, max_body_bytes: int, formats: dict[str, tuple[str, Decoder]],
                 tenancy: TenancyGate | None = None) -> None:
        self.processor = processor
        self.tenancy = tenancy
        self.max_body_bytes = max_body_bytes
        self.formats = formats

    async def handle(self, request: web.Request) -> web.Response:
        with body_mod.PROCESS_BUDGET.lease() as lease:  # held until the body is decoded
            return await self._handle(request, lease)

    async def _handle(self, request: web.Request, lease: Lease) -> web.Response:
        metrics = self.processor.metrics
        refused = tenancy_web.refuse_or_bind(self.tenancy, request, RECEIVER)
        if refused is not None:
            return refused
        media_type = request.headers.get(hdrs.CONTENT_TYPE, "").split(";", 1)[0].strip().lower()
        chosen = self.formats.get(media_type)
        if chosen is None:
            metrics.reject_request(RECEIVER, _UNKNOWN_FMT, "unsupported_content_type")
            return _error(400, f"Unsupported Content-Type: {media_type}", close=True)
        fmt, decode = chosen
        encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
        if encoding not in _ENCODINGS:
            metrics.reject_request(RECEIVER, fmt, "unsupported_content_encoding")
            return _error(400, f"Unsupported Content-Encoding: {encoding}", close=True)
        if refuse_undecoded(self.processor, RECEIVER, fmt):  # neither read nor decoded
            return _error(503, f"Server busy, retry later: {QUEUE_FULL_MESSAGE}", close=True, **{hdrs.RETRY_AFTER: "1"})
        try:
            body = await read_body(request, self.max_body_bytes, lease)
        except BodyTooLarge:
            metrics.reject_request(RECEIVER, fmt, "too_large")
            return _error(413, f"Request body exceeds the limit of {self.max_body_bytes} bytes", close=True)
        except DecodeError as exc:  # bad gzip, broken chunking
            metrics.reject_request(RECEIVER, fmt, "bad_encoding")
            return _error(400, f"Cannot read request body: {exc}", close=True)
        except BudgetExhausted:
            metrics.reject_request(RECEIVER, fmt, "body_memory")
            return _error(503, "Server busy reading other bodies, retry later", close=True, **{hdrs.RETRY_AFTER: "1"})
        except BodyTimeout:
            metrics.reject_request(RECEIVER, fmt, "body_timeout")
            return _error(408, "Request body stalled", close=True)
        except ClientGone:
            metrics.reject_request(RECEIVER, fmt, "client_disconnected")
            return _error(400, "Client went away", close=True)  # never sent: the connection is gone
        try:
            spans = await decode_payload(decode, body)
        except DecodeError as exc:
            metrics.reject_request(RECEIVER, fmt, "decode_error")
            return _error(400, f"Unable to process request body: {exc}")
        try:
            submitted = await tenancy_gate.accept(self.tenancy, self.processor, spans, tenancy_web.tenant_of(request),
                                                  receiver=RECEIVER, fmt=fmt, nbytes=len(body))
        except RateLimited as exc:
            return _error(429, str(exc), **{hdrs.RETRY_AFTER: "1"})
        except ServerBusy as exc:
            return _error(503, f"Server busy, retry later: {exc}", **{hdrs.RETRY_AFTER: "1"})
        if submitted.rejected:
            return _error(400, f"Unable to process request body: {rejection_text(submitted)}")
        return web.Response(status=202)


def add_routes(app: web.Application, processor: SpanProcessor, max_body_bytes: int = DEFAULT_MAX_BODY,
               tenancy: TenancyGate | None = None) -> None:
    """Add both Zipkin span routes to ``app`` (whose ``client_max_size`` should equal
    ``max_body_bytes``: it is what bounds inflated gzip bodies)."""
    for path, formats in ROUTES.items():
        app.router.add_post(path, _SpansHandler(processor, max_body_bytes, formats, tenancy).handle)


def build_app(processor: SpanProcessor, max_body_bytes: int = DEFAULT_MAX_BODY,
              tenancy: TenancyGate | None = None) -> web.Application:
    """The Zipkin collector application for port 9411; other methods get 405."""
    app = web.Application(client_max_size=max_body_bytes)
    add_routes(app, processor, max_body_bytes, tenancy)
    return app
