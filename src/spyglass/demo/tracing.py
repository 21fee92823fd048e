"""The demo's two kinds of tracer: spyglass.client (OpenTracing, Jaeger UDP to the agent) and
the OpenTelemetry SDK (OTLP gRPC to a collector). Both propagate W3C trace context and baggage,
so a trace crosses between them; spyglass.client also writes Jaeger's headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spyglass.client import Config, Tracer


@dataclass
class Tracing:
    """Where the demo's spans go, and every tracer made, so ``close`` flushes them all."""

    agent_host: str
    agent_port: int
    otlp_endpoint: str
    _closers: list[Any] = field(default_factory=list)

    def opentracing(self, service: str) -> Tracer:
        config = {
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": self.agent_host, "reporting_port": self.agent_port},
            "propagation": "w3c,jaeger",
            "generate_128bit_trace_id": True,
        }
        tracer = Config(config=config, service_name=service, validate=True).new_tracer()
        self._closers.append(tracer.close)
        return tracer

    def otel(self, service: str) -> Any:
        """An OpenTelemetry ``Tracer`` of its own provider (one ``service.name`` each)."""
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        exporter = OTLPSpanExporter(endpoint=self.otlp_endpoint, insecure=True)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self._closers.append(provider.shutdown)
        return provider.get_tracer("spyglass.demo")

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()
