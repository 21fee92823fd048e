"""Applying the ``--server.*`` and ``--<listener>.tls.*`` settings to a process's listeners
(one place, so every command gets the same limits and the same TLS)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from spyglass.collector.receivers import body
from spyglass.config import Settings
from spyglass.gocompat.godur import parse_duration
from spyglass.server.base import Listener
from spyglass.server.grpc_server import GrpcServer
from spyglass.server.http_server import HttpServer
from spyglass.server.limits import ConnectionLimits, ConnectionMetrics
from spyglass.server.tls import ServerTls, server_tls_from_settings

# Listener name -> the prefix of its --<prefix>.tls.* flags (config.TLS_LISTENERS).
LISTENER_TLS = {
    "otlp_grpc": "collector.otlp.grpc",
    "otlp_http": "collector.otlp.http",
    "collector_grpc": "collector.grpc",
    "collector_http": "collector.http",
    "zipkin_http": "collector.zipkin",
    "agent_sampling": "agent.sampling",
    "query_http": "query.http",
    "query_grpc": "query.grpc",
    "tempo_api": "tempo-api",
    "admin": "admin.http",
}


def limits_from_settings(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        max_connections=settings.server_max_connections,
        header_timeout=parse_duration(settings.server_header_timeout) / 1e9,
        idle_timeout=parse_duration(settings.server_idle_timeout) / 1e9,
        max_concurrent_rpcs=settings.server_max_concurrent_rpcs,
    )


def apply_server_limits(settings: Settings, registry: CollectorRegistry, listeners: Iterable[Listener]) -> None:
    """Give every HTTP and gRPC listener the configured limits (before they start), count
    their connections on ``registry``, and size the receivers' shared body budget."""
    limits = limits_from_settings(settings)
    metrics = ConnectionMetrics(registry)
    for listener in listeners:
        if isinstance(listener, HttpServer):
            listener.set_limits(limits, metrics)
        elif isinstance(listener, GrpcServer):
            listener.limits = limits
    body.PROCESS_BUDGET.limit = settings.server_max_body_memory


def apply_tls(settings: Settings, listeners: Iterable[Listener]) -> None:
    """Give each listener whose ``--<prefix>.tls.enabled`` is set its certificate (loaded
    now: a missing or mismatched file is a ``TlsError`` naming the flag before anything
    listens)."""
    for listener in listeners:
        prefix = LISTENER_TLS.get(listener.name)
        if prefix is None or not isinstance(listener, (HttpServer, GrpcServer)):
            continue
        config = server_tls_from_settings(settings, prefix)
        config.validate()
        if not config.enabled:
            continue
        tls = ServerTls(config)
        if isinstance(listener, GrpcServer):
            tls.check_grpc()
        listener.tls = tls
