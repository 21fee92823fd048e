"""Real clients the deployment tests send spans with."""

from __future__ import annotations


def send_otlp(endpoint: str, service: str, traces: int) -> None:
    """The OpenTelemetry SDK exporting over OTLP gRPC, as an application would."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    tracer = provider.get_tracer("deploy-test")
    for i in range(traces):
        with tracer.start_as_current_span(f"op-{i}"):
            with tracer.start_as_current_span("child"):
                pass
    provider.shutdown()


def send_udp(port: int, service: str, traces: int) -> None:
    """spyglass.client over the agent's UDP Thrift compact port."""
    from spyglass.client import Config

    tracer = Config(
        config={"sampler": {"type": "const", "param": 1}, "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": port}},
        service_name=service,
    ).new_tracer()
    for i in range(traces):
        with tracer.start_active_span(f"udp-{i}"):
            pass
    tracer.close()
