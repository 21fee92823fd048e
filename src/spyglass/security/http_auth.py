"""The aiohttp middleware that authenticates every request of an HTTP listener.

The credential comes from the ``Authorization`` header or, on the query port, from the UI's session
cookie (``spyglass.security.login``). Refusals: 401 with ``WWW-Authenticate`` (``Basic
realm="spyglass"`` or ``Bearer realm="spyglass"``) for missing or bad credentials, 403 when a role is
missing; the body says only that, never why. Accepted requests run with their principal bound
(``current_principal``).

A browser asking for a UI page without a session is sent to the sign-in page instead of getting a
401 (which would raise the browser's own password dialog). A request carrying the session cookie
gets its 401 without the ``Basic`` challenge for the same reason: the UI then sends the user to sign
in again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from spyglass.security.authenticator import (
    AuthMetrics,
    Authenticator,
    Credential,
    Forbidden,
    Throttled,
    Unauthenticated,
    authorize,
)
from spyglass.security.forwarding import bind_authorization, unbind_authorization
from spyglass.security.policy import PAGE, READ, SAFE_METHODS
from spyglass.security.principal import bind_principal, unbind_principal

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RoleFor = Callable[[str, str], str | None]


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=(text + "\n").encode(), headers={
        "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store", **(headers or {})})


def unauthorized(auth: Authenticator, challenge: bool = True) -> web.Response:
    """401; ``challenge`` false leaves out the scheme a browser would answer with its own dialog."""
    value = auth.challenge if challenge else 'Session realm="spyglass"'
    return _plain(401, "401 Unauthorized", {"WWW-Authenticate": value})


def forbidden() -> web.Response:
    return _plain(403, "403 Forbidden")


def _peer(request: web.Request) -> str:
    return request.remote or "?"


class HttpAuth:
    """Authenticates the requests of one listener (``server`` names it in logs and metrics).

    ``role_for(method, path)`` is the route policy (``spyglass.security.policy``); ``base`` is a
    path prefix stripped before it is asked (the query port's ``--query.base-path``). ``login``,
    when given, serves the UI's sign-in routes and resolves session cookies."""

    def __init__(self, auth: Authenticator, role_for: RoleFor, server: str,
                 metrics: AuthMetrics | None = None, base: str = "", login: object | None = None) -> None:
        self.auth = auth
        self.role_for = role_for
        self.server = server
        self.metrics = metrics
        self.base = base
        self.login = login  # spyglass.security.login.LoginRoutes

    def _refuse(self, request: web.Request, exc: Exception, challenge: bool = True) -> web.Response:
        if self.metrics is not None:
            self.metrics.count(self.server, exc)
        log.debug("%s: refused %s %s from %s: %s", self.server, request.method, request.path, _peer(request), exc)
        if isinstance(exc, Throttled):
            return _plain(429, "429 Too Many Requests", {"Retry-After": str(exc.retry_after)})
        return forbidden() if isinstance(exc, Forbidden) else unauthorized(self.auth, challenge)

    def _relative(self, path: str) -> str | None:
        if not self.base:
            return path
        if path == self.base or path.startswith(self.base + "/"):
            return path[len(self.base):] or "/"
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = self._relative(request.path)
        if self.login is not None and path is not None:
            answered = await self.login.handle(request, path)  # type: ignore[attr-defined]
            if answered is not None:
                return answered
        if not self.auth.enabled or path is None:
            return await handler(request)
        role = self.role_for(request.method, path)
        if role is None:
            return await handler(request)
        header = request.headers.get("Authorization")
        credential: Credential | None = None
        from_session = False
        try:
            if header is None and self.login is not None:
                credential = self.login.session_credential(request)  # type: ignore[attr-defined]
                from_session = credential is not None
                if from_session and request.method not in SAFE_METHODS:
                    self.login.check_origin(request)  # type: ignore[attr-defined]
            if credential is None:
                if role == PAGE and header is None and self.login is not None and request.method in SAFE_METHODS:
                    return self.login.redirect_to_sign_in(request, path)  # type: ignore[attr-defined]
                credential = await self.auth.authenticate(header, _peer(request))
            assert credential is not None
            authorize(credential.principal, READ if role == PAGE else role)
        except (Unauthenticated, Forbidden) as exc:
            has_cookie = self.login is not None and self.login.has_cookie(request)  # type: ignore[attr-defined]
            return self._refuse(request, exc, challenge=not has_cookie)
        token = bind_principal(credential.principal)
        forwarded = bind_authorization(header)
        try:
            return await handler(request)
        finally:
            unbind_authorization(forwarded)
            unbind_principal(token)

