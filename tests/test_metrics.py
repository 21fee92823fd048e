"""/metrics on the admin port of a running all-in-one: the Spyglass names, Jaeger v1's
names for the same counters (derived, so both agree), query metrics per endpoint for HTTP
and gRPC, and the shipped Grafana dashboard only uses metrics that exist."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import grpc
import requests
from prometheus_client.parser import text_string_to_metric_families
from support import wait_for

from spyglass.codecs.proto.jaeger.api_v2 import query_pb2, query_pb2_grpc

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana" / "spyglass.json"
TRACE_ID = "5b8efff798038103d269b633813fc60c"


def otlp_body(service: str, n: int) -> dict:
    now = time.time_ns()
    spans = [{"traceId": TRACE_ID, "spanId": f"{i + 1:016x}", "name": f"op{i}", "kind": 2,
              "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000)} for i in range(n)]
    return {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                               "scopeSpans": [{"spans": spans}]}]}


def scrape(all_in_one) -> tuple[str, dict[str, float]]:
    text = requests.get(all_in_one.url("admin", "/metrics")).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) + "}"
            values[key] = s.value
    return text, values


def declared_names(text: str) -> set[str]:
    """Every series name /metrics can carry, from its ``# TYPE`` lines (so a counter that
    is still empty counts too)."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        base = name.removesuffix("_total")
        names |= {name, base, base + "_total"} if kind == "counter" else {name}
        if kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def test_jaeger_collector_names_follow_the_spyglass_counters(all_in_one):
    for service, n in (("shop", 3), ("pay", 2)):
        resp = requests.post(all_in_one.url("otlp_http", "/v1/traces"), json=otlp_body(service, n))
        assert resp.status_code == 200
    _, v = wait_for(lambda: (got := scrape(all_in_one))[1].get(
        'jaeger_collector_spans_saved_by_svc_total{debug="false",result="ok",svc="pay"}') and got)
    assert v['spyglass_spans_received_total{format="otlp_json",receiver="otlp_http"}'] == 5
    assert v['jaeger_collector_spans_received_total{debug="false",format="otlp",svc="other-services",transport="http"}'] == 5
    assert v['jaeger_collector_spans_saved_by_svc_total{debug="false",result="ok",svc="shop"}'] == 3
    assert v['jaeger_collector_spans_saved_by_svc_total{debug="false",result="ok",svc="pay"}'] == 2
    assert v["jaeger_collector_spans_dropped_total{}"] == 0
    assert v["jaeger_collector_queue_length{}"] == 0 and v["jaeger_collector_batch_size{}"] >= 2
    assert v['jaeger_collector_save_latency_bucket{le="+Inf"}'] == v["spyglass_storage_write_seconds_count{}"] >= 1


def test_query_metrics_per_endpoint_for_http_and_grpc(all_in_one):
    query = all_in_one.url("query_http")
    assert requests.get(f"{query}/api/services").status_code == 200
    assert requests.get(f"{query}/api/services").status_code == 200
    assert requests.get(f"{query}/api/traces/{TRACE_ID}").status_code == 404
    assert requests.get(f"{query}/api/traces", params={"service": "x"}).status_code == 200
    assert requests.get(f"{query}/api/traces", params={"limit": "nope"}).status_code == 400
    with grpc.insecure_channel(f"127.0.0.1:{all_in_one.ports['query_grpc']}") as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        stub.GetServices(query_pb2.GetServicesRequest())
        try:
            list(stub.GetTrace(query_pb2.GetTraceRequest(trace_id=bytes.fromhex(TRACE_ID))))
        except grpc.RpcError as err:
            assert err.code() is grpc.StatusCode.NOT_FOUND
        try:  # no archive storage configured: a server-side failure
            stub.ArchiveTrace(query_pb2.ArchiveTraceRequest(trace_id=bytes.fromhex(TRACE_ID)))
        except grpc.RpcError as err:
            assert err.code() is grpc.StatusCode.INTERNAL
    _, v = scrape(all_in_one)
    assert v['spyglass_query_requests_total{api="http",code="2xx",endpoint="/api/services"}'] == 2
    assert v['spyglass_query_requests_total{api="http",code="4xx",endpoint="/api/traces/{traceID}"}'] == 1
    assert v['spyglass_query_requests_total{api="http",code="4xx",endpoint="/api/traces"}'] == 1
    assert v['spyglass_query_request_seconds_count{api="http",endpoint="/api/services"}'] == 2
    assert v['spyglass_query_requests_total{api="grpc",code="OK",endpoint="/jaeger.api_v2.QueryService/GetServices"}'] == 1
    assert v['spyglass_query_requests_total{api="grpc",code="NOT_FOUND",endpoint="/jaeger.api_v2.QueryService/GetTrace"}'] == 1
    assert v['spyglass_query_requests_total{api="grpc",code="INTERNAL",endpoint="/jaeger.api_v2.QueryService/ArchiveTrace"}'] == 1
    assert v['jaeger_query_requests_total{operation="get_services",result="ok"}'] == 3
    assert v['jaeger_query_requests_total{operation="get_trace",result="ok"}'] == 2
    assert v['jaeger_query_requests_total{operation="find_traces",result="ok"}'] == 2
    assert v['jaeger_query_latency_count{operation="get_services",result="ok"}'] == 3
    assert not any(k.startswith("jaeger_query_requests_total") and 'result="err"' in k for k in v)


def test_dashboard_uses_only_metrics_that_exist(all_in_one):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for e in exprs for name in re.findall(r"\b((?:spyglass|jaeger)_[a-z0-9_]+)", e)}
    assert len(exprs) >= 8 and any(n.startswith("jaeger_") for n in used) and any(n.startswith("spyglass_") for n in used)
    text, _ = scrape(all_in_one)
    assert used - declared_names(text) == set()


def test_every_metric_is_documented(all_in_one):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text()
    text, _ = scrape(all_in_one)
    served = {n for n, _ in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M) if not n.endswith("_created")}
    assert {n for n in served if f"`{n}`" not in doc} == set()
