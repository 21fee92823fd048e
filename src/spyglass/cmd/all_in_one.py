"""``spyglass all-in-one``: every receiver, the processor, storage, admin and query in one
process (Jaeger's all-in-one). ``spyglass collector`` and ``spyglass query`` run the same
assembly with only one of the two roles, on a shared storage directory."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from spyglass.admin import build_admin_app
from spyglass.agent.udp_server import UdpServer
from spyglass.codecs import jaeger_thrift, zipkin_thrift
from spyglass.collector import sampling
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.sinks import build_sink
from spyglass.collector.workers.supervisor import MergedRegistry, WorkerPool, WorkerStartError, resolve_workers
from spyglass.collector.receivers import jaeger_grpc, jaeger_http, otlp_grpc, otlp_http, zipkin_http
from spyglass.collector.sampling import StrategyProvider, build_provider
from spyglass.collector.sampling.strategies import StrategiesError
from spyglass.collector.sampling import setup as sampling_setup
from spyglass.config import Settings
from spyglass.model import Span
from spyglass.query import grpc_api_v2, grpc_api_v3
from spyglass.gocompat.godur import parse_duration
from spyglass.query.http_api import BASE_PATH, build_app
from spyglass.query.tempo_api import build_tempo_app
from spyglass.query.limits import QueryLimits
from spyglass.query.metrics import QueryMetrics
from spyglass.query.service import QueryService
from spyglass.security import setup as auth_setup
from spyglass.security.authenticator import AuthMetrics, Authenticator
from spyglass.server import GrpcServer, HttpServer, Listener
from spyglass.server.settings import apply_server_limits, apply_tls
from spyglass.storage.api import ArchiveCapable
from spyglass.storage.api import health as storage_health
from spyglass.storage.api.health import Health, StorageUnavailable
from spyglass.storage.api.metrics import MetricsCapable
from spyglass.storage.registry import create_storage
from spyglass.storage.api.tenants import check_all as storage_check_all
from spyglass.tenancy import setup as tenancy_setup
from spyglass.ui import build_ui_app

log = logging.getLogger("spyglass")

# The flag that sets each listener's port, so a port clash names what to change.
LISTENER_FLAGS = {
    "agent_jaeger_compact": "agent.jaeger-compact-port",
    "agent_jaeger_binary": "agent.jaeger-binary-port",
    "agent_zipkin_compact": "agent.zipkin-compact-port",
    "agent_sampling": "agent.sampling-port",
    "collector_http": "collector.http-port",
    "collector_grpc": "collector.grpc-port",
    "otlp_grpc": "collector.otlp-grpc-port",
    "otlp_http": "collector.otlp-http-port",
    "zipkin_http": "collector.zipkin-port",
    "admin": "admin.port",
    "query_http": "query.http-port",
    "query_grpc": "query.grpc-port",
}


class StartupError(Exception):
    """The process cannot start; ``str()`` is one line for the operator (flag, path, reason)."""


class AllInOne:
    """Builds the parts of its roles from ``settings``; ``start``/``stop`` run them. The
    collector role is the receivers, the queue, the writer and sampling; the query role is
    the query HTTP (with the UI) and gRPC APIs. Ports set to 0 are chosen by the OS;
    ``ports`` tells the bound ones after ``start``."""

    def __init__(self, settings: Settings, *, collector: bool = True, query: bool = True) -> None:
        self.settings = settings
        self.roles = {"collector": collector, "query": query}
        # authentication first: a credentials file that cannot be read stops the start (docs/security.md)
        self.collector_auth = auth_setup.collector_authenticator(settings) if collector else None
        self.query_auth = auth_setup.query_authenticator(settings) if query else None
        command = "all-in-one" if collector and query else "collector"
        self.workers = resolve_workers(settings, command) if collector else 1
        self.storage = create_storage(settings.storage, storage_options(settings))
        tenancy_setup.prepare_storage(self.storage, settings)
        self.metrics = IngestMetrics()
        storage_health.register_metrics(self.storage, self.metrics.registry)  # clickhouse: its write buffer
        self.auth_metrics = AuthMetrics(self.metrics.registry)
        self.tenancy = tenancy_setup.gate(settings, self.metrics.registry)  # None: multi-tenancy off
        self.sampling = self._sampling_provider()
        self.processor = sampling_setup.wrap_sink(settings, build_sink(settings, tenancy_setup.writer(self.storage), self.metrics,
                                    health=lambda: storage_check_all(self.storage)), self.sampling)
        self.ready = False  # health answers 503 until every listener is bound
        self.query_service: QueryService | None = None
        self.pool: WorkerPool | None = None
        if collector and self.workers > 1:  # receivers in worker processes (collector/workers)
            self.pool = WorkerPool(settings, self.workers, sink=self.processor, registry=self.metrics.registry,
                                   tenancy=self.tenancy)
        self.ingest: list[Listener] = self._ingest_listeners() if collector and self.pool is None else []
        self.serving: list[Listener] = self._serving_listeners()
        apply_server_limits(settings, self.metrics.registry, [*self.ingest, *self.serving])
        apply_tls(settings, [*self.ingest, *self.serving])

    # -- assembly -----------------------------------------------------------------------
    def _sampling_provider(self) -> StrategyProvider:
        s = self.settings
        try:
            provider = build_provider(
                s.sampling_strategies_file,
                parse_duration(s.sampling_strategies_reload_interval) / 1e9,
                s.sampling_default_sampling_probability,
            )
        except (OSError, StrategiesError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"--sampling.strategies-file: cannot use {s.sampling_strategies_file}: {reason}") from None
        if s.sampling_type == "adaptive":  # the file, when given, pins its services
            return sampling_setup.build_adaptive(s, provider if s.sampling_strategies_file else None, self.storage)
        if s.sampling_type not in ("", "file"):
            raise ValueError(f"--sampling.type: unknown type {s.sampling_type!r}; known: file, adaptive")
        return provider

    def _ingest_listeners(self) -> list[Listener]:
        return build_ingest_listeners(self.settings, self.processor, self.sampling, self.tenancy, self.metrics,
                                      self.collector_auth, self.auth_metrics)

    def _serving_listeners(self) -> list[Listener]:
        s, host = self.settings, self.settings.listen_host
        listeners: list[Listener] = [
            HttpServer("admin", host, s.admin_port, build_admin_app(
                MergedRegistry(self.metrics.registry, self.pool) if self.pool else self.metrics.registry,  # type: ignore[arg-type]
                self.health)),
        ]
        if self.roles["collector"]:
            listeners.append(
                HttpServer("agent_sampling", host, s.agent_sampling_port, sampling.build_sampling_app(self.sampling, self.tenancy))
            )
        if self.roles["query"]:
            listeners.extend(self._query_listeners())
        return listeners

    def _query_listeners(self) -> list[Listener]:
        s = self.settings
        archive = self.storage if isinstance(self.storage, ArchiveCapable) and s.archive_enabled else None
        service = QueryService(
            self.storage.trace_reader(),
            self.storage.dependency_reader(),
            archive_reader=archive.archive_reader() if archive else None,
            archive_writer=archive.archive_writer() if archive else None,
            max_clock_skew_ns=parse_duration(s.query_max_clock_skew_adjustment),
            limits=query_limits(s),
            registry=self.metrics.registry,
            metrics=self.storage.metrics_reader() if isinstance(self.storage, MetricsCapable) else None,
            tenants=tenancy_setup.readers(self.storage, archive is not None) if self.tenancy else None,
            tenancy=self.tenancy,
        )
        self.query_service = service
        http_app = build_app(service, base_path=s.query_base_path, ui=build_ui_app(), archive_enabled=archive is not None)
        from spyglass.query.sampling_api import add_sampling_routes  # how a service is sampled, for the UI

        add_sampling_routes(http_app, self.sampling if self.roles["collector"] else None, s, self.storage)
        query_metrics = QueryMetrics(self.metrics.registry)  # requests, errors, latency per endpoint
        http_app.middlewares.append(query_metrics.middleware)
        auth = self.query_auth
        assert auth is not None
        auth_setup.protect_query_app(http_app, auth, s, self.auth_metrics, http_app[BASE_PATH])
        interceptors = [auth_setup.query_interceptor(auth, self.auth_metrics)] if auth.enabled else []
        return [
            HttpServer("query_http", s.listen_host, s.query_http_port, http_app),
            HttpServer("tempo_api", s.listen_host, s.tempo_api_port,
                       auth_setup.protect_tempo_app(build_tempo_app(service), auth, self.auth_metrics)),
            GrpcServer(
                "query_grpc", s.listen_host, s.query_grpc_port,
                [lambda srv: grpc_api_v2.register(srv, service), lambda srv: grpc_api_v3.register(srv, service)],
                [*grpc_api_v2.SERVICE_NAMES, *grpc_api_v3.SERVICE_NAMES],
                interceptors=[*interceptors, query_metrics.interceptor()],
            ),
        ]

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def ports(self) -> dict[str, int]:
        return {**(self.pool.ports if self.pool else {}), **{l.name: l.port for l in [*self.ingest, *self.serving]}}

    @property
    def _direct_workers(self) -> bool:
        """Workers publish to NATS themselves: the parent's own sink is never opened."""
        return self.pool is not None and self.pool.mode == "direct"

    def health(self) -> Health:
        """What the admin port reports: not ready until every listener is bound; unhealthy
        while storage cannot take spans (collector roles) or cannot be read (query)."""
        if not self.ready:
            return Health(False, "starting or stopping")
        if self.pool is not None:
            state = self.pool.health()
            if not state.healthy:
                return state
        if self.roles["collector"] and not self._direct_workers:
            reason = self.processor.unhealthy_reason
            return Health(False, f"storage unhealthy: {reason}") if reason else Health(True)
        if self.roles["collector"] and not self.roles["query"]:
            return Health(True)
        state = storage_health.check(self.storage)
        return state if state.healthy else Health(False, f"storage unhealthy: {state.reason}")

    def _open_storage(self) -> None:
        """Open, check and lock storage before any listener accepts traffic, so spans are
        never acknowledged by a process that cannot store them."""
        try:
            if self.roles["collector"] and self.settings.collector_buffer == "nats":
                if not self.roles["query"]:
                    return  # spans go to JetStream; ingesters write the storage
            elif self.roles["collector"]:
                storage_health.prepare_writes(self.storage)
                return
            state = storage_health.check(self.storage)
        except StorageUnavailable as exc:
            raise StartupError(f"storage: {exc}") from None
        if not state.healthy:
            raise StartupError(f"storage: {state.reason}")

    async def start(self) -> None:
        """Open storage, then bind every listener; raises ``StartupError`` naming the path
        or the flag when something cannot be used."""
        try:
            self._open_storage()
        except StartupError:
            self.sampling.close()
            self.storage.close()
            raise
        if self.roles["collector"]:
            if not self._direct_workers:
                await self.processor.open()
            start_sampling = getattr(self.sampling, "start", None)
            if callable(start_sampling):
                start_sampling()
        started: list[Listener] = []
        try:
            for listener in [*self.serving, *self.ingest]:
                try:
                    await listener.start()
                except (OSError, RuntimeError) as exc:
                    raise StartupError(_bind_error(listener, exc)) from None
                started.append(listener)
                router = getattr(self.processor, "router", None)
                if listener.name == "collector_grpc" and router is not None:  # tail sampling: find us among the peers
                    try:
                        router.bind(f"{listener.host}:{listener.port}")
                    except ValueError as exc:
                        raise StartupError(str(exc)) from None
            if self.pool is not None:
                try:
                    await self.pool.start()
                except WorkerStartError as exc:
                    raise StartupError(str(exc)) from None
                router = getattr(self.processor, "router", None)
                if router is not None:
                    try:
                        router.bind(f"{self.settings.listen_host}:{self.pool.ports['collector_grpc']}")
                    except ValueError as exc:
                        raise StartupError(str(exc)) from None
        except StartupError:
            if self.pool is not None:
                await self.pool.stop()
            for listener in reversed(started):
                await listener.stop()
            if not self._direct_workers:
                await self.processor.aclose()
            self.sampling.close()  # adaptive sampling's thread and lease, the file's reloader
            raise
        self.ready = True
        for listener in [*self.ingest, *self.serving]:
            if not isinstance(listener, UdpServer):  # each UDP server logs itself, with its buffer
                tls = " (TLS)" if getattr(listener, "tls", None) is not None else ""
                log.info("%s listening on %s:%d%s", listener.name, listener.host, listener.port, tls)
        log.info("%s", self.summary())

    def summary(self) -> str:
        """One line: where the UI is (query roles), and the storage in use."""
        s = self.settings
        parts = []
        if self.roles["query"]:
            host = "127.0.0.1" if s.listen_host in ("0.0.0.0", "::", "") else s.listen_host
            base = s.query_base_path.strip("/")
            scheme = "https" if s.query_http_tls_enabled else "http"
            parts.append(f"UI: {scheme}://{host}:{self.ports['query_http']}/{base + '/' if base else ''}")
        parts.append(f"storage: {describe_storage(s, self.storage)}")
        return "; ".join(parts)

    async def stop(self) -> None:
        """Stop accepting spans, drain the queue into storage, then stop serving queries."""
        self.ready = False
        if self.pool is not None:  # workers answer what they have in flight, then exit
            await self.pool.stop()
        for listener in self.ingest:
            await listener.stop()
        if not self._direct_workers:
            await self.processor.aclose()
        for listener in self.serving:
            await listener.stop()
        if self.query_service is not None:
            self.query_service.close()
        self.sampling.close()
        self.storage.close()
        lost = getattr(self.processor.writer, "lost_spans", 0)  # held by the backend, unwritable at close
        if lost:
            self.metrics.spans_dropped.labels("storage_unavailable").inc(lost)


def build_ingest_listeners(s: Settings, p: Any, provider: StrategyProvider, tenancy: Any = None,
                           metrics: IngestMetrics | None = None, auth: Authenticator | None = None,
                           auth_metrics: AuthMetrics | None = None) -> list[Listener]:
    """The receivers of the collector role, handing spans to the sink ``p`` (also what each
    ``--workers`` process runs); ``tenancy``: the gate, None with multi-tenancy off;
    ``auth``: ``--collector.auth`` (None: from the settings)."""
    host = s.listen_host
    auth = auth if auth is not None else auth_setup.collector_authenticator(s)
    protect = lambda app, name: auth_setup.protect_ingest_app(app, auth, name, auth_metrics)  # noqa: E731
    intercept = lambda name: [auth_setup.ingest_interceptor(auth, name, auth_metrics)] if auth.enabled else []  # noqa: E731

    def udp(name: str, port: int, decode: Callable[[bytes], list[Span]], fmt: str) -> UdpServer:
        return UdpServer(
            name=name,
            host=host,
            port=port,
            decode=decode,
            fmt=fmt,
            processor=p,
            receive_buffer_bytes=s.agent_socket_buffer_size,
            max_packet_size=s.agent_max_packet_size,
            receive_queue_bytes=s.agent_receive_queue_bytes,
            refuse=tenancy.udp_refuser(metrics) if tenancy else None,
        )

    collector_app = jaeger_http.build_app(p, tenancy=tenancy)
    sampling.add_routes(collector_app, provider, tenancy)
    return [
        udp("agent_jaeger_compact", s.agent_jaeger_compact_port,
            lambda b: jaeger_thrift.decode_agent_message(b, "compact"), "jaeger_thrift_compact"),
        udp("agent_jaeger_binary", s.agent_jaeger_binary_port,
            lambda b: jaeger_thrift.decode_agent_message(b, "binary"), "jaeger_thrift_binary"),
        udp("agent_zipkin_compact", s.agent_zipkin_compact_port,
            zipkin_thrift.decode_agent_zipkin_batch, "zipkin_thrift_compact"),
        HttpServer("collector_http", host, s.collector_http_port, protect(collector_app, "collector_http")),
        GrpcServer("collector_grpc", host, s.collector_grpc_port,
                   [lambda srv: jaeger_grpc.register(srv, p, tenancy), lambda srv: sampling.register(srv, provider, tenancy)],
                   [*jaeger_grpc.SERVICE_NAMES, *sampling.SERVICE_NAMES], interceptors=intercept("collector_grpc")),
        GrpcServer("otlp_grpc", host, s.collector_otlp_grpc_port,
                   [lambda srv: otlp_grpc.register(srv, p, tenancy)], otlp_grpc.SERVICE_NAMES, interceptors=intercept("otlp_grpc")),
        HttpServer("otlp_http", host, s.collector_otlp_http_port, protect(otlp_http.build_app(p, tenancy=tenancy), "otlp_http")),
        HttpServer("zipkin_http", host, s.collector_zipkin_port, protect(zipkin_http.build_app(p, tenancy=tenancy), "zipkin_http")),
    ]


def _bind_error(listener: Listener, exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):  # the host, not the port, is the problem
        return f"--listen-host: cannot resolve {listener.host!r}: {exc.strerror}"
    flag = LISTENER_FLAGS.get(listener.name)
    errno_ = getattr(exc, "errno", None)
    reason = os.strerror(errno_) if errno_ else str(exc)
    where = f"--{flag}" if flag else listener.name
    return f"{where}: cannot listen on {listener.host}:{listener.port}: {reason}"


def describe_storage(settings: Settings, storage: object) -> str:
    """The backend, and for sqlite its data directory and retention."""
    if settings.storage == "sqlite":
        return (f"sqlite, data dir {os.path.abspath(settings.data_dir)}, "
                f"retention {settings.sqlite_retention}")
    if settings.storage == "memory":
        return f"memory (at most {settings.memory_max_traces} traces; nothing is kept after exit)"
    describe = getattr(storage, "describe", None)
    return describe() if callable(describe) else settings.storage


def query_limits(settings: Settings) -> QueryLimits:
    """The ``# -- query limits`` settings as the query service takes them."""
    return QueryLimits(
        max_traces=settings.query_max_traces,
        max_spans_per_response=settings.query_max_spans_per_response,
        timeout_s=parse_duration(settings.query_timeout) / 1e9,
        max_concurrent=settings.query_max_concurrent,
        max_queued=settings.query_max_queued,
    )


def storage_options(settings: Settings) -> dict[str, object]:
    return {
        "memory_max_traces": settings.memory_max_traces,
        "data_dir": settings.data_dir,
        "sqlite_retention": settings.sqlite_retention,
        "sqlite_commit_interval": settings.sqlite_commit_interval,
        "dependencies_rollup_min_lookback": settings.dependencies_rollup_min_lookback,
        **{f: getattr(settings, f) for f in settings.__slots__ if f.startswith("clickhouse_")},  # type: ignore[attr-defined]
    }
