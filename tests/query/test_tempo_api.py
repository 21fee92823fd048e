"""Tempo's HTTP query API (``--tempo-api.port``) over real sockets: spans go in through the
OTLP/HTTP receiver, answers come out of a running all-in-one, requests as Grafana's Tempo data
source sends them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from conftest import RunningAllInOne
from spyglass.codecs.otlp_json import encode_json
from spyglass.model import Event, KeyValue, Resource, Span, SpanKind, Status, StatusCode

S = 1_000_000_000
MS = 1_000_000
NOW = (time.time_ns() // S - 600) * S  # ten minutes ago, a whole second
TID_A = 0x0123456789ABCDEF0123456789ABCDEF
TID_B = 0xB


def spans() -> list[Span]:
    front = Resource("front", [KeyValue("host", "h1")])
    db = Resource("db")
    return [
        Span(TID_A, 1, "GET /", NOW, 500 * MS, front, kind=SpanKind.SERVER,
             attributes=[KeyValue("http.status_code", 500), KeyValue("http.method", "GET")]),
        Span(TID_A, 2, "db.query", NOW + 10 * MS, 50 * MS, db, 1, SpanKind.CLIENT, Status(StatusCode.ERROR, "boom"),
             attributes=[KeyValue("db.system", "pg")],
             events=[Event(NOW + 40 * MS, "exception", [KeyValue("exception.message", "connection timeout")])]),
        Span(TID_B, 1, "GET /", NOW + S, 100 * MS, front, kind=SpanKind.SERVER,
             attributes=[KeyValue("http.status_code", 200), KeyValue("http.method", "GET")]),
    ]


@pytest.fixture(params=["memory", "sqlite"])
def server(request: pytest.FixtureRequest) -> Iterator[RunningAllInOne]:
    running = RunningAllInOne(storage=request.param)
    try:
        r = httpx.post(running.url("otlp_http", "/v1/traces"), content=encode_json(spans()),
                       headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = httpx.get(running.url("tempo_api", "/api/search"), params={"q": "{}"}, timeout=10).json()
            if len(found["traces"]) == 2 and sum(t["spanSet"]["matched"] for t in found["traces"]) == 3:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("spans never became searchable")
        yield running
    finally:
        running.close()


def get(server: RunningAllInOne, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.url("tempo_api", path), params=params, timeout=10)


def window() -> dict[str, str]:
    return {"start": str(NOW // S - 60), "end": str(NOW // S + 60)}


def test_search(server: RunningAllInOne) -> None:
    r = get(server, "/api/search", q="{ span.http.status_code >= 500 } >> { status = error }", **window())
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["traces"] == [{
        "traceID": "123456789abcdef0123456789abcdef",
        "rootServiceName": "front",
        "rootTraceName": "GET /",
        "startTimeUnixNano": str(NOW),
        "durationMs": 500,
        "spanSet": {"spans": [{"spanID": "0000000000000002", "name": "db.query", "startTimeUnixNano": str(NOW + 10 * MS),
                               "durationNanos": str(50 * MS)}], "matched": 1},
        "spanSets": [{"spans": [{"spanID": "0000000000000002", "name": "db.query",
                                 "startTimeUnixNano": str(NOW + 10 * MS), "durationNanos": str(50 * MS)}], "matched": 1}],
    }]
    # newest first, limit, spans per span set, attributes the query compares
    body = get(server, "/api/search", q='{ span.http.method = "GET" }', limit="1", spss="1", **window()).json()
    assert [t["traceID"] for t in body["traces"]] == ["b"]
    assert body["traces"][0]["spanSet"]["spans"][0]["attributes"] == [
        {"key": "http.method", "value": {"stringValue": "GET"}}]
    body = get(server, "/api/search", q="{ } | select(span.http.status_code)", spss="1", **window()).json()
    a = [t for t in body["traces"] if t["traceID"].startswith("123")][0]
    assert a["spanSet"]["matched"] == 2 and len(a["spanSet"]["spans"]) == 1
    assert a["spanSet"]["spans"][0]["attributes"] == [{"key": "http.status_code", "value": {"intValue": "500"}}]
    # outside the window: nothing
    assert get(server, "/api/search", q="{}", start=str(NOW // S + 3600), end=str(NOW // S + 7200)).json()["traces"] == []


def test_search_tags_form(server: RunningAllInOne) -> None:
    body = get(server, "/api/search", tags='service.name=front http.status_code=500', **window()).json()
    assert [t["traceID"] for t in body["traces"]] == ["123456789abcdef0123456789abcdef"]
    body = get(server, "/api/search", tags='name="GET /"', minDuration="200ms", **window()).json()
    assert [t["traceID"] for t in body["traces"]] == ["123456789abcdef0123456789abcdef"]
    assert get(server, "/api/search", tags="oops").status_code == 400


def test_parse_error_is_a_400_with_the_position(server: RunningAllInOne) -> None:
    r = get(server, "/api/search", q="{ name = }")
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain")
    assert r.text == ("invalid TraceQL query: parse error at line 1, column 10: expected a value (string, number, "
                      "duration, true/false, nil, status or kind), found '}'\n{ name = }\n         ^\n")
    assert get(server, "/api/search", q="{}", limit="x").status_code == 400
    assert get(server, "/api/search", q="{}", start="yesterday").status_code == 400
    assert get(server, "/api/search", q="{} | rate()").status_code == 400
    assert get(server, "/api/metrics/query_range", q="{}").status_code == 400


def test_trace_by_id_json_and_protobuf(server: RunningAllInOne) -> None:
    tid = format(TID_A, "032x")
    v2 = get(server, f"/api/v2/traces/{tid}").json()
    rs = v2["trace"]["resourceSpans"]
    names = sorted(s["name"] for r in rs for ss in r["scopeSpans"] for s in ss["spans"])
    assert names == ["GET /", "db.query"]
    assert {s["traceId"] for r in rs for ss in r["scopeSpans"] for s in ss["spans"]} == {tid}
    v1 = get(server, f"/api/traces/{tid}").json()
    assert v1["batches"] == rs
    r = httpx.get(server.url("tempo_api", f"/api/traces/{tid}"), headers={"Accept": "application/protobuf"}, timeout=10)
    assert r.headers["Content-Type"] == "application/protobuf"
    trace = trace_pb2.TracesData.FromString(r.content)
    assert sorted(s.name for r_ in trace.resource_spans for ss in r_.scope_spans for s in ss.spans) == names
    r = httpx.get(server.url("tempo_api", f"/api/v2/traces/{tid}"), headers={"Accept": "application/protobuf"}, timeout=10)
    # TraceByIDResponse { Trace trace = 1; ... }: the same message one level down
    assert r.content[0] == 0x0A
    inner = r.content[1:]
    length, shift, i = 0, 0, 0
    while True:
        b = inner[i]
        length |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if not b & 0x80:
            break
    assert trace_pb2.TracesData.FromString(inner[i:i + length]) == trace
    assert get(server, "/api/v2/traces/00000000000000000000000000000abc").status_code == 404
    assert get(server, "/api/v2/traces/xyz").status_code == 400


def test_tags_and_values(server: RunningAllInOne) -> None:
    scopes = {s["name"]: s["tags"] for s in get(server, "/api/v2/search/tags", **window()).json()["scopes"]}
    assert scopes["span"] == ["db.system", "http.method", "http.status_code"]
    assert scopes["resource"] == ["host", "service.name"]
    assert "rootServiceName" in scopes["intrinsic"] and "duration" in scopes["intrinsic"]
    assert [s["name"] for s in get(server, "/api/v2/search/tags", scope="resource").json()["scopes"]] == ["resource"]
    assert get(server, "/api/search/tags").json() == {"tagNames": ["db.system", "host", "http.method",
                                                                   "http.status_code", "service.name"]}
    values = get(server, "/api/v2/search/tag/resource.service.name/values", **window()).json()
    assert values == {"tagValues": [{"type": "string", "value": "db"}, {"type": "string", "value": "front"}]}
    values = get(server, "/api/v2/search/tag/span.http.status_code/values", **window()).json()
    assert values == {"tagValues": [{"type": "int", "value": "200"}, {"type": "int", "value": "500"}]}
    values = get(server, "/api/v2/search/tag/.http.status_code/values", q="{ duration > 200ms }").json()
    assert values == {"tagValues": [{"type": "int", "value": "500"}]}
    assert get(server, "/api/v2/search/tag/status/values").json()["tagValues"][1] == {"type": "keyword", "value": "error"}
    assert get(server, "/api/search/tag/name/values").json() == {"tagValues": ["GET /", "db.query"]}


def test_metrics_query_range(server: RunningAllInOne) -> None:
    start, end = NOW // S, NOW // S + 60
    body = get(server, "/api/metrics/query_range", q="{ } | count_over_time() by (resource.service.name)",
               start=str(start), end=str(end), step="30s").json()
    t0 = NOW // (30 * S) * 30 * 1000
    got = {s["promLabels"]: [(x["timestampMs"], x["value"]) for x in s["samples"]] for s in body["series"]}
    first = {'{resource.service.name="db"}': 1.0, '{resource.service.name="front"}': 2.0}
    assert set(got) == set(first)
    for labels, samples in got.items():
        assert sum(v for _, v in samples) == first[labels]
        assert samples[0][0] == str(t0)
    assert body["series"][0]["labels"] == [{"key": "resource.service.name", "value": {"stringValue": "db"}}]
    body = get(server, "/api/metrics/query_range", q="{ kind = server } | quantile_over_time(duration, .99)",
               start=str(start), end=str(end), step="60").json()
    s, = body["series"]
    assert s["labels"] == [{"key": "p", "value": {"doubleValue": 0.99}}]
    assert [x["value"] for x in s["samples"]] == [0.5] or [x["value"] for x in s["samples"]] == [0.5, 0.1]


def test_event_scope_and_ids(server: RunningAllInOne) -> None:
    body = get(server, "/api/search", q='{ event.exception.message =~ ".*timeout.*" }', **window()).json()
    assert [t["traceID"] for t in body["traces"]] == ["123456789abcdef0123456789abcdef"]
    assert body["traces"][0]["spanSet"]["spans"][0]["attributes"] == [
        {"key": "exception.message", "value": {"stringValue": "connection timeout"}}]
    found = get(server, "/api/search", q='{ event:name = "exception" } !> { } | select(span:id)', **window()).json()
    assert sorted(t["traceID"] for t in found["traces"]) == ["123456789abcdef0123456789abcdef", "b"]
    assert [t["traceID"] for t in get(server, "/api/search", q='{ trace:id = "b" }', **window()).json()["traces"]] == ["b"]
    assert get(server, "/api/search", q='{ span:id = "2" && span:parentID = "1" }', **window()).json()["traces"][0][
        "spanSet"]["matched"] == 1
    assert get(server, "/api/v2/search/tags", scope="event", **window()).json() == {
        "scopes": [{"name": "event", "tags": ["exception.message"]}]}
    assert get(server, "/api/v2/search/tag/event.exception.message/values", **window()).json() == {
        "tagValues": [{"type": "string", "value": "connection timeout"}]}
    assert get(server, "/api/v2/search/tag/event:name/values", **window()).json() == {
        "tagValues": [{"type": "string", "value": "exception"}]}
    r = get(server, "/api/search", q="{ } | rate() by (event:name)")
    assert r.status_code == 400 and "one value per event or link" in r.text


def test_metrics_instant(server: RunningAllInOne) -> None:
    start, end = NOW // S - 60, NOW // S + 60
    body = get(server, "/api/metrics/query", q="{ } | count_over_time() by (resource.service.name)",
               start=str(start), end=str(end)).json()
    assert body["series"] == [
        {"labels": [{"key": "resource.service.name", "value": {"stringValue": "db"}}], "value": 1.0,
         "promLabels": '{resource.service.name="db"}'},
        {"labels": [{"key": "resource.service.name", "value": {"stringValue": "front"}}], "value": 2.0,
         "promLabels": '{resource.service.name="front"}'}]
    s, = get(server, "/api/metrics/query", q="{ kind = server } | rate()", start=str(start), end=str(end)).json()["series"]
    assert s["value"] == pytest.approx(2 / 120) and s["labels"] == [{"key": "__name__", "value": {"stringValue": "spans"}}]
    # 50ms, 100ms and 500ms: one span per power-of-two bucket; topk(1) keeps the first of the tie
    body = get(server, "/api/metrics/query", q="{ } | histogram_over_time(duration) | topk(1)",
               start=str(start), end=str(end)).json()
    assert [(x["labels"], x["value"]) for x in body["series"]] == [
        ([{"key": "__bucket", "value": {"doubleValue": 0.067108864}}], 1.0)]
    assert get(server, "/api/metrics/query", q="{ }").status_code == 400
    r = get(server, "/api/metrics/query", q="{ } | rate()", start=str(end), end=str(start))
    assert r.status_code == 400 and "start must be before end" in r.text


def test_grafana_tempo_datasource_sequence(server: RunningAllInOne) -> None:
    """What Grafana's Tempo data source does: health check, editor completion, search, open a trace."""
    assert get(server, "/api/echo").text == "echo"
    assert get(server, "/api/status/buildinfo").json()["version"].startswith("2.")
    tags = get(server, "/api/v2/search/tags", scope="all", **window()).json()
    assert any(s["name"] == "resource" for s in tags["scopes"])
    services = get(server, "/api/v2/search/tag/resource.service.name/values", **window()).json()["tagValues"]
    assert {"type": "string", "value": "front"} in services
    names = get(server, "/api/v2/search/tag/name/values", q='{resource.service.name="front"}', **window()).json()
    assert names["tagValues"] == [{"type": "string", "value": "GET /"}]
    found = get(server, "/api/search", q='{resource.service.name="front" && name="GET /"}', limit="20", spss="3",
                **window()).json()["traces"]
    assert [t["traceID"] for t in found] == ["b", "123456789abcdef0123456789abcdef"]
    r = httpx.get(server.url("tempo_api", f"/api/v2/traces/{found[1]['traceID']}"),
                  headers={"Accept": "application/protobuf"}, timeout=10)
    assert r.status_code == 200 and len(r.content) > 50


def test_same_api_under_api_tempo_on_the_query_port(server: RunningAllInOne) -> None:
    """The web UI reaches the query language through the Jaeger port; Jaeger's routes are unchanged."""
    r = httpx.get(server.url("query_http", "/api/tempo/search"), params={"q": "{ status = error }", **window()}, timeout=10)
    assert [t["traceID"] for t in r.json()["traces"]] == ["123456789abcdef0123456789abcdef"]
    r = httpx.get(server.url("query_http", "/api/tempo/search"), params={"q": "{"}, timeout=10)
    assert r.status_code == 400 and "column 2" in r.text
    r = httpx.get(server.url("query_http", "/api/traces"), params={"service": "front", "lookback": "1h"}, timeout=10)
    assert r.status_code == 200 and len(r.json()["data"]) == 2
