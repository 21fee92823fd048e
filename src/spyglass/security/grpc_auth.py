"""The grpc.aio server interceptor that authenticates every call of a gRPC listener.

The credential is the ``authorization`` metadata (``Bearer T`` or ``Basic ...``), as grpc-go's and
the OTel SDK's per-RPC credentials send it. Refusals end the call with ``UNAUTHENTICATED`` (missing
or bad credentials) or ``PERMISSION_DENIED`` (a role missing) and a fixed message, before the
servicer sees the request. An accepted call runs with its principal bound
(``current_principal``), in the servicer's own task.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from spyglass.security.authenticator import AuthMetrics, Authenticator, Forbidden, Throttled, Unauthenticated, authorize
from spyglass.security.forwarding import bind_authorization
from spyglass.security.principal import Principal, bind_principal, unbind_principal

log = logging.getLogger(__name__)

RoleFor = Callable[[str], str | None]


def _authorization(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


def _address(peer: str | None) -> str:
    """The client's address of a gRPC peer (``ipv4:1.2.3.4:5678``, ``ipv6:[::1]:5678``), port dropped."""
    if not peer:
        return ""
    address = peer.split(":", 1)[1] if peer.startswith(("ipv4:", "ipv6:")) else peer
    return address.rsplit(":", 1)[0] if ":" in address else address


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """``role_for(method)`` is the route policy (``policy.grpc_role``); ``server`` names the
    listener in logs and metrics."""

    def __init__(self, auth: Authenticator, role_for: RoleFor, server: str, metrics: AuthMetrics | None = None) -> None:
        self.auth = auth
        self.role_for = role_for
        self.server = server
        self.metrics = metrics

    async def _check(self, method: str, metadata: Any, role: str, peer: str = "") -> Principal:
        credential = await self.auth.authenticate(_authorization(metadata), peer)
        assert credential is not None
        authorize(credential.principal, role)
        return credential.principal

    async def _principal(self, context: grpc.aio.ServicerContext, method: str, role: str) -> Principal:
        """The caller's principal, or the call aborted with the refusal. The caller's credential is
        bound too, for a tail-sampling peer the spans may be forwarded to (``security.forwarding``)."""
        try:
            principal = await self._check(method, context.invocation_metadata(), role, _address(context.peer()))
            bind_authorization(_authorization(context.invocation_metadata()))
            return principal
        except (Unauthenticated, Forbidden) as exc:
            if self.metrics is not None:
                self.metrics.count(self.server, exc)
            log.debug("%s: refused %s from %s: %s", self.server, method, context.peer(), exc)
            if isinstance(exc, Throttled):
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many failed attempts")
            if isinstance(exc, Forbidden):
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, "permission denied")
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated")
            raise  # not reached: abort raises

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or not self.auth.enabled:
            return handler
        method = details.method
        role = self.role_for(method)
        if role is None:
            return handler
        principal_of = self._principal

        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                token = bind_principal(await principal_of(context, method, role))
                try:
                    return await inner_uu(request, context)
                finally:
                    unbind_principal(token)

            return grpc.unary_unary_rpc_method_handler(unary_unary, handler.request_deserializer,
                                                       handler.response_serializer)
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                token = bind_principal(await principal_of(context, method, role))
                try:
                    result = inner_us(request, context)
                    if hasattr(result, "__aiter__"):
                        async for message in result:
                            yield message
                    else:  # a servicer that writes with context.write and returns
                        await result
                finally:
                    unbind_principal(token)

            return grpc.unary_stream_rpc_method_handler(unary_stream, handler.request_deserializer,
                                                        handler.response_serializer)
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            async def stream_unary(request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
                token = bind_principal(await principal_of(context, method, role))
                try:
                    return await inner_su(request_iterator, context)
                finally:
                    unbind_principal(token)

            return grpc.stream_unary_rpc_method_handler(stream_unary, handler.request_deserializer,
                                                        handler.response_serializer)
        inner_ss = handler.stream_stream

        async def stream_stream(request_iterator: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            token = bind_principal(await principal_of(context, method, role))
            try:
                async for message in inner_ss(request_iterator, context):
                    yield message
            finally:
                unbind_principal(token)

        return grpc.stream_stream_rpc_method_handler(stream_stream, handler.request_deserializer,
                                                     handler.response_serializer)
