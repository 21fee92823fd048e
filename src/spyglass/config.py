"""Every setting of every command, declared once: a flag, a ``SPYGLASS_*`` environment
variable with the same name, a default and a help text.

Precedence: the flag, then the environment variable, then the default. The variable's name
is the flag's name upper-cased, with ``.`` and ``-`` turned into ``_`` and ``SPYGLASS_`` in
front: ``--memory.max-traces`` is ``SPYGLASS_MEMORY_MAX_TRACES``.

Every value is checked when it is read (ports 0-65535, Go durations, booleans, numbers,
readable files), and a bad one is one line naming the flag or the variable (exit status 2),
never a traceback. A field's ``roles`` (``COLLECTOR``, ``QUERY``) say which commands show
it; a field without roles belongs to every command.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spyglass import ports


COMMANDS = ("all-in-one", "collector", "query", "ingester", "agent", "demo", "tracegen")
COLLECTOR = ("all-in-one", "collector")  # receivers, sampling, the storage writer
QUERY = ("all-in-one", "query")  # query APIs and UI
INGESTER = ("ingester",)  # JetStream -> storage (docs/pipeline.md)
AGENT = ("agent",)  # spyglass agent: UDP receivers, sampling proxy, reporter
DEMO = ("demo",)  # spyglass demo only
TRACEGEN = ("tracegen",)  # spyglass tracegen: load generator (issue 18)


def _opt(default: Any, flag: str, help: str, *, check: str = "", roles: tuple[str, ...] = ()) -> Any:
    """One setting. ``check``: ``port``, ``duration``, ``positive``, ``non-negative``, ``probability``,
    ``log-level`` or ``source`` (a readable file or an http(s) URL); a name ending in ``_port`` is a port
    without saying so. ``roles``: the commands that have it (default: every command)."""
    return field(default=default, metadata={"flag": flag, "help": help, "check": check, "roles": roles})


# TCP listeners that can serve TLS: flag prefix -> (what it is, roles). Each gets five flags,
# --<prefix>.tls.enabled/.cert/.key/.client-ca/.min-version (Jaeger's names), made by _with_tls.
TLS_LISTENERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "collector.otlp.grpc": ("OTLP gRPC receiver", COLLECTOR),
    "collector.otlp.http": ("OTLP HTTP receiver", COLLECTOR),
    "collector.grpc": ("Jaeger gRPC receiver (and remote sampling)", COLLECTOR),
    "collector.http": ("Jaeger Thrift HTTP receiver", COLLECTOR),
    "collector.zipkin": ("Zipkin receiver", COLLECTOR),
    "agent.sampling": ("sampling strategies HTTP server (5778)", COLLECTOR + AGENT),
    "query.http": ("query HTTP API and UI", QUERY),
    "query.grpc": ("query gRPC API", QUERY),
    "tempo-api": ("Tempo query API (--tempo-api.port)", QUERY),
    "admin.http": ("admin HTTP (health, /metrics)", ()),
}
# Connections Spyglass opens: flag prefix -> (field prefix, what it is, roles). Six flags each,
# --<prefix>.tls.enabled/.ca/.cert/.key/.server-name/.skip-host-verify (Jaeger's client names).
TLS_CLIENTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "reporter.grpc": ("reporter_grpc", "agent: connections to the collectors", AGENT),
    "nats": ("nats", "connections to NATS", COLLECTOR + INGESTER),
    "clickhouse": ("clickhouse", "clickhouse backend: connections to the servers (their tcp_port_secure)", ()),
    "sampling.tail.peers": ("sampling_tail_peers", "tail-based sampling: connections to the peer collectors", COLLECTOR),
    "": ("tracegen", "tracegen: connections to the endpoint and --verify URL", TRACEGEN),
}


def _with_tls(cls: type) -> type:
    """Adds the TLS flags of ``TLS_LISTENERS`` and ``TLS_CLIENTS`` to ``Settings`` (before
    ``@dataclass`` sees it), so 75 near-identical declarations are written once."""
    fields: list[tuple[str, str, Any]] = []
    for prefix, (what, roles) in TLS_LISTENERS.items():
        attr, flag = prefix.replace(".", "_").replace("-", "_") + "_tls_", prefix + ".tls."
        fields += [
            (attr + "enabled", "bool", _opt(False, flag + "enabled", f"{what}: serve TLS instead of plain TCP", roles=roles)),
            (attr + "cert", "str", _opt("", flag + "cert", f"{what}: server certificate file (PEM, chain after it); reloaded when it changes", roles=roles)),
            (attr + "key", "str", _opt("", flag + "key", f"{what}: private key file (PEM) of the certificate", roles=roles)),
            (attr + "client_ca", "str", _opt("", flag + "client-ca", f"{what}: CA file (PEM); when set, clients must present a certificate it signed (mutual TLS)", roles=roles)),
            (attr + "min_version", "str", _opt("1.2", flag + "min-version", f"{what}: lowest TLS version accepted, 1.2 or 1.3", roles=roles)),
        ]
    for prefix, (attr_prefix, what, roles) in TLS_CLIENTS.items():
        attr, flag = attr_prefix + "_tls_", (prefix + "." if prefix else "") + "tls."
        fields += [
            (attr + "enabled", "bool", _opt(False, flag + "enabled", f"{what}: use TLS", roles=roles)),
            (attr + "ca", "str", _opt("", flag + "ca", f"{what}: CA file (PEM) that signed the server's certificate; empty: the system's CAs", roles=roles)),
            (attr + "cert", "str", _opt("", flag + "cert", f"{what}: client certificate file (PEM) for mutual TLS", roles=roles)),
            (attr + "key", "str", _opt("", flag + "key", f"{what}: private key file (PEM) of the client certificate", roles=roles)),
            (attr + "server_name", "str", _opt("", flag + "server-name", f"{what}: name the server's certificate must have, when not the host connected to", roles=roles)),
            (attr + "skip_host_verify", "bool", _opt(False, flag + "skip-host-verify", f"{what}: accept any server certificate (insecure; tests only)", roles=roles)),
        ]
    for name, kind, f in fields:
        cls.__annotations__[name] = kind
        setattr(cls, name, f)
    return cls


def env_name(flag: str) -> str:
    """The environment variable that sets ``--flag``."""
    return "SPYGLASS_" + flag.upper().replace(".", "_").replace("-", "_")


@dataclass(slots=True)
@_with_tls
class Settings:
    # -- process ---------------------------------------------------------------------
    listen_host: str = _opt("127.0.0.1", "listen-host", "address every server binds; 0.0.0.0 exposes them")
    log_level: str = _opt("info", "log-level", "debug, info, warning or error", check="log-level")
    # -- storage ---------------------------------------------------------------------
    storage: str = _opt("sqlite", "storage", "storage backend: sqlite (persistent, one file per UTC day under --data-dir), memory or clickhouse")
    data_dir: str = _opt("./data", "data-dir", "directory of the persistent backends' files")
    memory_max_traces: int = _opt(100_000, "memory.max-traces", "memory backend: traces kept before the oldest are evicted", check="positive")
    sqlite_retention: str = _opt("72h", "sqlite.retention", "sqlite backend: age (Go duration) after which whole day files are deleted", check="duration")
    sqlite_commit_interval: str = _opt("1s", "sqlite.commit-interval", "sqlite backend: longest time an accepted span waits for its commit (the crash-loss window)", check="duration", roles=COLLECTOR + INGESTER)
    archive_enabled: bool = _opt(False, "archive.enabled", "keep archived traces (POST /api/archive/{id}) in a second store without retention", roles=QUERY)
    # -- clickhouse --------------------------------------------------------------------
    clickhouse_addresses: str = _opt("127.0.0.1:9000", "clickhouse.addresses", "clickhouse backend: servers' native-protocol host:port[,host:port...] (the first reachable answers)")
    clickhouse_database: str = _opt("spyglass", "clickhouse.database", "clickhouse backend: database (created when missing)")
    clickhouse_cluster: str = _opt("", "clickhouse.cluster", "clickhouse backend: cluster of the servers' config; tables ON CLUSTER, sharded by trace ID through Distributed tables")
    clickhouse_replication: bool = _opt(False, "clickhouse.replication", "clickhouse backend: ReplicatedMergeTree tables (needs --clickhouse.cluster and ZooKeeper)")
    clickhouse_username: str = _opt("default", "clickhouse.username", "clickhouse backend: user")
    clickhouse_password: str = _opt("", "clickhouse.password", "clickhouse backend: password")
    clickhouse_retention: str = _opt("72h", "clickhouse.retention", "clickhouse backend: age (Go duration) after which spans are deleted (TTL, or day partitions dropped on old servers); 0 keeps everything", check="duration")
    clickhouse_batch_size: int = _opt(10_000, "clickhouse.batch-size", "clickhouse backend: spans per insert (ingesters: combine fetches up to this many)", check="positive", roles=COLLECTOR + INGESTER)
    clickhouse_flush_interval: str = _opt("1s", "clickhouse.flush-interval", "clickhouse backend: longest a span waits for its insert (Go duration)", check="duration", roles=COLLECTOR + INGESTER)
    clickhouse_buffer_size: int = _opt(1_000_000, "clickhouse.buffer-size", "clickhouse backend: spans held for retry while the servers fail; more are refused until they are sent", check="positive", roles=COLLECTOR)
    clickhouse_timeout: str = _opt("30s", "clickhouse.timeout", "clickhouse backend: longest wait for any request to the servers (Go duration)", check="duration")
    clickhouse_create_schema: bool = _opt(True, "clickhouse.create-schema", "clickhouse backend: create the database and tables at start (off: see spyglass clickhouse-schema)")
    # -- collector -------------------------------------------------------------------
    collector_queue_size: int = _opt(100_000, "collector.queue-size", "spans that may wait for the storage writer", check="positive", roles=COLLECTOR)
    collector_batch_size: int = _opt(1_000, "collector.batch-size", "most spans per storage write", check="positive", roles=COLLECTOR)
    collector_http_port: int = _opt(ports.COLLECTOR_HTTP, "collector.http-port", "Jaeger Thrift over HTTP (POST /api/traces)", roles=COLLECTOR)
    collector_grpc_port: int = _opt(ports.COLLECTOR_GRPC, "collector.grpc-port", "Jaeger gRPC CollectorService", roles=COLLECTOR)
    collector_otlp_grpc_port: int = _opt(ports.OTLP_GRPC, "collector.otlp-grpc-port", "OTLP over gRPC", roles=COLLECTOR)
    collector_otlp_http_port: int = _opt(ports.OTLP_HTTP, "collector.otlp-http-port", "OTLP over HTTP (POST /v1/traces)", roles=COLLECTOR)
    collector_zipkin_port: int = _opt(ports.ZIPKIN_HTTP, "collector.zipkin-port", "Zipkin HTTP (/api/v1/spans, /api/v2/spans)", roles=COLLECTOR)
    admin_port: int = _opt(ports.COLLECTOR_ADMIN_HTTP, "admin.port", "admin HTTP: health at /, Prometheus /metrics")
    # -- agent (UDP) -------------------------------------------------------------------
    agent_jaeger_compact_port: int = _opt(ports.AGENT_JAEGER_THRIFT_COMPACT_UDP, "agent.jaeger-compact-port", "UDP Thrift compact emitBatch", roles=COLLECTOR + AGENT)
    agent_jaeger_binary_port: int = _opt(ports.AGENT_JAEGER_THRIFT_BINARY_UDP, "agent.jaeger-binary-port", "UDP Thrift binary emitBatch", roles=COLLECTOR + AGENT)
    agent_zipkin_compact_port: int = _opt(ports.AGENT_ZIPKIN_THRIFT_COMPACT_UDP, "agent.zipkin-compact-port", "UDP Thrift compact emitZipkinBatch", roles=COLLECTOR + AGENT)
    agent_sampling_port: int = _opt(ports.AGENT_SAMPLING_HTTP, "agent.sampling-port", "HTTP sampling strategies for SDKs (GET /sampling; legacy GET /)", roles=COLLECTOR + AGENT)
    sampling_strategies_file: str = _opt("", "sampling.strategies-file", "Jaeger strategies file (path or http(s) URL); empty: the default probability for every service", check="source", roles=COLLECTOR)
    sampling_strategies_reload_interval: str = _opt("1s", "sampling.strategies-reload-interval", "re-read the strategies file this often (Go duration); 0s reads it once", check="duration", roles=COLLECTOR)
    sampling_default_sampling_probability: float = _opt(1.0, "sampling.default-sampling-probability", "probability for services the strategies file does not cover (1 = every trace, as Jaeger v2's all-in-one)", check="probability", roles=COLLECTOR)
    # -- sampling: adaptive and tail-based (issue 14) -------------------------------------
    sampling_type: str = _opt("file", "sampling.type", "remote sampling strategies: file (the strategies file or the default probability) or adaptive (per-operation probabilities computed from live traffic, as Jaeger's)", roles=COLLECTOR)
    sampling_target_samples_per_second: float = _opt(1.0, "sampling.target-samples-per-second", "adaptive: sampled traces per second wanted per operation (above 0)", check="non-negative", roles=COLLECTOR)
    sampling_delta_tolerance: float = _opt(0.3, "sampling.delta-tolerance", "adaptive: no change while |actual-target|/target is below this", check="non-negative", roles=COLLECTOR)
    sampling_calculation_interval: str = _opt("1m", "sampling.calculation-interval", "adaptive: how often probabilities are recomputed, and the throughput bucket width (Go duration)", check="duration", roles=COLLECTOR)
    sampling_aggregation_buckets: int = _opt(10, "sampling.aggregation-buckets", "adaptive: throughput buckets kept for the weighted QPS", check="positive", roles=COLLECTOR)
    sampling_initial_sampling_probability: float = _opt(0.001, "sampling.initial-sampling-probability", "adaptive: probability of a new operation", check="probability", roles=COLLECTOR)
    sampling_min_sampling_probability: float = _opt(1e-5, "sampling.min-sampling-probability", "adaptive: lowest probability computed", check="probability", roles=COLLECTOR)
    sampling_min_samples_per_second: float = _opt(1.0 / 60, "sampling.min-samples-per-second", "adaptive: lower bound of sampled traces per second per operation (defaultLowerBoundTracesPerSecond)", check="non-negative", roles=COLLECTOR)
    sampling_leader_lease_refresh_interval: str = _opt("5s", "sampling.leader-lease-refresh-interval", "adaptive: how often the leader renews its lease in the storage (Go duration)", check="duration", roles=COLLECTOR)
    sampling_follower_lease_refresh_interval: str = _opt("1m", "sampling.follower-lease-refresh-interval", "adaptive: how often a follower tries for the lease and reloads probabilities; also the lease's length (Go duration)", check="duration", roles=COLLECTOR)
    sampling_delay: str = _opt("2m", "sampling.delay", "adaptive: how far back the throughput used lags (Jaeger's calculation delay; 0s allowed)", check="duration", roles=COLLECTOR)
    sampling_tail_policies: str = _opt("", "sampling.tail.policies", "tail-based sampling: a YAML or JSON file of OpenTelemetry tail_sampling policies (docs/sampling.md); empty: off", check="source", roles=COLLECTOR)
    sampling_tail_peers: str = _opt("", "sampling.tail.peers", "tail-based sampling with several collectors: every collector's gRPC host:port, in the same order on all (this one included); spans go to the collector their trace ID hashes to", check="host-ports", roles=COLLECTOR)
    agent_socket_buffer_size: int = _opt(8 * 1024 * 1024, "agent.socket-buffer-size", "UDP receive buffer in bytes, so bursts are not lost in the kernel", check="positive", roles=COLLECTOR + AGENT)
    agent_max_packet_size: int = _opt(65_000, "agent.max-packet-size", "largest UDP packet accepted, in bytes", check="positive", roles=COLLECTOR + AGENT)
    agent_receive_queue_bytes: int = _opt(128 * 1024 * 1024, "agent.receive-queue-bytes", "UDP datagrams read and not yet decoded, in bytes, so a decoding stall never leaves the socket unread; beyond this they are dropped and counted", check="positive", roles=COLLECTOR + AGENT)
    agent_decoder_processes: int = _opt(1, "agent.decoder-processes", "agent: worker processes that transcode the Jaeger Thrift UDP packets, so the agent uses more than one core; 0 transcodes in the agent's own process", check="non-negative", roles=AGENT)
    # -- agent (spyglass agent: forwarding to collectors) -------------------------------
    reporter_grpc_host_port: str = _opt("", "reporter.grpc.host-port", "agent: collectors to forward to over gRPC PostSpans, host:port[,host:port...] (round-robin)", check="host-ports", roles=AGENT)
    reporter_grpc_retry_max: int = _opt(3, "reporter.grpc.retry.max", "agent: retries of a failed batch (on the next healthy collector, with back-off) before it is dropped", check="non-negative", roles=AGENT)
    reporter_grpc_connections: int = _opt(2, "reporter.grpc.connections", "agent: TCP connections to each collector; a collector's --workers processes take connections, not calls, so one connection keeps one worker busy", check="positive", roles=AGENT)
    reporter_grpc_timeout: str = _opt("5s", "reporter.grpc.timeout", "agent: deadline of one PostSpans call (Go duration)", check="duration", roles=AGENT)
    reporter_queue_size: int = _opt(100_000, "reporter.queue-size", "agent: spans that may wait to be forwarded; beyond this they are dropped and counted", check="positive", roles=AGENT)
    reporter_batch_size: int = _opt(1_000, "reporter.batch-size", "agent: most spans per PostSpans call", check="positive", roles=AGENT)
    agent_tenant: str = _opt("", "agent.tenant", "agent: tenant its UDP spans are forwarded as (in --multi-tenancy.header), for collectors with --multi-tenancy.enabled; empty: none", roles=AGENT)
    agent_tags: str = _opt("", "agent.tags", "agent: key=value,... added to every span's process; ${ENV} or ${ENV:default} reads the environment", roles=AGENT)
    # -- collectors on every core (docs/pipeline.md) --------------------------------------
    collector_workers: int = _opt(0, "workers", "receiving processes sharing the collector ports (SO_REUSEPORT), each decoding on its own core; 0: one per core (collector) or the cores but one, at least 2 (all-in-one); 1: in-process", check="non-negative", roles=COLLECTOR)
    # -- durable queue (write-ahead log) ---------------------------------------------
    collector_queue_durable: bool = _opt(False, "collector.queue.durable", "write accepted spans to a write-ahead log under --data-dir/queue (fsync'd) before acknowledging them, and replay it at start: a crash loses nothing acknowledged", roles=COLLECTOR)
    # -- buffer (NATS) -----------------------------------------------------------------
    collector_buffer: str = _opt("memory", "collector.buffer", "where collectors put accepted spans: memory (the queue in front of this process's storage) or nats (a JetStream stream that `spyglass ingester` drains into storage)", roles=COLLECTOR)
    nats_url: str = _opt("nats://127.0.0.1:4222", "nats.url", "NATS servers, comma-separated (nats://h:4222,nats://h2:4222)", roles=COLLECTOR + INGESTER)
    nats_stream: str = _opt("spyglass-spans", "nats.stream", "JetStream stream of span batches (created when missing)", roles=COLLECTOR + INGESTER)
    nats_subject: str = _opt("spyglass.spans", "nats.subject", "subject the collectors publish to", roles=COLLECTOR + INGESTER)
    nats_replicas: int = _opt(1, "nats.replicas", "copies of the stream in a NATS cluster", check="positive", roles=COLLECTOR + INGESTER)
    nats_max_age: str = _opt("72h", "nats.max-age", "stream limit: batches older than this (Go duration) are deleted even if no ingester took them", check="duration", roles=COLLECTOR + INGESTER)
    nats_max_bytes: int = _opt(1 << 30, "nats.max-bytes", "stream limit in bytes; when full, collectors answer retryable errors (HTTP 503, gRPC UNAVAILABLE/RESOURCE_EXHAUSTED)", check="positive", roles=COLLECTOR + INGESTER)
    nats_consumer: str = _opt("spyglass-ingester", "nats.consumer", "durable pull consumer shared by every ingester", roles=COLLECTOR + INGESTER)
    nats_publish_timeout: str = _opt("5s", "nats.publish-timeout", "collectors: longest wait for JetStream's acknowledgement before answering a retryable error", check="duration", roles=COLLECTOR + INGESTER)
    nats_fetch_batch: int = _opt(100, "nats.fetch-batch", "ingesters: most messages (one per client request) per fetch, stored and committed together", check="positive", roles=COLLECTOR + INGESTER)
    nats_ack_wait: str = _opt("30s", "nats.ack-wait", "ingesters: a fetched message not acknowledged within this is redelivered", check="duration", roles=COLLECTOR + INGESTER)
    # -- multi-tenancy (docs/security.md "Multi-tenancy") -----------------------------
    multi_tenancy_enabled: bool = _opt(False, "multi-tenancy.enabled", "keep tenants apart: every span and query needs a tenant (the --multi-tenancy.header, or the credential's tenant) and sees only that tenant's data; UDP spans are dropped and counted", roles=COLLECTOR + QUERY + INGESTER)
    multi_tenancy_header: str = _opt("x-tenant", "multi-tenancy.header", "HTTP header (gRPC metadata key) that names the tenant", roles=COLLECTOR + QUERY + INGESTER + AGENT)
    multi_tenancy_tenants: str = _opt("", "multi-tenancy.tenants", "tenants allowed, comma-separated; empty: any tenant name (letters, digits, _ and -)", roles=COLLECTOR + QUERY + INGESTER)
    multi_tenancy_retention: str = _opt("", "multi-tenancy.retention", "per-tenant retention overriding the backend's, TENANT=DURATION,... (e.g. a=24h,b=168h)", roles=COLLECTOR + QUERY + INGESTER)
    multi_tenancy_ingest_rate: str = _opt("", "multi-tenancy.ingest-rate", "per-tenant ingest limit in spans/s, TENANT=RATE,... (*=RATE for the others); a request over it is refused whole (HTTP 429, gRPC RESOURCE_EXHAUSTED)", roles=COLLECTOR)
    # -- query -----------------------------------------------------------------------
    query_http_port: int = _opt(ports.QUERY_HTTP, "query.http-port", "query HTTP API and web UI", roles=QUERY)
    query_grpc_port: int = _opt(ports.QUERY_GRPC, "query.grpc-port", "query gRPC API (api_v2, api_v3)", roles=QUERY)
    tempo_api_port: int = _opt(ports.TEMPO_HTTP, "tempo-api.port", "Grafana Tempo's HTTP query API (TraceQL search, traces, tags, metrics) for Grafana's Tempo data source", roles=QUERY)
    query_base_path: str = _opt("", "query.base-path", "URL prefix of the query API and UI, e.g. /jaeger", roles=QUERY)
    query_max_clock_skew_adjustment: str = _opt("0s", "query.max-clock-skew-adjustment", "largest clock skew correction (Go duration); 0 disables it", check="duration", roles=QUERY)
    # -- query limits ----------------------------------------------------------------
    query_max_traces: int = _opt(1_000, "query.max-traces", "most traces one search returns; a larger limit/search_depth is clamped (0: no cap)", check="non-negative", roles=QUERY)
    query_max_spans_per_response: int = _opt(200_000, "query.max-spans-per-response", "most spans in one query answer: traces are taken whole up to it, a larger single trace is cut with a warning (0: no cap)", check="non-negative", roles=QUERY)
    query_timeout: str = _opt("30s", "query.timeout", "deadline of one query request (Go duration), queueing included; past it HTTP 503 / gRPC DEADLINE_EXCEEDED and the work stops; 0s disables it", check="duration", roles=QUERY)
    query_max_concurrent: int = _opt(4, "query.max-concurrent", "heavy query calls (searches, trace fetches, dependencies) running at once, on threads ingest never uses", check="positive", roles=QUERY)
    query_max_queued: int = _opt(64, "query.max-queued", "heavy query calls that may wait for a slot; beyond it HTTP 503 / gRPC RESOURCE_EXHAUSTED", check="positive", roles=QUERY)
    # -- authentication (docs/security.md "Authentication") -----------------------------
    query_auth: str = _opt("none", "query.auth", "query APIs (HTTP and gRPC) and UI: none, basic (--query.auth.htpasswd-file), bearer (--query.auth.tokens-file) or oidc (JWTs checked against --query.auth.oidc.jwks)", roles=QUERY)
    query_auth_htpasswd_file: str = _opt("", "query.auth.htpasswd-file", "basic: htpasswd file of bcrypt hashes (htpasswd -B), user:hash[:roles[:tenant]] a line; re-read when it changes", check="source", roles=QUERY)
    query_auth_tokens_file: str = _opt("", "query.auth.tokens-file", "bearer: file of TOKEN TENANT [ROLES] lines (roles read,write,admin; default read; tenant - for none); re-read when it changes", check="source", roles=QUERY)
    query_auth_oidc_jwks: str = _opt("", "query.auth.oidc.jwks", "oidc: the identity provider's JWKS, a file or an http(s) URL (cached, refreshed)", check="source", roles=QUERY)
    query_auth_oidc_jwks_refresh: str = _opt("5m", "query.auth.oidc.jwks-refresh", "oidc: how often a JWKS URL is fetched again (Go duration); an unknown key ID fetches it sooner", check="duration", roles=QUERY)
    query_auth_oidc_issuer: str = _opt("", "query.auth.oidc.issuer", "oidc: the iss claim tokens must carry", roles=QUERY)
    query_auth_oidc_audience: str = _opt("", "query.auth.oidc.audience", "oidc: the aud claim tokens must carry", roles=QUERY)
    query_auth_oidc_tenant_claim: str = _opt("tenant", "query.auth.oidc.tenant-claim", "oidc: claim naming the tenant a token is bound to", roles=QUERY)
    query_auth_oidc_roles_claim: str = _opt("roles", "query.auth.oidc.roles-claim", "oidc: claim listing the token's roles (read, write, admin); without it, read", roles=QUERY)
    query_auth_max_failures: int = _opt(10, "query.auth.max-failures", "basic: wrong passwords allowed per client address per minute; more are answered 429 unchecked (0: no limit)", check="non-negative", roles=QUERY)
    query_auth_session_ttl: str = _opt("12h", "query.auth.session-ttl", "UI sign-in sessions end this long after sign-in (Go duration)", check="duration", roles=QUERY)
    collector_auth: str = _opt("none", "collector.auth", "receivers (OTLP, Jaeger, Zipkin; HTTP and gRPC): none or bearer (Authorization: Bearer TOKEN from --collector.auth.tokens-file)", roles=COLLECTOR)
    collector_auth_tokens_file: str = _opt("", "collector.auth.tokens-file", "bearer: file of TOKEN TENANT [ROLES] lines (default role write); re-read when it changes", check="source", roles=COLLECTOR)
    reporter_grpc_auth_token_file: str = _opt("", "reporter.grpc.auth.token-file", "agent: file holding the bearer token sent to the collectors (for --collector.auth bearer); re-read when it changes", check="source", roles=AGENT)
    reporter_grpc_auth_token: str = _opt("", "reporter.grpc.auth.token", "agent: the bearer token itself (prefer the file or the environment variable: flags show in ps)", roles=AGENT)
    # -- server limits (every HTTP and gRPC listener; README "Operations: limits") ------------
    server_max_connections: int = _opt(1024, "server.max-connections", "open connections per listener; more are answered 503 and closed at once (gRPC: refused)", check="positive")
    server_header_timeout: str = _opt("10s", "server.header-timeout", "a request's headers must arrive within this (Go duration) or the connection is closed; gRPC: the handshake deadline; 0s disables it", check="duration")
    server_idle_timeout: str = _opt("60s", "server.idle-timeout", "an idle keep-alive connection, or one whose client reads nothing of its answer, is closed after this (Go duration); 0s disables it", check="duration")
    server_max_body_memory: int = _opt(256 * 1024 * 1024, "server.max-body-memory", "bytes of request bodies all HTTP receivers may hold at once; past it a request gets 503 and Retry-After", check="positive")
    server_max_concurrent_rpcs: int = _opt(1000, "server.max-concurrent-rpcs", "calls in progress per gRPC listener; more get RESOURCE_EXHAUSTED", check="positive")
    # -- analytics: RED metrics and dependency rollups (issue 13) ------------------------
    dependencies_rollup_min_lookback: str = _opt("1h", "dependencies.rollup-min-lookback", "/api/dependencies windows at least this long (Go duration) are read from the edge rollup written at ingest (minute resolution); shorter ones scan the spans exactly; -1s always scans", check="duration", roles=QUERY)
    # -- demo (spyglass demo: the HotROD-like application) --------------------------------
    demo_backend: str = _opt("embedded", "demo.backend", "demo: embedded (an all-in-one in the demo's process, on the ports above) or remote (report to --demo.agent-host and --demo.otlp-endpoint)", roles=DEMO)
    demo_agent_host: str = _opt("127.0.0.1", "demo.agent-host", "demo: host of the agent the spyglass.client services send UDP spans to (port --agent.jaeger-compact-port)", roles=DEMO)
    demo_otlp_endpoint: str = _opt("127.0.0.1:4317", "demo.otlp-endpoint", "demo: host:port of the OTLP gRPC receiver of the OpenTelemetry SDK services", roles=DEMO)
    demo_rate: float = _opt(2.0, "demo.rate", "demo: ride requests per second the load generator sends (0: none, drive it yourself)", roles=DEMO)
    demo_duration: str = _opt("0s", "demo.duration", "demo: run this long (Go duration), then stop; 0s runs until Ctrl-C", check="duration", roles=DEMO)
    # -- tracegen (spyglass tracegen: load generator; Jaeger's -traces, -workers, ... as aliases) --
    tracegen_protocol: str = _opt("otlp-grpc", "protocol", "tracegen: otlp-grpc, otlp-http, jaeger-grpc, jaeger-http (Thrift, 14268), jaeger-udp (Thrift compact, 6831) or zipkin (v2 JSON)", roles=TRACEGEN)
    tracegen_endpoint: str = _opt("127.0.0.1", "endpoint", "tracegen: host[:port] to send to; the port defaults to the protocol's (4317, 4318, 14250, 14268, 6831, 9411)", roles=TRACEGEN)
    tracegen_rate: float = _opt(0.0, "rate", "tracegen: spans per second over all workers; 0 sends as fast as the server acknowledges", check="non-negative", roles=TRACEGEN)
    tracegen_duration: str = _opt("0s", "duration", "tracegen: run this long (Go duration); 0s sends --traces per worker and stops", check="duration", roles=TRACEGEN)
    tracegen_traces: int = _opt(1, "traces", "tracegen: traces each worker sends when --duration is 0s (Jaeger's -traces)", check="non-negative", roles=TRACEGEN)
    tracegen_workers: int = _opt(1, "workers", "tracegen: worker processes sending at once", check="positive", roles=TRACEGEN)
    tracegen_pause: str = _opt("0s", "pause", "tracegen: pause after each trace (Go duration), as Jaeger's -pause", check="duration", roles=TRACEGEN)
    tracegen_service: str = _opt("tracegen", "service", "tracegen: service name; with --services N, the prefix of NAME-00 ... NAME-(N-1)", roles=TRACEGEN)
    tracegen_services: int = _opt(1, "services", "tracegen: services a trace crosses (one per tree level, in turn)", check="positive", roles=TRACEGEN)
    tracegen_operations: int = _opt(5, "operations", "tracegen: distinct operation names", check="positive", roles=TRACEGEN)
    tracegen_depth: int = _opt(3, "depth", "tracegen: levels of each trace's call tree", check="positive", roles=TRACEGEN)
    tracegen_fan_out: int = _opt(2, "fan-out", "tracegen: children of each span above the last level", check="positive", roles=TRACEGEN)
    tracegen_attributes: int = _opt(8, "attributes", "tracegen: attributes (tags) per span", check="non-negative", roles=TRACEGEN)
    tracegen_events: int = _opt(1, "events", "tracegen: events (logs) per span", check="non-negative", roles=TRACEGEN)
    tracegen_error_ratio: float = _opt(0.01, "error-ratio", "tracegen: share of spans with an error status", check="probability", roles=TRACEGEN)
    tracegen_links: int = _opt(0, "links", "tracegen: links from each root span to the roots of the previous traces", check="non-negative", roles=TRACEGEN)
    tracegen_batch_spans: int = _opt(100, "batch-spans", "tracegen: spans per request (whole traces are added until it is reached)", check="positive", roles=TRACEGEN)
    tracegen_concurrency: int = _opt(4, "concurrency", "tracegen: requests in flight per worker", check="positive", roles=TRACEGEN)
    tracegen_seed: int = _opt(0, "seed", "tracegen: random seed for reproducible traces; 0 picks one", check="non-negative", roles=TRACEGEN)
    tracegen_verify: str = _opt("", "verify", "tracegen: query URL (http://host:16686): read every acknowledged trace back, report loss and ingest-to-query delay", roles=TRACEGEN)
    tracegen_verify_timeout: str = _opt("10s", "verify-timeout", "tracegen: how long a trace may take to read back whole before it counts as lost", check="duration", roles=TRACEGEN)
    tracegen_verify_delay: str = _opt("0s", "verify-delay", "tracegen: read each trace no sooner than this after its acknowledgement, to check what survives (a commit interval, a restart)", check="duration", roles=TRACEGEN)
    tracegen_report_file: str = _opt("", "report-file", "tracegen: write the totals, per-second figures and verification as JSON to this file", roles=TRACEGEN)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then environment variables, then ``overrides`` (used by tests)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = env_name(f.metadata["flag"])
            raw = environ.get(name)
            if raw is not None:
                try:
                    values[f.name] = _convert(f, raw)
                except ValueError as exc:
                    raise ConfigError(f"{name}={raw!r}: {exc}") from None
        values.update(overrides)
        return cls(**values)


class ConfigError(ValueError):
    """A bad setting; ``str()`` is one line naming the flag or variable and the problem."""


def _parse_bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _kind(f: dataclasses.Field[Any]) -> Any:
    return {"int": int, "float": float, "bool": _parse_bool}.get(str(f.type), str)


_KIND_NAMES = {int: "an integer", float: "a number"}


def _convert(f: dataclasses.Field[Any], raw: str) -> Any:
    """``raw`` as the field's type, checked; ``ValueError`` with a short reason otherwise."""
    kind = _kind(f)
    try:
        value = kind(raw.strip() if kind is not str else raw)
    except ValueError:
        if kind is _parse_bool:
            raise ValueError(f"not a boolean (true/false, 1/0, yes/no, on/off): {raw!r}") from None
        raise ValueError(f"not {_KIND_NAMES.get(kind, 'valid')}: {raw!r}") from None
    _check(f, value)
    return value


def _check(f: dataclasses.Field[Any], value: Any) -> None:
    check = f.metadata.get("check") or ("port" if f.name.endswith("_port") else "")
    if check == "port" and not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a port number (0-65535; 0 lets the OS choose)")
    if check == "positive" and value < 1:
        raise ValueError(f"{value} must be at least 1")
    if check == "non-negative" and value < 0:
        raise ValueError(f"{value} must not be negative")
    if check == "probability" and not 0.0 <= value <= 1.0:
        raise ValueError(f"{value} is not a probability (0 to 1)")
    if check == "log-level" and value.lower() not in ("debug", "info", "warning", "error"):
        raise ValueError(f"not a log level (debug, info, warning or error): {value!r}")
    if check == "duration":
        from spyglass.gocompat.godur import parse_duration

        try:
            parse_duration(value.strip())
        except ValueError:
            raise ValueError(f"not a duration such as 500ms, 30s, 72h or 1h30m: {value!r}") from None
    if check == "host-ports" and value:
        from spyglass.agent.collectors import parse_host_ports

        parse_host_ports(value)
    if check == "source" and value and not value.startswith(("http://", "https://")):
        try:
            with open(value, "rb"):
                pass
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None


class _EnvValue(str):
    """A default that came from an environment variable, so its error names the variable."""

    env: str = ""


def _argument_type(f: dataclasses.Field[Any]) -> Callable[[str], Any]:
    def convert(raw: str) -> Any:
        try:
            return _convert(f, raw)
        except ValueError as exc:
            if isinstance(raw, _EnvValue):
                raise argparse.ArgumentTypeError(f"(from {raw.env}={str(raw)!r}) {exc}") from None
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = _kind(f).__name__  # argparse names the type in some messages
    return convert


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_arguments(
    parser: argparse.ArgumentParser,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    command: str | None = None,
    own_only: bool = False,
) -> None:
    """Add one ``--flag`` per setting of ``command`` (every setting when None), defaulting
    to its environment variable; ``overrides`` changes a default for one command (the
    query's admin port is Jaeger's 16687); ``own_only`` leaves out the settings every command
    shares (a tool such as tracegen runs no server). A bad variable is reported, naming it, when the
    arguments are parsed (so ``--help`` still works)."""
    environ = os.environ if environ is None else environ
    for f in dataclasses.fields(Settings):
        roles = f.metadata.get("roles") or ()
        if command is not None and roles and command not in roles:
            continue
        if own_only and command not in roles:  # a tool (tracegen): none of the servers' settings
            continue
        if roles == TRACEGEN and command != "tracegen":  # nor its settings in the servers' --help
            continue
        flag = f.metadata["flag"]
        default = (overrides or {}).get(f.name, f.default)
        raw = environ.get(env_name(flag))
        if raw is not None:
            default = _EnvValue(raw)
            default.env = env_name(flag)
        kind = _kind(f)
        parser.add_argument(
            f"--{flag}",
            dest=f.name,
            type=_argument_type(f),
            default=default,
            nargs="?" if kind is _parse_bool else None,
            const=True if kind is _parse_bool else None,
            metavar={int: "INT", float: "FLOAT", str: "TEXT"}.get(kind, "BOOL"),
            help=f"{f.metadata['help']} (env {env_name(flag)}; default {(overrides or {}).get(f.name, f.default)})",
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings a command parsed; those it does not have keep their defaults."""
    return Settings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Settings) if hasattr(args, f.name)})
