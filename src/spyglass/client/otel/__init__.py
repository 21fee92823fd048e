"""The OpenTelemetry SDK bridge: an exporter to Spyglass's agent or collector, and a
Jaeger remote sampler. Needs ``opentelemetry-sdk``."""

from spyglass.client.otel.exporter import SpyglassSpanExporter
from spyglass.client.otel.sampler import JaegerRemoteSampler

__all__ = ["JaegerRemoteSampler", "SpyglassSpanExporter"]
