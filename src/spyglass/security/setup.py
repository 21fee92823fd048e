"""Authentication as the commands assemble it from their settings (one place, so ``all-in-one``,
``collector`` and ``query`` protect the same routes the same way)."""

from __future__ import annotations

import functools

from aiohttp import web

from spyglass.config import Settings
from spyglass.gocompat.godur import parse_duration
from spyglass.security.authenticator import AuthMetrics, Authenticator, build_authenticator
from spyglass.security.grpc_auth import AuthInterceptor
from spyglass.security.http_auth import HttpAuth
from spyglass.security.login import LoginRoutes
from spyglass.security.policy import grpc_role, ingest_http_role, query_http_role
from spyglass.security.principal import READ, WRITE
from spyglass.security.sessions import SessionStore


def query_authenticator(s: Settings) -> Authenticator:
    """``--query.auth`` and its files; ``ValueError`` naming the flag when they cannot be used."""
    return build_authenticator(
        s.query_auth, flag="query.auth", default_roles=frozenset({READ}),
        htpasswd_file=s.query_auth_htpasswd_file, tokens_file=s.query_auth_tokens_file,
        jwks=s.query_auth_oidc_jwks, jwks_refresh_s=parse_duration(s.query_auth_oidc_jwks_refresh) / 1e9,
        issuer=s.query_auth_oidc_issuer, audience=s.query_auth_oidc_audience,
        tenant_claim=s.query_auth_oidc_tenant_claim, roles_claim=s.query_auth_oidc_roles_claim,
        max_failures=s.query_auth_max_failures,
    )


def collector_authenticator(s: Settings) -> Authenticator:
    """``--collector.auth`` (none or bearer)."""
    if (s.collector_auth or "none").strip().lower() not in ("none", "bearer"):
        raise ValueError(f"--collector.auth: unknown mode {s.collector_auth!r}; known: none, bearer")
    return build_authenticator(s.collector_auth, flag="collector.auth", default_roles=frozenset({WRITE}),
                               tokens_file=s.collector_auth_tokens_file)


def protect_query_app(app: web.Application, auth: Authenticator, s: Settings, metrics: AuthMetrics | None,
                      base: str) -> None:
    """Put the query port's auth middleware (and the UI's sign-in routes) in front of every other."""
    sessions = SessionStore(parse_duration(s.query_auth_session_ttl) / 1e9, auth.still_valid)
    login = LoginRoutes(auth, sessions, base)
    app.middlewares.insert(0, HttpAuth(auth, query_http_role, "query_http", metrics, base, login).middleware)


def protect_ingest_app(app: web.Application, auth: Authenticator, server: str, metrics: AuthMetrics | None) -> web.Application:
    """``app`` (a receiver's) with the ingest auth middleware first; returned for chaining."""
    if auth.enabled:
        app.middlewares.insert(0, HttpAuth(auth, ingest_http_role, server, metrics).middleware)
    return app


def protect_tempo_app(app: web.Application, auth: Authenticator, metrics: AuthMetrics | None) -> web.Application:
    """Tempo's query API (``--tempo-api.port``): every route reads, as the query port's ``/api``
    (Grafana's Tempo data source sends the same Basic or Bearer credentials)."""
    if auth.enabled:
        app.middlewares.insert(0, HttpAuth(auth, lambda method, path: READ, "tempo_api", metrics).middleware)
    return app


def query_interceptor(auth: Authenticator, metrics: AuthMetrics | None) -> AuthInterceptor:
    return AuthInterceptor(auth, functools.partial(_role, default=READ), "query_grpc", metrics)


def ingest_interceptor(auth: Authenticator, server: str, metrics: AuthMetrics | None) -> AuthInterceptor:
    return AuthInterceptor(auth, functools.partial(_role, default=WRITE), server, metrics)


def _role(method: str, *, default: str) -> str | None:
    return grpc_role(method, default)
