"""Remote sampling on the server: strategies (file or default) served to SDKs over HTTP
(agent port 5778 ``/sampling`` and ``/``, collector ``/api/sampling``) and gRPC
(``jaeger.api_v2.SamplingManager`` on 14250)."""

from spyglass.collector.sampling.grpc_api import SERVICE_NAMES, register
from spyglass.collector.sampling.http_api import add_routes, build_sampling_app
from spyglass.collector.sampling.json_forms import legacy_json, proto_json
from spyglass.collector.sampling.provider import (
    FileStrategyProvider,
    StaticStrategyProvider,
    StrategyProvider,
    build_provider,
)
from spyglass.collector.sampling.strategies import Strategies, StrategiesError, load_strategies, parse_strategies

__all__ = [
    "FileStrategyProvider",
    "SERVICE_NAMES",
    "StaticStrategyProvider",
    "Strategies",
    "StrategiesError",
    "StrategyProvider",
    "add_routes",
    "build_provider",
    "build_sampling_app",
    "legacy_json",
    "load_strategies",
    "parse_strategies",
    "proto_json",
    "register",
]
