"""Jaeger Thrift over HTTP: ``POST /api/traces`` on the collector's HTTP port (14268).

The body is one bare ``jaeger.Batch`` struct in Thrift's binary protocol, sent by
jaeger-client's ``HTTPSender`` and by the agent. Replies follow Jaeger's collector:
202 Accepted with an empty body; 400 for a content type other than
``application/x-thrift`` / ``application/vnd.apache.thrift.binary``, for a payload that
does not decode, or when spans were refused as unstorable (the text says how many; the
request's other spans are stored: ``spyglass.collector.validation``); 413 above the body limit; 503 with ``Retry-After`` when the queue is
full, so clients retry instead of losing spans (before the body is read while the queue has
no room: ``processor.refuse_undecoded``).

The sampling endpoint (``GET /api/sampling``) lives on the same port and is added to the
application by its own module; ``add_routes`` lets both share one ``Application``.
"""

from __future__ import annotations


from aiohttp import hdrs, web

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.jaeger_thrift import decode_batch
from spyglass.collector.processor import QUEUE_FULL_MESSAGE, ServerBusy, SpanProcessor, refuse_undecoded, rejection_text
from spyglass.tenancy import gate as tenancy_gate
from spyglass.tenancy import web as tenancy_web
from spyglass.tenancy.gate import RateLimited, TenancyGate
from spyglass.collector.receivers import body as body_mod
from spyglass.collector.receivers.body import BudgetExhausted, Lease, ENCODINGS, BodyTimeout, BodyTooLarge, ClientGone, read_body
from spyglass.collector.receivers.offload import THREAD_DECODE_BYTES, decode_payload
from spyglass.model import Span
from spyglass.server.http_server import DEFAULT_MAX_BODY

RECEIVER = "jaeger_http"
FORMAT = "jaeger_thrift_binary"
ACCEPTED_CONTENT_TYPES = frozenset({"application/x-thrift", "application/vnd.apache.thrift.binary"})

# Bodies above this are decoded in a worker thread: the GIL still serialises the work,
# but the event loop keeps answering other requests every switch interval.


def _error(status: int, text: str, **headers: str) -> web.Response:
    # Go's http.Error: plain text ending in a newline.
    return web.Response(status=status, text=text + "\n", headers=headers or None)


def _decode_binary_batch(body: bytes) -> list[Span]:
    return decode_batch(body, "binary")


class _TracesHandler:
    def __init__(self, processor: SpanProcessor, max_body_bytes: int, thread_decode_bytes: int,
                 tenancy: TenancyGate | None = None) -> None:
        self.processor = processor
        self.tenancy = tenancy
        self.max_body_bytes = max_body_bytes
        self.thread_decode_bytes = thread_decode_bytes

    async def handle(self, request: web.Request) -> web.Response:
        with body_mod.PROCESS_BUDGET.lease() as lease:  # held until the body is decoded
            return await self._handle(request, lease)

    async def _handle(self, request: web.Request, lease: Lease) -> web.Response:
        metrics = self.processor.metrics
        refused = tenancy_web.refuse_or_bind(self.tenancy, request, RECEIVER)
        if refused is not None:
            return refused
        raw_type = request.headers.get(hdrs.CONTENT_TYPE, "")
        media_type = raw_type.split(";", 1)[0].strip().lower()
        if not media_type:
            metrics.reject_request(RECEIVER, FORMAT, "unsupported_content_type")
            return _error(400, "Cannot parse content type: mime: no media type")
        if media_type not in ACCEPTED_CONTENT_TYPES:
            metrics.reject_request(RECEIVER, FORMAT, "unsupported_content_type")
            return _error(400, f"Unsupported content type: {media_type}")
        encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
        if encoding not in ENCODINGS:
            metrics.reject_request(RECEIVER, FORMAT, "unsupported_encoding")
            return _error(400, f"Unsupported content encoding: {encoding}")
        if refuse_undecoded(self.processor, RECEIVER, FORMAT):  # neither read nor decoded
            return _error(503, f"Server busy, retry later: {QUEUE_FULL_MESSAGE}",
                          **{hdrs.RETRY_AFTER: "1", hdrs.CONNECTION: "close"})
        try:
            body = await read_body(request, self.max_body_bytes, lease)
        except BodyTooLarge:
            metrics.reject_request(RECEIVER, FORMAT, "too_large")
            return _error(413, f"Request body exceeds the limit of {self.max_body_bytes} bytes", **{hdrs.CONNECTION: "close"})
        except DecodeError as exc:
            metrics.reject_request(RECEIVER, FORMAT, "decode_error")
            return _error(400, f"Unable to read request body: {exc}", **{hdrs.CONNECTION: "close"})
        except BudgetExhausted:
            metrics.reject_request(RECEIVER, FORMAT, "body_memory")
            return _error(503, "Server busy reading other bodies, retry later", **{hdrs.RETRY_AFTER: "1", hdrs.CONNECTION: "close"})
        except BodyTimeout:
            metrics.reject_request(RECEIVER, FORMAT, "body_timeout")
            return _error(408, "Request body stalled", **{hdrs.CONNECTION: "close"})
        except ClientGone:
            metrics.reject_request(RECEIVER, FORMAT, "client_disconnected")
            return _error(400, "Client went away", **{hdrs.CONNECTION: "close"})  # never sent
        try:
            spans = await decode_payload(_decode_binary_batch, body, self.thread_decode_bytes)
        except DecodeError as exc:
            metrics.reject_request(RECEIVER, FORMAT, "decode_error")
            return _error(400, f"Unable to process request body: {exc}")
        try:
            submitted = await tenancy_gate.accept(self.tenancy, self.processor, spans, tenancy_web.tenant_of(request),
                                                  receiver=RECEIVER, fmt=FORMAT, nbytes=len(body))
        except RateLimited as exc:
            return _error(429, str(exc), **{hdrs.RETRY_AFTER: "1"})
        except ServerBusy as exc:
            return _error(503, f"Server busy, retry later: {exc}", **{hdrs.RETRY_AFTER: "1"})
        if submitted.rejected:
            return _error(400, f"Unable to process request body: {rejection_text(submitted)}")
        return web.Response(status=202)


def add_routes(
    app: web.Application,
    processor: SpanProcessor,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    thread_decode_bytes: int = THREAD_DECODE_BYTES,
    tenancy: TenancyGate | None = None,
) -> None:
    """Add ``POST /api/traces`` to ``app`` (whose ``client_max_size`` should be at least
    ``max_body_bytes``). The app's other routes (sampling) need no tenant."""
    handler = _TracesHandler(processor, max_body_bytes, thread_decode_bytes, tenancy)
    app.router.add_post("/api/traces", handler.handle)


def build_app(
    processor: SpanProcessor,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    thread_decode_bytes: int = THREAD_DECODE_BYTES,
    tenancy: TenancyGate | None = None,
) -> web.Application:
    """The collector's Thrift-over-HTTP application; other methods on the route get 405.
    Bodies larger than ``thread_decode_bytes`` are decoded in a worker thread."""
    app = web.Application(client_max_size=max_body_bytes)
    add_routes(app, processor, max_body_bytes, thread_decode_bytes, tenancy)
    return app
