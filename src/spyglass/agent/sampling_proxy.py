"""The agent's sampling port (5778): strategies fetched from the collectors and cached.

SDKs ask the agent (``GET /sampling?service=`` proto-JSON, legacy ``GET /?service=``); the
agent asks a collector over gRPC ``jaeger.api_v2.SamplingManager/GetSamplingStrategy``
(round-robin over the healthy ones, the next one on failure) and remembers the last answer
per service. While no collector answers, the remembered answer is served, so SDKs keep
their strategy through a collector restart; a service never seen before gets Jaeger's 500
``collector error: ...`` and the SDK keeps its current sampler. Answers are encoded with
the collector's own JSON forms, so both ports answer byte for byte alike.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

import grpc
from aiohttp import web

from spyglass.agent.collectors import CollectorPool
from spyglass.agent.metrics import ReporterMetrics
from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.collector.sampling.json_forms import legacy_json, proto_json

log = logging.getLogger(__name__)

MAX_CACHED_SERVICES = 10_000  # least recently asked for dropped beyond this


def _text_error(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain", charset="utf-8")


class SamplingProxy:
    def __init__(self, pool: CollectorPool, metrics: ReporterMetrics, *, timeout: float = 2.0) -> None:
        self.pool = pool
        self.metrics = metrics
        self.timeout = timeout
        self.cache: OrderedDict[str, pb.SamplingStrategyResponse] = OrderedDict()

    async def strategy(self, service: str) -> pb.SamplingStrategyResponse:
        """From a collector when one answers, else the last answer for ``service``; raises
        ``LookupError`` with the collectors' error when neither exists."""
        error = "no collector configured"
        for _ in range(max(1, len(self.pool.collectors))):
            collector = self.pool.next_healthy()
            if collector is None:
                error = "every collector is unreachable"
                break
            try:
                resp = await collector.get_strategy(pb.SamplingStrategyParameters(serviceName=service),
                                                    timeout=self.timeout)
            except grpc.aio.AioRpcError as exc:
                error = f"{collector.target}: {exc.code().name} {exc.details()}"
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    self.pool.failed(collector)
                continue
            self.pool.succeeded(collector)
            self.cache[service] = resp
            self.cache.move_to_end(service)
            if len(self.cache) > MAX_CACHED_SERVICES:
                self.cache.popitem(last=False)
            self.metrics.sampling_requests.labels("collector").inc()
            return resp
        cached = self.cache.get(service)
        if cached is not None:
            self.metrics.sampling_requests.labels("cache").inc()
            log.debug("sampling for %r from cache: %s", service, error)
            return cached
        self.metrics.sampling_requests.labels("error").inc()
        raise LookupError(error)

    def _handler(self, encode: Callable[[pb.SamplingStrategyResponse], bytes]) -> Callable[..., object]:
        async def handle(request: web.Request) -> web.Response:
            services = request.query.getall("service", [])
            if len(services) != 1:
                return _text_error(400, "'service' parameter must be provided once")
            try:
                resp = await self.strategy(services[0])
            except LookupError as exc:
                return _text_error(500, f"collector error: {exc}")
            return web.Response(body=encode(resp), content_type="application/json")

        return handle

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/sampling", self._handler(proto_json))
        app.router.add_get("/", self._handler(legacy_json))
        return app
