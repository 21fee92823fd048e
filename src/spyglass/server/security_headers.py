"""Security headers on every response of every Spyglass HTTP listener.

Why on all of them and not only the UI: API answers are JSON a browser could be tricked
into rendering or framing (a trace holds whatever strings the instrumented code put in
it), so every answer says ``nosniff``, may not be framed, sends no referrer, and carries a
``default-src 'none'`` policy unless it set a policy of its own (the UI page does, see
``spyglass.ui.app.CSP``). Over TLS, ``Strict-Transport-Security`` tells browsers to keep
using HTTPS. Headers a handler set itself are left as they are.
"""

from __future__ import annotations

from aiohttp import web

HSTS = "max-age=31536000"
DEFAULTS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

_INSTALLED = web.AppKey("spyglass_security_headers", bool)


def install(app: web.Application, *, hsts: bool) -> None:
    """Add the headers to every response ``app`` prepares (including errors raised as
    ``HTTPException``); ``hsts`` when the listener serves TLS. Idempotent."""
    if app.get(_INSTALLED) is not None:
        return
    app[_INSTALLED] = hsts
    extra = {"Strict-Transport-Security": HSTS} if hsts else {}

    async def add_headers(_request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        for name, value in DEFAULTS.items():
            headers.setdefault(name, value)
        for name, value in extra.items():
            headers.setdefault(name, value)

    app.on_response_prepare.append(add_headers)
