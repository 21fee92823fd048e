"""gRPC interceptors (``grpcio``, synchronous API).

Client: ``grpc.intercept_channel(channel, ClientInterceptor(tracer))`` starts a client
span per call (``span.kind=client``, ``component=grpc``, ``rpc.method``), injects the
context into the call's metadata (lower-case keys, as gRPC requires), and finishes the
span when the call completes, with ``rpc.grpc.status_code`` and ``error`` for non-OK.

Server: ``grpc.server(pool, interceptors=[ServerInterceptor(tracer)])`` extracts the
caller's context from the metadata and runs each handler inside an active server span,
tagging the status code the handler set (or ``error`` for an exception).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import opentracing
from opentracing import Format

from spyglass.client.instrumentation._common import is_suppressed, resolve_tracer, tag_error


class _CallDetails(
    collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")),
    grpc.ClientCallDetails,
):
    pass


def _finish_with_status(
    span: opentracing.Span, code: grpc.StatusCode | None, details: str | None = None, logged: bool = False
) -> None:
    """Tag the status and finish; a non-OK status is an error (logged unless ``logged``)."""
    code = code or grpc.StatusCode.OK
    span.set_tag("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_tag("error", True)
        if not logged:
            span.log_kv({"event": "error", "message": details or code.name})
    span.finish()


class ClientInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, tracer: opentracing.Tracer | None = None) -> None:
        self.tracer = tracer

    def _start(self, details: grpc.ClientCallDetails) -> tuple[opentracing.Span | None, grpc.ClientCallDetails]:
        if is_suppressed():
            return None, details
        tracer = resolve_tracer(self.tracer)
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        span = tracer.start_span(method, tags={"span.kind": "client", "component": "grpc", "rpc.method": method})
        carrier: dict[str, str] = {}
        tracer.inject(span.context, Format.HTTP_HEADERS, carrier)
        metadata = list(details.metadata or []) + [(k.lower(), v) for k, v in carrier.items()]
        return span, _CallDetails(details.method, details.timeout, metadata, details.credentials,
                                  getattr(details, "wait_for_ready", None), getattr(details, "compression", None))

    def _unary_response(self, continuation: Callable, details: grpc.ClientCallDetails, request: Any) -> Any:
        span, details = self._start(details)
        if span is None:
            return continuation(details, request)
        try:
            call = continuation(details, request)
        except Exception as exc:
            tag_error(span, exc)
            span.finish()
            raise
        call.add_done_callback(lambda c: _finish_with_status(span, c.code(), c.details()))
        return call

    def _stream_response(self, continuation: Callable, details: grpc.ClientCallDetails, request: Any) -> Any:
        span, details = self._start(details)
        if span is None:
            return continuation(details, request)
        call = continuation(details, request)
        call.add_done_callback(lambda c: _finish_with_status(span, c.code(), c.details()))
        return call

    def intercept_unary_unary(self, continuation: Callable, client_call_details: grpc.ClientCallDetails, request: Any) -> Any:
        return self._unary_response(continuation, client_call_details, request)

    def intercept_stream_unary(self, continuation: Callable, client_call_details: grpc.ClientCallDetails, request_iterator: Any) -> Any:
        return self._unary_response(continuation, client_call_details, request_iterator)

    def intercept_unary_stream(self, continuation: Callable, client_call_details: grpc.ClientCallDetails, request: Any) -> Any:
        return self._stream_response(continuation, client_call_details, request)

    def intercept_stream_stream(self, continuation: Callable, client_call_details: grpc.ClientCallDetails, request_iterator: Any) -> Any:
        return self._stream_response(continuation, client_call_details, request_iterator)


class ServerInterceptor(grpc.ServerInterceptor):
    def __init__(self, tracer: opentracing.Tracer | None = None) -> None:
        self.tracer = tracer

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or is_suppressed():
            return handler
        method = handler_call_details.method
        metadata = list(handler_call_details.invocation_metadata or [])

        def traced(behavior: Callable, streaming_response: bool) -> Callable:
            def run(request_or_iterator: Any, context: grpc.ServicerContext) -> Any:
                tracer = resolve_tracer(self.tracer)
                try:
                    parent = tracer.extract(Format.HTTP_HEADERS, [(m.key, m.value) if hasattr(m, "key") else m for m in metadata])
                except Exception:
                    parent = None
                scope = tracer.start_active_span(
                    method, child_of=parent, ignore_active_span=True, finish_on_close=False,
                    tags={"span.kind": "server", "component": "grpc", "rpc.method": method},
                )
                span = scope.span
                if not streaming_response:
                    failed = False
                    try:
                        return behavior(request_or_iterator, context)
                    except Exception as exc:
                        failed = not _aborted(context)  # abort() already set the status
                        if failed:
                            tag_error(span, exc)
                        raise
                    finally:
                        scope.close()
                        code = grpc.StatusCode.UNKNOWN if failed else _code(context)
                        _finish_with_status(span, code, _details(context), logged=failed)
                return _traced_stream(behavior(request_or_iterator, context), scope, span, context)
            return run

        wrap = {
            (False, False): (grpc.unary_unary_rpc_method_handler, handler.unary_unary, False),
            (False, True): (grpc.unary_stream_rpc_method_handler, handler.unary_stream, True),
            (True, False): (grpc.stream_unary_rpc_method_handler, handler.stream_unary, False),
            (True, True): (grpc.stream_stream_rpc_method_handler, handler.stream_stream, True),
        }[(handler.request_streaming, handler.response_streaming)]
        factory, behavior, streaming = wrap
        return factory(traced(behavior, streaming), handler.request_deserializer, handler.response_serializer)


def _traced_stream(responses: Iterator[Any], scope: opentracing.Scope, span: opentracing.Span, context: Any) -> Iterator[Any]:
    failed = False
    try:
        yield from responses
    except Exception as exc:
        failed = not _aborted(context)
        if failed:
            tag_error(span, exc)
        raise
    finally:
        scope.close()
        code = grpc.StatusCode.UNKNOWN if failed else _code(context)
        _finish_with_status(span, code, _details(context), logged=failed)


def _code(context: Any) -> grpc.StatusCode | None:
    try:
        code = context.code()
    except Exception:
        return None
    if isinstance(code, int):
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return code


def _details(context: Any) -> str | None:
    try:
        details = context.details()
    except Exception:
        return None
    return details.decode(errors="replace") if isinstance(details, bytes) else details


def _aborted(context: Any) -> bool:
    code = _code(context)
    return code is not None and code is not grpc.StatusCode.OK
