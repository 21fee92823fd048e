"""The UI's sign-in: a login page, a session cookie, sign-out, and "who am I" for the page header.

Routes, below the query base path (outside ``/api``, which is Jaeger's):

* ``GET /login``: the sign-in form (user name and password for ``basic``; a token for ``bearer`` and
  ``oidc``, where the token is a JWT from the identity provider). Rendered server-side from
  ``ui/static/login.html``: no inline script, so it works under a strict Content-Security-Policy.
* ``POST /auth/login``: checks the form with the same authenticator as the APIs; on success sets the
  session cookie and redirects (303) to ``next`` (only a path of this server) or the UI's home; on
  failure redirects to ``/login?error=1``.
* ``POST /auth/logout``: ends the session, clears the cookie.
* ``GET /auth/me``: ``{"mode", "user", "tenant", "roles"}`` of the signed-in user (401 otherwise);
  ``{"mode": "none"}`` without authentication.

The cookie is HttpOnly, SameSite=Strict, Secure on a TLS listener, and scoped to the base path.
Requests that change something and authenticate by cookie must come from this origin (``Origin``,
when the browser sends it, is checked), on top of what SameSite=Strict already guarantees.
"""

from __future__ import annotations

import html
import json
import logging
import time
import urllib.parse
from pathlib import Path

from aiohttp import web

from spyglass.security.authenticator import Authenticator, Credential, Throttled, Unauthenticated
from spyglass.security.sessions import COOKIE, SessionStore

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).resolve().parent.parent / "ui" / "static" / "login.html"
MAX_FORM_BYTES = 8 * 1024
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
# The login page needs nothing but its own stylesheet and to post its form here.
LOGIN_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
             "frame-ancestors 'none'; base-uri 'none'")


_PASSWORD_FIELDS = (
    '<label for="username">User name</label>\n'
    '<input id="username" name="username" type="text" autocomplete="username" required autofocus>\n'
    '<label for="password">Password</label>\n'
    '<input id="password" name="password" type="password" autocomplete="current-password" required>'
)
_TOKEN_FIELDS = (
    '<label for="token">Access token</label>\n'
    '<input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required autofocus>'
)


def _safe_next(value: str, base: str) -> str:
    """``value`` when it is a path on this server under ``base``; the UI's home otherwise (so the
    sign-in page cannot be used to send someone to another site)."""
    home = (base or "") + "/"
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ord(c) < 0x20 for c in value)):
        return home
    if base and not (value == base or value.startswith(base + "/")):
        return home
    rel = value[len(base):] if base else value
    if rel.startswith(("/login", "/auth/")):
        return home
    return value


class LoginRoutes:
    def __init__(self, auth: Authenticator, sessions: SessionStore, base: str = "") -> None:
        self.auth = auth
        self.sessions = sessions
        self.base = base
        self._template = TEMPLATE.read_text(encoding="utf-8")

    # -- used by the middleware ---------------------------------------------------------
    def has_cookie(self, request: web.Request) -> bool:
        return COOKIE in request.cookies

    def session_credential(self, request: web.Request) -> Credential | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def check_origin(self, request: web.Request) -> None:
        """``Unauthenticated`` when a cookie-authenticated change comes from another origin."""
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            raise Unauthenticated("cross-origin request with a session cookie")

    def redirect_to_sign_in(self, request: web.Request, path: str) -> web.Response:
        target = f"{self.base}/login?" + urllib.parse.urlencode({"next": request.path_qs})
        return web.Response(status=303, headers={"Location": target, **_HEADERS})

    # -- routes -------------------------------------------------------------------------
    async def handle(self, request: web.Request, path: str) -> web.StreamResponse | None:
        """The answer for a sign-in route, or None for any other path."""
        if path == "/login":
            return self._page(request) if request.method in ("GET", "HEAD") else _method_not_allowed()
        if path == "/auth/login":
            return await self._login(request) if request.method == "POST" else _method_not_allowed()
        if path == "/auth/logout":
            return self._logout(request) if request.method == "POST" else _method_not_allowed()
        if path == "/auth/me":
            return await self._me(request) if request.method in ("GET", "HEAD") else _method_not_allowed()
        return None

    def _page(self, request: web.Request) -> web.Response:
        if not self.auth.enabled:
            return web.Response(status=303, headers={"Location": self.base + "/", **_HEADERS})
        token_mode = self.auth.mode != "basic"
        error = "Sign-in failed: check what you entered and try again." if request.query.get("error") else ""
        page = (self._template
                .replace("__SPYGLASS_BASE__", html.escape(self.base))
                .replace("__SPYGLASS_NEXT__", html.escape(_safe_next(request.query.get("next", ""), self.base)))
                .replace("__SPYGLASS_FIELDS__", _TOKEN_FIELDS if token_mode else _PASSWORD_FIELDS)
                .replace("__SPYGLASS_ERROR__", html.escape(error))
                .replace("__SPYGLASS_ERROR_HIDDEN__", "" if error else "hidden"))
        return web.Response(body=page.encode(), headers={"Content-Type": "text/html; charset=utf-8",
                                                          "Content-Security-Policy": LOGIN_CSP, **_HEADERS})

    async def _login(self, request: web.Request) -> web.Response:
        if not self.auth.enabled:
            return web.Response(status=303, headers={"Location": self.base + "/", **_HEADERS})
        try:
            self.check_origin(request)
        except Unauthenticated:
            return web.Response(status=403, text="403 Forbidden\n", headers=_HEADERS)
        if (request.content_length or 0) > MAX_FORM_BYTES:
            return web.Response(status=413, text="413 Request Entity Too Large\n", headers=_HEADERS)
        body = b""
        while len(body) <= MAX_FORM_BYTES:  # read() may return part of the body: read to the end
            chunk = await request.content.read(MAX_FORM_BYTES + 1 - len(body))
            if not chunk:
                break
            body += chunk
        if len(body) > MAX_FORM_BYTES:
            return web.Response(status=413, text="413 Request Entity Too Large\n", headers=_HEADERS)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=8)
        field = lambda name: (form.get(name) or [""])[0]  # noqa: E731
        user, secret = field("username"), (field("password") if self.auth.mode == "basic" else field("token").strip())
        target = _safe_next(field("next"), self.base)
        again = f"{self.base}/login?" + urllib.parse.urlencode({"error": "1", "next": target})
        failed = web.Response(status=303, headers={"Location": again, **_HEADERS})
        try:
            credential = await self.auth.login(user, secret, request.remote or "")
        except Throttled as exc:
            log.info("UI sign-in refused from %s: %s", request.remote or "?", exc)
            return web.Response(status=429, text="429 Too Many Requests: try again later\n",
                                headers={"Retry-After": str(exc.retry_after), **_HEADERS})
        except Unauthenticated as exc:
            log.info("UI sign-in refused from %s: %s", request.remote or "?", exc)
            return failed
        session_id, session = self.sessions.create(credential)
        response = web.Response(status=303, headers={"Location": target, **_HEADERS})
        response.set_cookie(COOKIE, session_id, path=(self.base or "") + "/", httponly=True, samesite="Strict",
                            secure=request.secure, max_age=max(1, int(session.expires - time.time())))
        log.info("UI sign-in: %s", credential.principal.name)
        return response

    def _logout(self, request: web.Request) -> web.Response:
        try:
            self.check_origin(request)
        except Unauthenticated:
            return web.Response(status=403, text="403 Forbidden\n", headers=_HEADERS)
        self.sessions.delete(request.cookies.get(COOKIE))
        response = web.Response(status=303, headers={"Location": f"{self.base}/login", **_HEADERS})
        response.del_cookie(COOKIE, path=(self.base or "") + "/", secure=request.secure, samesite="Strict",
                            httponly=True)
        return response

    async def _me(self, request: web.Request) -> web.Response:
        if not self.auth.enabled:
            return _json({"mode": "none"})
        credential = self.session_credential(request)
        if credential is None:
            try:
                credential = await self.auth.authenticate(request.headers.get("Authorization"), request.remote or "")
            except Unauthenticated:
                credential = None
        if credential is None:
            return web.Response(status=401, text="401 Unauthorized\n",
                                headers={"WWW-Authenticate": 'Session realm="spyglass"', **_HEADERS})
        p = credential.principal
        return _json({"mode": self.auth.mode, "user": p.name, "tenant": p.tenant, "roles": sorted(p.roles)})


def _json(obj: object) -> web.Response:
    return web.Response(body=json.dumps(obj).encode(), headers={"Content-Type": "application/json", **_HEADERS})


def _method_not_allowed() -> web.Response:
    return web.Response(status=405, text="405 method not allowed\n", headers=_HEADERS)
