"""Every setting of every command, declared once: a flag, a ``SPYGLASS_*`` environment
variable with the same name, a default and a help text.

Precedence: the flag, then the environment variable, then the default. The variable's name
is the flag's name upper-cased, with ``.`` and ``-`` turned into ``_`` and ``SPYGLASS_`` in
front: ``--memory.max-traces`` is ``SPYGLASS_MEMORY_MAX_TRACES``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spyglass import ports


def _opt(default: Any, flag: str, help: str) -> Any:
    return field(default=default, metadata={"flag": flag, "help": help})


def env_name(flag: str) -> str:
    """The environment variable that sets ``--flag``."""
    return "SPYGLASS_" + flag.upper().replace(".", "_").replace("-", "_")


@dataclass(slots=True)
class Settings:
    # -- process ---------------------------------------------------------------------
    listen_host: str = _opt("127.0.0.1", "listen-host", "address every server binds; 0.0.0.0 exposes them")
    log_level: str = _opt("info", "log-level", "debug, info, warning or error")
    # -- storage ---------------------------------------------------------------------
    storage: str = _opt("sqlite", "storage", "storage backend: sqlite (persistent, one file per UTC day under --data-dir) or memory")
    data_dir: str = _opt("./data", "data-dir", "directory of the persistent backends' files")
    memory_max_traces: int = _opt(100_000, "memory.max-traces", "memory backend: traces kept before the oldest are evicted")
    sqlite_retention: str = _opt("72h", "sqlite.retention", "sqlite backend: age (Go duration) after which whole day files are deleted")
    sqlite_commit_interval: str = _opt("1s", "sqlite.commit-interval", "sqlite backend: longest time an accepted span waits for its commit (the crash-loss window)")
    archive_enabled: bool = _opt(False, "archive.enabled", "keep archived traces (POST /api/archive/{id}) in a second store without retention")
    # -- collector -------------------------------------------------------------------
    collector_queue_size: int = _opt(100_000, "collector.queue-size", "spans that may wait for the storage writer")
    collector_batch_size: int = _opt(1_000, "collector.batch-size", "most spans per storage write")
    collector_http_port: int = _opt(ports.COLLECTOR_HTTP, "collector.http-port", "Jaeger Thrift over HTTP (POST /api/traces)")
    collector_grpc_port: int = _opt(ports.COLLECTOR_GRPC, "collector.grpc-port", "Jaeger gRPC CollectorService")
    collector_otlp_grpc_port: int = _opt(ports.OTLP_GRPC, "collector.otlp-grpc-port", "OTLP over gRPC")
    collector_otlp_http_port: int = _opt(ports.OTLP_HTTP, "collector.otlp-http-port", "OTLP over HTTP (POST /v1/traces)")
    collector_zipkin_port: int = _opt(ports.ZIPKIN_HTTP, "collector.zipkin-port", "Zipkin HTTP (/api/v1/spans, /api/v2/spans)")
    admin_port: int = _opt(ports.COLLECTOR_ADMIN_HTTP, "admin.port", "admin HTTP: health at /, Prometheus /metrics")
    # -- agent (UDP) -------------------------------------------------------------------
    agent_jaeger_compact_port: int = _opt(ports.AGENT_JAEGER_THRIFT_COMPACT_UDP, "agent.jaeger-compact-port", "UDP Thrift compact emitBatch")
    agent_jaeger_binary_port: int = _opt(ports.AGENT_JAEGER_THRIFT_BINARY_UDP, "agent.jaeger-binary-port", "UDP Thrift binary emitBatch")
    agent_zipkin_compact_port: int = _opt(ports.AGENT_ZIPKIN_THRIFT_COMPACT_UDP, "agent.zipkin-compact-port", "UDP Thrift compact emitZipkinBatch")
    agent_sampling_port: int = _opt(ports.AGENT_SAMPLING_HTTP, "agent.sampling-port", "HTTP sampling strategies for SDKs (GET /sampling; legacy GET /)")
    sampling_strategies_file: str = _opt("", "sampling.strategies-file", "Jaeger strategies file (path or http(s) URL); empty: the default probability for every service")
    sampling_strategies_reload_interval: str = _opt("1s", "sampling.strategies-reload-interval", "re-read the strategies file this often (Go duration); 0s reads it once")
    sampling_default_sampling_probability: float = _opt(1.0, "sampling.default-sampling-probability", "probability for services the strategies file does not cover (1 = every trace, as Jaeger v2's all-in-one)")
    agent_socket_buffer_size: int = _opt(8 * 1024 * 1024, "agent.socket-buffer-size", "UDP receive buffer in bytes, so bursts are not lost in the kernel")
    agent_max_packet_size: int = _opt(65_000, "agent.max-packet-size", "largest UDP packet accepted, in bytes")
    # -- query -----------------------------------------------------------------------
    query_http_port: int = _opt(ports.QUERY_HTTP, "query.http-port", "query HTTP API and web UI")
    query_grpc_port: int = _opt(ports.QUERY_GRPC, "query.grpc-port", "query gRPC API (api_v2, api_v3)")
    query_base_path: str = _opt("", "query.base-path", "URL prefix of the query API and UI, e.g. /jaeger")
    query_max_clock_skew_adjustment: str = _opt("0s", "query.max-clock-skew-adjustment", "largest clock skew correction (Go duration); 0 disables it")
    # -- query limits ----------------------------------------------------------------
    query_max_traces: int = _opt(1_000, "query.max-traces", "most traces one search returns; a larger limit/search_depth is clamped (0: no cap)")
    query_max_spans_per_response: int = _opt(200_000, "query.max-spans-per-response", "most spans in one query answer: traces are taken whole up to it, a larger single trace is cut with a warning (0: no cap)")
    query_timeout: str = _opt("30s", "query.timeout", "deadline of one query request (Go duration), queueing included; past it HTTP 503 / gRPC DEADLINE_EXCEEDED and the work stops; 0s disables it")
    query_max_concurrent: int = _opt(4, "query.max-concurrent", "heavy query calls (searches, trace fetches, dependencies) running at once, on threads ingest never uses")
    query_max_queued: int = _opt(64, "query.max-queued", "heavy query calls that may wait for a slot; beyond it HTTP 503 / gRPC RESOURCE_EXHAUSTED")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then environment variables, then ``overrides`` (used by tests)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(env_name(f.metadata["flag"]))
            if raw is not None:
                values[f.name] = _convert(f, raw)
        values.update(overrides)
        return cls(**values)


def _parse_bool(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _kind(f: dataclasses.Field[Any]) -> Any:
    return {"int": int, "float": float, "bool": _parse_bool}.get(str(f.type), str)


def _convert(f: dataclasses.Field[Any], raw: str) -> Any:
    return _kind(f)(raw)


def add_arguments(
    parser: argparse.ArgumentParser,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> None:
    """Add one ``--flag`` per setting, defaulting to its environment variable; ``overrides``
    changes a default for one command (the query's admin port is Jaeger's 16687)."""
    environ = os.environ if environ is None else environ
    for f in dataclasses.fields(Settings):
        flag = f.metadata["flag"]
        default = (overrides or {}).get(f.name, f.default)
        raw = environ.get(env_name(flag))
        if raw is not None:
            default = _convert(f, raw)
        kind = _kind(f)
        parser.add_argument(
            f"--{flag}",
            dest=f.name,
            type=kind,
            default=default,
            nargs="?" if kind is _parse_bool else None,
            const=True if kind is _parse_bool else None,
            metavar={int: "INT", float: "FLOAT", str: "TEXT"}.get(kind, "BOOL"),
            help=f"{f.metadata['help']} (env {env_name(flag)}; default {(overrides or {}).get(f.name, f.default)})",
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)})
