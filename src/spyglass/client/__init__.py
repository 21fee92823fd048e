"""Spyglass's tracer: an OpenTracing implementation and drop-in for jaeger-client-python.

``from spyglass.client import Config`` replaces ``from jaeger_client import Config``.
The pieces are in their own modules: ``tracer``, ``span``, ``context``, ``scope``,
``sampling``, ``reporting``, ``propagation``, ``ids``, ``instrumentation`` and ``otel``
(the OpenTelemetry SDK bridge). See ``docs/client.md``.
"""

from spyglass.client.config import Config
from spyglass.client.context import SpanContext
from spyglass.client.ids import IdGenerator, RandomIdGenerator, SnowflakeIdGenerator
from spyglass.client.reporting import (
    CompositeReporter,
    InMemoryReporter,
    LoggingReporter,
    NullReporter,
    RemoteReporter,
    Reporter,
)
from spyglass.client.sampling import (
    ConstSampler,
    PerOperationSampler,
    ProbabilisticSampler,
    RateLimitingSampler,
    RemoteControlledSampler,
    Sampler,
)
from spyglass.client.scope import ContextExecutor, ContextVarsScopeManager, wrap
from spyglass.client.span import Span
from spyglass.client.tracer import Tracer

__all__ = [
    "CompositeReporter",
    "Config",
    "ConstSampler",
    "ContextExecutor",
    "ContextVarsScopeManager",
    "IdGenerator",
    "InMemoryReporter",
    "LoggingReporter",
    "NullReporter",
    "PerOperationSampler",
    "ProbabilisticSampler",
    "RandomIdGenerator",
    "RateLimitingSampler",
    "RemoteControlledSampler",
    "RemoteReporter",
    "Reporter",
    "Sampler",
    "SnowflakeIdGenerator",
    "Span",
    "SpanContext",
    "Tracer",
    "wrap",
]
