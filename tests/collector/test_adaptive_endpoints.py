"""An adaptive all-in-one serves its computed probabilities on every sampling endpoint
(5778 ``/sampling`` and legacy ``/``, 14268 ``/api/sampling``, gRPC SamplingManager) and
on the query port's read-only ``/api/sampling/summary`` for the UI; services the strategies
file lists stay pinned to it."""

from __future__ import annotations

import json
import urllib.request

import grpc
import pytest
from conftest import RunningAllInOne

from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.codecs.proto.jaeger.api_v2.sampling_pb2_grpc import SamplingManagerStub


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def aio(tmp_path):
    path = tmp_path / "strategies.json"
    path.write_text(json.dumps({"service_strategies": [{"service": "pinned", "type": "probabilistic", "param": 0.7}]}))
    running = RunningAllInOne(sampling_type="adaptive", sampling_strategies_file=str(path),
                              sampling_initial_sampling_probability=0.002)
    running.app.sampling.processor._set({"shop": {"GET /": 0.25, "POST /pay": 1.0}})
    yield running
    running.close()


def test_every_endpoint_serves_the_adaptive_probabilities(aio):
    expected = [{"operation": "GET /", "probabilisticSampling": {"samplingRate": 0.25}},
                {"operation": "POST /pay", "probabilisticSampling": {"samplingRate": 1}}]
    for url in (aio.url("agent_sampling", "/sampling?service=shop"), aio.url("collector_http", "/api/sampling?service=shop"),
                aio.url("query_http", "/api/sampling?service=shop")):
        body = get(url)
        assert body["strategyType"] == "PROBABILISTIC"
        ops = body["operationSampling"]
        assert ops["defaultSamplingProbability"] == 0.002
        assert ops["defaultLowerBoundTracesPerSecond"] == pytest.approx(1 / 60)
        assert ops["perOperationStrategies"] == expected, url
    legacy = get(aio.url("agent_sampling", "/?service=shop"))
    assert legacy["strategyType"] == 0 and len(legacy["operationSampling"]["perOperationStrategies"]) == 2

    async def grpc_call(service: str) -> pb.SamplingStrategyResponse:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{aio.ports['collector_grpc']}") as ch:
            return await SamplingManagerStub(ch).GetSamplingStrategy(pb.SamplingStrategyParameters(serviceName=service))

    resp = aio.call(grpc_call("shop"))
    assert {s.operation: s.probabilisticSampling.samplingRate for s in resp.operationSampling.perOperationStrategies} \
        == {"GET /": 0.25, "POST /pay": 1.0}
    unknown = aio.call(grpc_call("nobody"))  # no per-operation entries, the defaults only
    assert unknown.operationSampling.defaultSamplingProbability == 0.002
    assert not unknown.operationSampling.perOperationStrategies
    pinned = get(aio.url("collector_http", "/api/sampling?service=pinned"))
    assert pinned == {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.7}}


def test_query_summary_for_the_ui(aio):
    data = get(aio.url("query_http", "/api/sampling/summary?service=shop"))["data"]
    assert data["type"] == "adaptive" and data["operations"] == {"GET /": 0.25, "POST /pay": 1.0}
    assert data["leader"] is True
    assert get(aio.url("query_http", "/api/sampling/summary?service=pinned"))["data"]["type"] == "file"
    try:
        urllib.request.urlopen(aio.url("query_http", "/api/sampling/summary"), timeout=10)
        raise AssertionError("no 400")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400


def test_static_summary(all_in_one):
    data = get(all_in_one.url("query_http", "/api/sampling/summary?service=x"))["data"]
    assert data["type"] == "file" and data["strategy"]["probabilisticSampling"]["samplingRate"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "clickhouse"])
def test_adaptive_on_a_persistent_backend(backend, tmp_path):
    """Throughput, probabilities and the lease go through the backend's sampling store: a
    root counted by the collector comes back as a computed probability."""
    import time as _time

    from support import storage_settings, wait_for

    aio = RunningAllInOne(**storage_settings(backend, str(tmp_path / "data")), sampling_type="adaptive",
                          sampling_calculation_interval="200ms", sampling_delay="0s",
                          sampling_initial_sampling_probability=0.5)
    try:
        now = _time.time_ns()
        body = json.dumps({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "persist"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": f"{i + 1:032x}", "spanId": f"{i + 1:016x}", "name": "GET /",
                "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
                "attributes": [{"key": "sampler.type", "value": {"stringValue": "probabilistic"}},
                               {"key": "sampler.param", "value": {"doubleValue": 0.5}}],
            } for i in range(40)]}],
        }]}).encode()
        req = urllib.request.Request(aio.url("otlp_http", "/v1/traces"), data=body, headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

        def computed() -> float:
            ops = get(aio.url("collector_http", "/api/sampling?service=persist"))["operationSampling"]["perOperationStrategies"]
            return ops[0]["probabilisticSampling"]["samplingRate"] if ops else 0.0

        assert 0 < wait_for(computed, timeout=20) < 0.5  # 40 roots in 200 ms at 0.5: far above 1/s, lowered
        assert aio.app.sampling.processor.is_leader and aio.app.sampling.processor.store_errors == 0
    finally:
        aio.close()
