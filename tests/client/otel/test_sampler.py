"""The OpenTelemetry SDK sampling with ``JaegerRemoteSampler`` against a real sampling
server: per-operation decisions, sampler attributes, parent-based children."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from spyglass.client.otel import JaegerRemoteSampler
from spyglass.collector.sampling import FileStrategyProvider, build_sampling_app
from spyglass.server import HttpServer

STRATEGIES = {"service_strategies": [{
    "service": "shop", "type": "probabilistic", "param": 0.0,
    "operation_strategies": [{"operation": "checkout", "type": "probabilistic", "param": 1.0}],
}]}


@pytest.fixture
def sampling_url(all_in_one, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(STRATEGIES))
    provider = FileStrategyProvider(str(path), reload_interval=0)
    server = HttpServer("sampling", "127.0.0.1", 0, build_sampling_app(provider))
    all_in_one.call(server.start())
    yield f"http://127.0.0.1:{server.port}/sampling"
    all_in_one.call(server.stop())


def test_sdk_obeys_per_operation_strategy(sampling_url):
    sampler = JaegerRemoteSampler("shop", sampling_url)
    assert sampler.remote.wait_for_poll(5) and sampler.remote.updates == 1
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for _ in range(20):
        with tracer.start_as_current_span("checkout"):
            with tracer.start_as_current_span("child"):
                pass
        with tracer.start_as_current_span("browse"):
            pass
    names = [s.name for s in exporter.get_finished_spans()]
    assert names.count("checkout") == 20 and names.count("child") == 20 and "browse" not in names
    root = next(s for s in exporter.get_finished_spans() if s.name == "checkout")
    assert root.attributes["sampler.type"] == "probabilistic" and root.attributes["sampler.param"] == 1.0
    assert "sampler.type" not in next(s for s in exporter.get_finished_spans() if s.name == "child").attributes
    assert "PerOperationSampler" in sampler.get_description()
    sampler.close()
    provider.shutdown()
