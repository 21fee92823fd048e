"""``Config``: a drop-in for ``jaeger_client.Config``.

Migrating is one changed import::

    from spyglass.client import Config        # was: from jaeger_client import Config
    tracer = Config(config={...}, service_name="orders", validate=True).initialize_tracer()

The constructor, the config keys and ``initialize_tracer`` / ``new_tracer`` /
``create_tracer`` behave as in jaeger-client-python 4.8 (defaults in ``constants``), with
these additions, all optional:

* ``sender``: ``{"type": "udp" | "http" | "otlp_http", "endpoint": url, "username",
  "password", "auth_token", "headers", "max_packet_size", "ca_file", "client_cert",
  "client_key"}``; ``JAEGER_ENDPOINT`` selects ``http``. Default: UDP Thrift compact to the
  agent, as jaeger-client. The TLS keys apply to ``https://`` endpoints; for ``otlp_http``
  they default to the OTel SDK's ``OTEL_EXPORTER_OTLP_CERTIFICATE``,
  ``OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`` and ``OTEL_EXPORTER_OTLP_CLIENT_KEY``.
* ``sampler.sampling_server_url`` (or ``JAEGER_SAMPLING_ENDPOINT``): the sampling server
  when it is not the agent's ``http://{reporting_host}:{sampling_port}/sampling``;
  ``sampler.type`` may also be ``remote`` with ``param`` as the initial probability, and
  ``sampler.ca_file`` the CA of an ``https://`` sampling server.
* ``propagation``: a comma list or list of ``jaeger``, ``b3``, ``b3single``,
  ``tracecontext``, ``baggage``, ``w3c`` (jaeger-client knew only ``b3``).
* ``id_generator``: ``"random"`` (default), ``"snowflake"`` or an ``IdGenerator``.
* ``debug_id_header``, ``local_agent.sampling_host``.

Every value is taken from the config dict first, then from the ``JAEGER_*`` environment
variable (``spyglass.client.environment``), then the default. ``JAEGER_TAGS`` is merged
over the config's ``tags``, as jaeger-client does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import opentracing

from spyglass.client import environment as env
from spyglass.client.constants import (
    BAGGAGE_HEADER_PREFIX,
    DEBUG_ID_HEADER_KEY,
    DEFAULT_BATCH_SIZE,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_MAX_OPERATIONS,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_REPORTING_HOST,
    DEFAULT_REPORTING_PORT,
    DEFAULT_SAMPLING_INTERVAL,
    DEFAULT_SAMPLING_PORT,
    DEFAULT_SAMPLING_PROBABILITY,
    MAX_TAG_VALUE_LENGTH,
    MAX_TRACEBACK_LENGTH,
    TRACE_ID_HEADER,
    UDP_MAX_PACKET_SIZE,
)
from spyglass.client.ids import IdGenerator, RandomIdGenerator, SnowflakeIdGenerator
from spyglass.client.propagation import parse_names
from spyglass.client.reporting import CompositeReporter, LoggingReporter, NullReporter, RemoteReporter, Reporter
from spyglass.client.reporting.senders import HTTPSender, OTLPHTTPSender, Sender, UDPSender
from spyglass.client.sampling import (
    ConstSampler,
    ProbabilisticSampler,
    RateLimitingSampler,
    RemoteControlledSampler,
    Sampler,
)
from spyglass.client.tracer import Tracer

logger = logging.getLogger("jaeger_tracing")

JAEGER_CLIENT_KEYS = (
    "logging", "local_agent", "sampler", "tags", "enabled", "reporter_batch_size", "reporter_queue_size",
    "propagation", "max_tag_value_length", "max_traceback_length", "reporter_flush_interval",
    "sampling_refresh_interval", "trace_id_header", "generate_128bit_trace_id", "baggage_header_prefix",
    "service_name", "throttler",
)
SPYGLASS_KEYS = ("sender", "id_generator", "debug_id_header", "max_operations", "metrics")


class Config:
    _initialized = False
    _initialized_lock = threading.Lock()

    def __init__(
        self,
        config: Mapping[str, Any],
        metrics: Any = None,
        service_name: str | None = None,
        metrics_factory: Any = None,
        validate: bool = False,
        scope_manager: opentracing.ScopeManager | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if validate:
            unexpected = [k for k in config if k not in JAEGER_CLIENT_KEYS and k not in SPYGLASS_KEYS]
            if unexpected:
                raise ValueError(f"Unexpected keys found in config:{','.join(unexpected)}")
        self.config = dict(config)
        self.environ = environ
        self.scope_manager = scope_manager
        self.metrics = metrics
        self.metrics_factory = metrics_factory
        self._service_name = self.config.get("service_name") or service_name or self._env(env.JAEGER_SERVICE_NAME)
        if not self._service_name:
            raise ValueError("service_name required in the config or param")

    def _env(self, name: str) -> str | None:
        return env.get(name, self.environ)

    def _pick(self, value: Any, env_name: str, default: Any) -> Any:
        """Config value, else environment variable, else default."""
        if value is not None:
            return value
        from_env = self._env(env_name)
        return from_env if from_env is not None else default

    # -- jaeger_client.Config properties --------------------------------------------------
    @property
    def service_name(self) -> str:
        return self._service_name

    @property
    def enabled(self) -> bool:
        if "enabled" in self.config:
            return env.parse_bool(self.config["enabled"], True)
        return not env.parse_bool(self._env(env.JAEGER_DISABLED), False)

    @property
    def logging(self) -> bool:
        return env.parse_bool(self._pick(self.config.get("logging"), env.JAEGER_REPORTER_LOG_SPANS, False), False)

    @property
    def reporter_batch_size(self) -> int:
        return int(self.config.get("reporter_batch_size", DEFAULT_BATCH_SIZE))

    @property
    def reporter_queue_size(self) -> int:
        return int(self._pick(self.config.get("reporter_queue_size"), env.JAEGER_REPORTER_MAX_QUEUE_SIZE,
                              DEFAULT_QUEUE_SIZE))

    @property
    def reporter_flush_interval(self) -> float:
        return env.parse_seconds(self._pick(self.config.get("reporter_flush_interval"),
                                            env.JAEGER_REPORTER_FLUSH_INTERVAL, DEFAULT_FLUSH_INTERVAL))

    @property
    def sampling_refresh_interval(self) -> float:
        return env.parse_seconds(self._pick(self.config.get("sampling_refresh_interval"),
                                            env.JAEGER_SAMPLER_REFRESH_INTERVAL, DEFAULT_SAMPLING_INTERVAL))

    @property
    def max_operations(self) -> int:
        sampler = self.config.get("sampler")
        value = sampler.get("max_operations") if isinstance(sampler, Mapping) else None
        if value is None:
            value = self.config.get("max_operations")
        return int(self._pick(value, env.JAEGER_SAMPLER_MAX_OPERATIONS, DEFAULT_MAX_OPERATIONS))

    @property
    def trace_id_header(self) -> str:
        return self.config.get("trace_id_header", TRACE_ID_HEADER)

    @property
    def baggage_header_prefix(self) -> str:
        return self.config.get("baggage_header_prefix", BAGGAGE_HEADER_PREFIX)

    @property
    def debug_id_header(self) -> str:
        return self.config.get("debug_id_header", DEBUG_ID_HEADER_KEY)

    @property
    def generate_128bit_trace_id(self) -> bool:
        return env.parse_bool(self._pick(self.config.get("generate_128bit_trace_id"), env.JAEGER_TRACEID_128BIT,
                                         False), False)

    @property
    def max_tag_value_length(self) -> int:
        return int(self.config.get("max_tag_value_length", MAX_TAG_VALUE_LENGTH))

    @property
    def max_traceback_length(self) -> int:
        return int(self.config.get("max_traceback_length", MAX_TRACEBACK_LENGTH))

    def local_agent_group(self) -> Mapping[str, Any]:
        group = self.config.get("local_agent")
        return group if isinstance(group, Mapping) else {}

    @property
    def local_agent_enabled(self) -> bool:
        return env.parse_bool(self.local_agent_group().get("enabled", True), True)

    @property
    def local_agent_reporting_host(self) -> str:
        return str(self._pick(self.local_agent_group().get("reporting_host"), env.JAEGER_AGENT_HOST,
                              DEFAULT_REPORTING_HOST))

    @property
    def local_agent_reporting_port(self) -> int:
        return int(self._pick(self.local_agent_group().get("reporting_port"), env.JAEGER_AGENT_PORT,
                              DEFAULT_REPORTING_PORT))

    @property
    def local_agent_sampling_port(self) -> int:
        return int(self.local_agent_group().get("sampling_port", DEFAULT_SAMPLING_PORT))

    @property
    def local_agent_sampling_host(self) -> str:
        return str(self.local_agent_group().get("sampling_host") or self.local_agent_reporting_host)

    @property
    def sampling_server_url(self) -> str:
        sampler = self.config.get("sampler")
        url = sampler.get("sampling_server_url") if isinstance(sampler, Mapping) else None
        if url:
            return str(url)
        url = self._env(env.JAEGER_SAMPLING_ENDPOINT)
        if url:
            return url
        host_port = self._env(env.JAEGER_SAMPLER_MANAGER_HOST_PORT)
        if host_port:
            return f"http://{host_port}/sampling"
        return f"http://{self.local_agent_sampling_host}:{self.local_agent_sampling_port}/sampling"

    @property
    def tags(self) -> dict[str, Any]:
        tags = dict(self.config.get("tags") or {})
        raw = self._env(env.JAEGER_TAGS)
        if raw:
            tags.update(env.parse_tags(raw, self.environ))
        return tags

    @property
    def propagation(self) -> list[str]:
        return parse_names(self._pick(self.config.get("propagation"), env.JAEGER_PROPAGATION, "jaeger"))

    @property
    def sampler(self) -> Sampler | None:
        """The configured fixed sampler, or None for the remote sampler (jaeger-client's
        default when no ``sampler.type`` is given)."""
        conf = self.config.get("sampler") or {}
        if isinstance(conf, Sampler):
            return conf
        kind = self._pick(conf.get("type"), env.JAEGER_SAMPLER_TYPE, None)
        param = self._pick(conf.get("param"), env.JAEGER_SAMPLER_PARAM, None)
        if not kind or kind == "remote":
            return None
        if kind == "const":
            return ConstSampler(env.parse_bool(param, False))
        if kind == "probabilistic":
            return ProbabilisticSampler(float(param if param is not None else DEFAULT_SAMPLING_PROBABILITY))
        if kind in ("ratelimiting", "rate_limiting"):
            return RateLimitingSampler(float(param if param is not None else 1.0))
        raise ValueError(f"Unknown sampler type {kind}")

    def remote_sampler(self) -> RemoteControlledSampler:
        conf = self.config.get("sampler") or {}
        param = self._pick(conf.get("param") if isinstance(conf, Mapping) else None, env.JAEGER_SAMPLER_PARAM, None)
        initial = ProbabilisticSampler(float(param) if param is not None else DEFAULT_SAMPLING_PROBABILITY)
        return RemoteControlledSampler(
            self.service_name,
            sampling_server_url=self.sampling_server_url,
            initial_sampler=initial,
            sampling_refresh_interval=self.sampling_refresh_interval,
            max_operations=self.max_operations,
            ca_file=conf.get("ca_file") if isinstance(conf, Mapping) else None,
        )

    def id_generator(self) -> IdGenerator:
        gen = self.config.get("id_generator", "random")
        if isinstance(gen, IdGenerator):
            return gen
        if gen == "snowflake":
            return SnowflakeIdGenerator()
        if gen == "random":
            return RandomIdGenerator(self.generate_128bit_trace_id)
        raise ValueError(f"Unknown id_generator {gen!r}; expected 'random', 'snowflake' or an IdGenerator")

    def sender(self) -> Sender:
        conf = dict(self.config.get("sender") or {})
        kind = conf.get("type")
        endpoint = conf.get("endpoint") or self._env(env.JAEGER_ENDPOINT)
        if kind is None:
            kind = "http" if endpoint else "udp"
        if kind == "udp":
            return UDPSender(self.local_agent_reporting_host, self.local_agent_reporting_port,
                             int(conf.get("max_packet_size", UDP_MAX_PACKET_SIZE)))
        tls = {name: conf.get(name) for name in ("ca_file", "client_cert", "client_key")}
        if kind == "otlp_http":
            for name, var in (("ca_file", "CERTIFICATE"), ("client_cert", "CLIENT_CERTIFICATE"), ("client_key", "CLIENT_KEY")):
                tls[name] = tls[name] or self._env(f"OTEL_EXPORTER_OTLP_TRACES_{var}") or self._env(f"OTEL_EXPORTER_OTLP_{var}")
        if kind == "http":
            kwargs: dict[str, Any] = {**tls,
                "username": conf.get("username") or self._env(env.JAEGER_USER),
                "password": conf.get("password") or self._env(env.JAEGER_PASSWORD),
                "auth_token": conf.get("auth_token") or self._env(env.JAEGER_AUTH_TOKEN),
            }
            return HTTPSender(endpoint, **kwargs) if endpoint else HTTPSender(**kwargs)
        if kind == "otlp_http":
            return (OTLPHTTPSender(endpoint, conf.get("headers"), **tls) if endpoint
                    else OTLPHTTPSender(headers=conf.get("headers"), **tls))
        raise ValueError(f"Unknown sender type {kind!r}; expected 'udp', 'http' or 'otlp_http'")

    # -- building the tracer ---------------------------------------------------------------
    @staticmethod
    def initialized() -> bool:
        with Config._initialized_lock:
            return Config._initialized

    def initialize_tracer(self, io_loop: Any = None) -> Tracer | None:
        """Build the tracer and make it ``opentracing.tracer``. As in jaeger-client, only
        the first call in a process does this; later calls log a warning and return None."""
        with Config._initialized_lock:
            if Config._initialized:
                logger.warning("Jaeger tracer already initialized, skipping")
                return None
            Config._initialized = True
        tracer = self.new_tracer(io_loop)
        opentracing.set_global_tracer(tracer)
        logger.info("opentracing.tracer initialized to %s[app_name=%s]", tracer, self.service_name)
        return tracer

    def new_tracer(self, io_loop: Any = None) -> Tracer:
        """A new tracer from this config, without touching ``opentracing.tracer``."""
        if not self.enabled:
            return self.create_tracer(NullReporter(), ConstSampler(False))
        sampler = self.sampler or self.remote_sampler()
        logger.info("Using sampler %s", sampler)
        reporter: Reporter = RemoteReporter(
            self.sender(),
            queue_size=self.reporter_queue_size,
            batch_size=self.reporter_batch_size,
            flush_interval=self.reporter_flush_interval,
        )
        if self.logging:
            reporter = CompositeReporter(reporter, LoggingReporter(logger))
        return self.create_tracer(reporter, sampler)

    def create_tracer(self, reporter: Reporter, sampler: Sampler, throttler: Any = None) -> Tracer:
        return Tracer(
            service_name=self.service_name,
            reporter=reporter,
            sampler=sampler,
            trace_id_header=self.trace_id_header,
            generate_128bit_trace_id=self.generate_128bit_trace_id,
            baggage_header_prefix=self.baggage_header_prefix,
            debug_id_header=self.debug_id_header,
            tags=self.tags,
            max_tag_value_length=self.max_tag_value_length,
            max_traceback_length=self.max_traceback_length,
            scope_manager=self.scope_manager,
            propagation=self.propagation,
            id_generator=self.id_generator(),
        )
