"""Adaptive sampling per tenant on a real all-in-one: root spans of two tenants for the same
service are counted apart, and every strategy endpoint answers a request that names its
tenant from that tenant's probabilities (one without a tenant gets the shared defaults)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import pytest
from conftest import RunningAllInOne

from spyglass.codecs import jaeger_thrift
from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.codecs.proto.jaeger.api_v2.sampling_pb2_grpc import SamplingManagerStub
from spyglass.model import KeyValue, Resource, Span
from spyglass.tenancy.sampling import qualify


def get(url: str, tenant: str | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, headers={"x-tenant": tenant} if tenant else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


@pytest.fixture
def aio():
    running = RunningAllInOne(sampling_type="adaptive", sampling_initial_sampling_probability=0.002,
                              multi_tenancy_enabled=True, multi_tenancy_tenants="acme,globex")
    running.app.sampling.processor._set({qualify("acme", "shop"): {"GET /": 0.25},
                                         qualify("globex", "shop"): {"GET /": 0.75}})
    yield running
    running.close()


def rates(body: dict) -> dict[str, float]:
    return {s["operation"]: s["probabilisticSampling"]["samplingRate"]
            for s in body["operationSampling"].get("perOperationStrategies", [])}


def test_each_tenant_gets_its_own_probabilities(aio: RunningAllInOne) -> None:
    for url in (aio.url("agent_sampling", "/sampling?service=shop"), aio.url("collector_http", "/api/sampling?service=shop"),
                aio.url("query_http", "/api/sampling?service=shop")):
        assert rates(get(url, "acme")[1]) == {"GET /": 0.25}, url
        assert rates(get(url, "globex")[1]) == {"GET /": 0.75}, url
        assert get(url, "initech")[0] == 403
    # Without a tenant: the defaults every tenant shares, nothing of either tenant.
    for url in (aio.url("agent_sampling", "/sampling?service=shop"), aio.url("collector_http", "/api/sampling?service=shop")):
        status, body = get(url)
        assert status == 200 and rates(body) == {} and body["operationSampling"]["defaultSamplingProbability"] == 0.002
    summary = get(aio.url("query_http", "/api/sampling/summary?service=shop"), "globex")[1]["data"]
    assert summary["operations"] == {"GET /": 0.75} and summary["service"] == "shop"

    async def grpc_call(metadata: list[tuple[str, str]]) -> pb.SamplingStrategyResponse:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{aio.ports['collector_grpc']}") as ch:
            return await SamplingManagerStub(ch).GetSamplingStrategy(pb.SamplingStrategyParameters(serviceName="shop"),
                                                                     metadata=metadata)

    resp = aio.call(grpc_call([("x-tenant", "acme")]))
    assert {s.operation: s.probabilisticSampling.samplingRate for s in resp.operationSampling.perOperationStrategies} \
        == {"GET /": 0.25}
    assert not aio.call(grpc_call([])).operationSampling.perOperationStrategies


def test_root_spans_are_counted_per_tenant(aio: RunningAllInOne) -> None:
    tags = [KeyValue("sampler.type", "probabilistic"), KeyValue("sampler.param", 0.002)]
    for tenant, n in (("acme", 3), ("globex", 1)):
        spans = [Span(100 + i, 1, "GET /", 1_700_000_000_000_000_000, 1000, Resource("shop"), attributes=tags)
                 for i in range(n)]
        req = urllib.request.Request(aio.url("collector_http", "/api/traces"), data=jaeger_thrift.encode_batch(spans),
                                     headers={"Content-Type": "application/x-thrift", "x-tenant": tenant})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 202
    counts = {(t.service, t.operation): t.count for t in aio.app.sampling.processor.aggregator.flush()}
    assert counts == {(qualify("acme", "shop"), "GET /"): 3, (qualify("globex", "shop"), "GET /"): 1}
