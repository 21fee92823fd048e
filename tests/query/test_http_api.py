"""The ``/api`` UI API over a real HTTP server: exact bodies, statuses and headers (spec A)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from spyglass.model import Event, KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.query import QueryService
from spyglass.query.http_api import CAPABILITIES, build_app
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryStore

MS = 1_000_000
S = 1000 * MS
NOW = time.time_ns() // 1000 * 1000  # whole microseconds
T0 = NOW - 3600 * S  # an hour ago: inside the default 48h search window
T0_US = T0 // 1000
PLAIN = "text/plain; charset=utf-8"


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def request(self, method: str, path: str, **kw: Any) -> Reply:
        async with self.session.request(method, self.base + path, **kw) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def get(self, path: str) -> Reply:
        return await self.request("GET", path)

    async def post(self, path: str, data: bytes = b"") -> Reply:
        return await self.request("POST", path, data=data)


def envelope_error(code: int, msg: str) -> str:
    return json.dumps({"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": msg}]}, separators=(",", ":")) + "\n"


def assert_error(reply: Reply, code: int, msg: str) -> None:
    assert reply.status == code, reply.text
    assert reply.headers["Content-Type"] == PLAIN
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.text == envelope_error(code, msg)


def seed(store: MemoryStore) -> None:
    front = Resource("frontend", [KeyValue("ip", "10.0.0.1"), KeyValue("hostname", "web-1")])
    back = Resource("backend", [KeyValue("ip", "10.0.0.2")])
    store.write_spans(
        [
            Span(
                0xABC,
                1,
                "GET /users",
                T0,
                100 * MS,
                front,
                kind=SpanKind.SERVER,
                attributes=[KeyValue("http.status_code", 200), KeyValue("big", (1 << 53) + 1), KeyValue("http.method", "GET")],
            ),
            Span(
                0xABC,
                2,
                "SELECT",
                T0 + 10 * MS,
                20 * MS,
                back,
                parent_span_id=1,
                kind=SpanKind.CLIENT,
                status=Status(StatusCode.ERROR, "timeout"),
                events=[Event(T0 + 15 * MS, "retry", [KeyValue("attempt", 2)])],
            ),
        ]
    )
    # A second trace, one second later, with a 128-bit ID.
    store.write_spans([Span((7 << 64) | 8, 1, "GET /health", T0 + S, 2 * MS, Resource("frontend", [KeyValue("ip", "10.0.0.1"), KeyValue("hostname", "web-1")]), kind=SpanKind.SERVER)])


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    seed(s)
    return s


async def serve(app: web.Application) -> AsyncIterator[Client]:
    server = HttpServer("query", "127.0.0.1", 0, app)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(session, f"http://127.0.0.1:{server.port}")
    finally:
        await server.stop()


@pytest.fixture
async def api(store: MemoryStore) -> AsyncIterator[Client]:
    async for client in serve(build_app(QueryService(store, store))):
        yield client


# -- services and operations ---------------------------------------------------------------


async def test_services(api: Client) -> None:
    r = await api.get("/api/services")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.text == '{"data":["backend","frontend"],"total":2,"limit":0,"offset":0,"errors":null}'


async def test_services_empty() -> None:
    empty = MemoryStore()
    async for client in serve(build_app(QueryService(empty, empty))):
        r = await client.get("/api/services")
        assert r.text == '{"data":[],"total":0,"limit":0,"offset":0,"errors":null}'


async def test_head_is_served_like_get(api: Client) -> None:
    r = await api.request("HEAD", "/api/services")
    assert r.status == 200
    assert r.body == b""


async def test_operations(api: Client) -> None:
    r = await api.get("/api/operations?service=frontend")
    assert r.text == (
        '{"data":[{"name":"GET /health","spanKind":"server"},{"name":"GET /users","spanKind":"server"}],'
        '"total":2,"limit":0,"offset":0,"errors":null}'
    )
    r = await api.get("/api/operations?service=backend&spanKind=server")
    assert r.text == '{"data":[],"total":0,"limit":0,"offset":0,"errors":null}'
    r = await api.get("/api/operations?service=backend&spanKind=client")
    assert r.json()["data"] == [{"name": "SELECT", "spanKind": "client"}]
    assert_error(await api.get("/api/operations"), 400, "parameter 'service' is required")


async def test_operations_legacy(api: Client, store: MemoryStore) -> None:
    r = await api.get("/api/services/frontend/operations")
    assert r.text == '{"data":["GET /health","GET /users"],"total":2,"limit":0,"offset":0,"errors":null}'
    r = await api.get("/api/services/nobody/operations")
    assert r.text == '{"data":null,"total":0,"limit":0,"offset":0,"errors":null}'
    store.write_spans([Span(0x99, 1, "op", T0, MS, Resource("a/b c"))])
    # the segment is unescaped twice, as Jaeger does: %2F then + as a space
    r = await api.get("/api/services/a%2Fb+c/operations")
    assert r.json()["data"] == ["op"]


# -- get trace ----------------------------------------------------------------------------


EXPECTED_TRACE = (
    '{"data":[{"traceID":"0000000000000abc","spans":['
    '{"traceID":"0000000000000abc","spanID":"0000000000000001","operationName":"GET /users","references":[],'
    f'"startTime":{T0_US},"duration":100000,"tags":['
    '{"key":"big","type":"int64","value":"9007199254740993"},'
    '{"key":"http.method","type":"string","value":"GET"},'
    '{"key":"http.status_code","type":"int64","value":200},'
    '{"key":"span.kind","type":"string","value":"server"}],'
    '"logs":[],"processID":"p1","warnings":null},'
    '{"traceID":"0000000000000abc","spanID":"0000000000000002","operationName":"SELECT",'
    '"references":[{"refType":"CHILD_OF","traceID":"0000000000000abc","spanID":"0000000000000001"}],'
    f'"startTime":{T0_US + 10000},"duration":20000,"tags":['
    '{"key":"span.kind","type":"string","value":"client"},'
    '{"key":"otel.status_code","type":"string","value":"ERROR"},'
    '{"key":"error","type":"bool","value":true},'
    '{"key":"otel.status_description","type":"string","value":"timeout"}],'
    f'"logs":[{{"timestamp":{T0_US + 15000},"fields":['
    '{"key":"event","type":"string","value":"retry"},{"key":"attempt","type":"int64","value":2}]}],'
    '"processID":"p2","warnings":null}],'
    '"processes":{"p1":{"serviceName":"frontend","tags":['
    '{"key":"hostname","type":"string","value":"web-1"},{"key":"ip","type":"string","value":"10.0.0.1"}]},'
    '"p2":{"serviceName":"backend","tags":[{"key":"ip","type":"string","value":"10.0.0.2"}]}},'
    '"warnings":null}],"total":0,"limit":0,"offset":0,"errors":null}'
)


async def test_get_trace_exact(api: Client) -> None:
    r = await api.get("/api/traces/abc")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.text == EXPECTED_TRACE
    # leading zeros, upper case and the 32-character form name the same trace
    assert (await api.get("/api/traces/0000000000000ABC")).text == EXPECTED_TRACE
    assert (await api.get("/api/traces/00000000000000000000000000000abc")).text == EXPECTED_TRACE


async def test_get_trace_pretty_print(api: Client) -> None:
    r = await api.get("/api/traces/abc?prettyPrint=true")
    assert r.text == json.dumps(json.loads(EXPECTED_TRACE), indent=4, ensure_ascii=False)
    assert r.text.startswith('{\n    "data": [\n        {\n            "traceID": "0000000000000abc",')
    assert (await api.get("/api/traces/abc?prettyPrint=false")).text == EXPECTED_TRACE
    assert (await api.get("/api/traces/abc?prettyPrint=")).text == EXPECTED_TRACE
    assert (await api.get("/api/traces/abc?prettyPrint=0")).text.startswith("{\n    ")


async def test_get_trace_128_bit_and_base64(api: Client, store: MemoryStore) -> None:
    r = await api.get("/api/traces/70000000000000008")
    trace = r.json()["data"][0]
    assert trace["traceID"] == "00000000000000070000000000000008"
    raw_id = base64.b64encode(((7 << 64) | 8).to_bytes(16, "big")).decode()
    assert raw_id == "AAAAAAAAAAcAAAAAAAAACA=="
    assert (await api.get(f"/api/traces/{raw_id}")).json()["data"][0]["traceID"] == trace["traceID"]
    # all-hex text is read as hex first; URL-alphabet base64 without padding also works
    raw = bytes([0xFB, 0xFF] * 8)
    store.write_spans([Span(int.from_bytes(raw, "big"), 1, "op", T0, MS, Resource("svc"))])
    url_safe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert url_safe == "-__7__v_-__7__v_-__7_w"
    assert (await api.get(f"/api/traces/{url_safe}")).json()["data"][0]["traceID"] == raw.hex()


async def test_get_trace_raw_skips_adjusters(api: Client) -> None:
    r = await api.get("/api/traces/abc?raw=true")
    tags = [t["key"] for t in r.json()["data"][0]["spans"][0]["tags"]]
    assert tags == ["http.status_code", "big", "http.method", "span.kind"]  # as stored
    adjusted = [t["key"] for t in (await api.get("/api/traces/abc?raw=0")).json()["data"][0]["spans"][0]["tags"]]
    assert adjusted == ["big", "http.method", "http.status_code", "span.kind"]


async def test_get_trace_errors(api: Client) -> None:
    assert_error(await api.get("/api/traces/123456"), 404, "trace not found")
    assert_error(await api.get("/api/traces/xyz"), 400, 'strconv.ParseUint: parsing "xyz": invalid syntax')
    assert_error(await api.get("/api/traces/zz0000000000000000"), 400, 'strconv.ParseUint: parsing "zz": invalid syntax')
    long_id = "1" * 33
    assert_error(await api.get(f"/api/traces/{long_id}"), 400, f"TraceID cannot be longer than 32 hex characters: {long_id}")
    assert_error(await api.get("/api/traces/abc?raw=maybe"), 400, "unable to parse param 'raw': strconv.ParseBool: parsing \"maybe\": invalid syntax")
    assert_error(await api.get("/api/traces/abc?start=yesterday"), 400, "unable to parse param 'start': strconv.ParseInt: parsing \"yesterday\": invalid syntax")


# -- search -------------------------------------------------------------------------------


def trace_ids(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.text
    return [t["traceID"] for t in reply.json()["data"]]


async def test_search_by_service(api: Client) -> None:
    r = await api.get("/api/traces?service=frontend")
    assert sorted(trace_ids(r)) == ["00000000000000070000000000000008", "0000000000000abc"]
    assert r.json()["errors"] is None
    assert trace_ids(await api.get("/api/traces?service=frontend&operation=GET%20/health")) == ["00000000000000070000000000000008"]
    assert trace_ids(await api.get("/api/traces?service=nobody")) == []
    assert (await api.get("/api/traces?service=nobody")).text == '{"data":[],"total":0,"limit":0,"offset":0,"errors":null}'


async def test_search_matches_whole_trace_and_adjusts(api: Client) -> None:
    (trace,) = (await api.get("/api/traces?service=backend")).json()["data"]
    assert len(trace["spans"]) == 2
    assert [t["key"] for t in trace["spans"][0]["tags"]][:3] == ["big", "http.method", "http.status_code"]


async def test_search_time_window_in_microseconds(api: Client) -> None:
    assert trace_ids(await api.get(f"/api/traces?service=frontend&start={T0_US + 500_000}&end={T0_US + 2_000_000}")) == [
        "00000000000000070000000000000008"
    ]
    assert trace_ids(await api.get(f"/api/traces?service=frontend&start={T0_US}&end={T0_US}")) == ["0000000000000abc"]
    # default window: the last 48 hours
    old = MemoryStore()
    old.write_spans([Span(5, 1, "old", NOW - 49 * 3600 * S, MS, Resource("svc"))])
    async for client in serve(build_app(QueryService(old, old))):
        assert trace_ids(await client.get("/api/traces?service=svc")) == []
        assert trace_ids(await client.get("/api/traces?service=svc&start=0")) == ["0000000000000005"]


async def test_search_durations(api: Client) -> None:
    assert trace_ids(await api.get("/api/traces?service=frontend&minDuration=50ms")) == ["0000000000000abc"]
    assert trace_ids(await api.get("/api/traces?service=frontend&maxDuration=2ms")) == ["00000000000000070000000000000008"]
    assert trace_ids(await api.get("/api/traces?service=frontend&minDuration=0.1s&maxDuration=100ms")) == ["0000000000000abc"]
    assert trace_ids(await api.get("/api/traces?service=frontend&minDuration=1.5h")) == []


async def test_search_tags(api: Client) -> None:
    assert trace_ids(await api.get("/api/traces?service=frontend&tag=http.method:GET")) == ["0000000000000abc"]
    assert trace_ids(await api.get("/api/traces?service=frontend&tag=http.status_code:200&tag=http.method:GET")) == ["0000000000000abc"]
    assert trace_ids(await api.get("/api/traces?service=frontend&tag=http.status_code:500")) == []
    tags = json.dumps({"http.status_code": "200"})
    assert trace_ids(await api.get(f"/api/traces?service=frontend&tags={tags}")) == ["0000000000000abc"]
    # process tags and log fields match too; the status gives error=true
    assert sorted(trace_ids(await api.get("/api/traces?service=frontend&tag=hostname:web-1"))) == [
        "00000000000000070000000000000008",
        "0000000000000abc",
    ]
    assert trace_ids(await api.get("/api/traces?service=backend&tag=attempt:2&tag=error:true")) == ["0000000000000abc"]


async def test_search_tag_value_may_contain_colons(api: Client, store: MemoryStore) -> None:
    store.write_spans([Span(0x55, 1, "op", T0, MS, Resource("svc"), attributes=[KeyValue("url", "http://x:8080/a")])])
    assert trace_ids(await api.get("/api/traces?service=svc&tag=url:http://x:8080/a")) == ["0000000000000055"]


async def test_search_without_service_needs_tags(api: Client) -> None:
    assert_error(await api.get("/api/traces"), 400, "parameter 'service' is required")
    assert_error(await api.get("/api/traces?operation=x"), 400, "parameter 'service' is required")
    # cross-service search (our extension) when tags are given
    assert trace_ids(await api.get("/api/traces?tag=ip:10.0.0.2")) == ["0000000000000abc"]


async def test_search_limit_counts_traces(store: MemoryStore) -> None:
    many = MemoryStore()
    for i in range(105):
        many.write_spans([Span(i + 1, 1, "op", T0 + i * MS, MS, Resource("svc")), Span(i + 1, 2, "op", T0 + i * MS, MS, Resource("svc"), parent_span_id=1)])
    async for client in serve(build_app(QueryService(many, many))):
        assert len(trace_ids(await client.get("/api/traces?service=svc"))) == 100
        got = trace_ids(await client.get("/api/traces?service=svc&limit=3"))
        assert sorted(got) == [format(i, "016x") for i in (103, 104, 105)]  # the newest three
        assert all(len(t["spans"]) == 2 for t in (await client.get("/api/traces?service=svc&limit=3")).json()["data"])


async def test_search_parameter_errors(api: Client) -> None:
    cases = [
        ("service=frontend&tag=novalue", "malformed 'tag' parameter, expecting key:value, received: novalue"),
        ("service=frontend&tags={bad", "malformed 'tags' parameter, cannot unmarshal JSON: invalid character 'b' looking for beginning of object key string"),
        ('service=frontend&tags={"x":123}', "malformed 'tags' parameter, cannot unmarshal JSON: json: cannot unmarshal number into Go value of type string"),
        ("service=frontend&minDuration=abc", "unable to parse param 'minDuration': time: invalid duration \"abc\""),
        ("service=frontend&minDuration=20", "unable to parse param 'minDuration': time: missing unit in duration \"20\""),
        ("service=frontend&maxDuration=1x", "unable to parse param 'maxDuration': time: unknown unit \"x\" in duration \"1x\""),
        ("service=frontend&minDuration=25s&maxDuration=1s", "'maxDuration' should be greater than 'minDuration'"),
        ("service=frontend&start=string", "unable to parse param 'start': strconv.ParseInt: parsing \"string\": invalid syntax"),
        ("service=frontend&end=1.5", "unable to parse param 'end': strconv.ParseInt: parsing \"1.5\": invalid syntax"),
        ("service=frontend&limit=string", "strconv.ParseInt: parsing \"string\": invalid syntax"),
        ("service=frontend&limit=99999999999", "strconv.ParseInt: parsing \"99999999999\": value out of range"),
        ("service=frontend&limit=0", "invalid parameter: limit must be greater than 0"),
        ("service=frontend&start=200&end=100", "invalid parameter: start time must be before end time"),
        ("traceID=100&traceID=x200", "cannot parse traceID param: strconv.ParseUint: parsing \"x200\": invalid syntax"),
        ("service=frontend&raw=foobar", "unable to parse param 'raw': strconv.ParseBool: parsing \"foobar\": invalid syntax"),
    ]
    for query, message in cases:
        assert_error(await api.get("/api/traces?" + query), 400, message)


async def test_search_by_trace_ids_with_missing(api: Client) -> None:
    r = await api.get("/api/traces?traceID=ABC&traceID=123&traceID=70000000000000008")
    assert r.status == 200
    body = r.json()
    assert [t["traceID"] for t in body["data"]] == ["0000000000000abc", "00000000000000070000000000000008"]
    assert body["errors"] == [{"msg": "trace not found", "traceID": "0000000000000123"}]
    assert r.text.endswith(',"errors":[{"msg":"trace not found","traceID":"0000000000000123"}]}')
    # other filters are ignored when trace IDs are given
    only = await api.get("/api/traces?traceID=abc&service=nobody&limit=1&tag=x:y")
    assert [t["traceID"] for t in only.json()["data"]] == ["0000000000000abc"]
    assert only.json()["errors"] is None


# -- archive ------------------------------------------------------------------------------


async def test_archive_without_archive_store(api: Client) -> None:
    assert_error(await api.post("/api/archive/abc"), 500, "archive span storage was not configured")
    assert_error(await api.post("/api/archive/nothex"), 400, 'strconv.ParseUint: parsing "nothex": invalid syntax')
    assert (await api.get("/api/archive/abc")).text == "404 page not found\n"


async def test_archive_with_archive_store(store: MemoryStore) -> None:
    archive = MemoryStore()
    service = QueryService(store, store, archive_reader=archive, archive_writer=archive)
    app = build_app(service, archive_enabled=True)
    assert app[CAPABILITIES] == {"archiveStorage": True, "metricsStorage": False}
    async for client in serve(app):
        r = await client.post("/api/archive/abc")
        assert r.status == 200
        assert r.text == '{"data":[],"total":0,"limit":0,"offset":0,"errors":[]}'
        assert len(archive.get_trace(0xABC)) == 2
        assert_error(await client.post("/api/archive/fff"), 404, "trace not found")


async def test_archived_trace_is_found_after_eviction(store: MemoryStore) -> None:
    archive = MemoryStore()
    archive.write_spans([Span(0xDEAD, 1, "kept", T0, MS, Resource("svc"))])
    async for client in serve(build_app(QueryService(store, store, archive_reader=archive))):
        assert (await client.get("/api/traces/dead")).json()["data"][0]["spans"][0]["operationName"] == "kept"


# -- transform ----------------------------------------------------------------------------


async def test_transform_otlp_json(api: Client) -> None:
    otlp = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "upload"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "lib"},
                        "spans": [
                            {
                                "traceId": "000000000000000000000000000000ab",
                                "spanId": "0000000000000001",
                                "name": "work",
                                "kind": 2,
                                "startTimeUnixNano": "1000000",
                                "endTimeUnixNano": "3000000",
                                "attributes": [{"key": "n", "value": {"doubleValue": 2.0}}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    r = await api.post("/api/transform", json.dumps(otlp).encode())
    assert r.status == 200
    assert r.text == (
        '{"data":[{"traceID":"00000000000000ab","spans":[{"traceID":"00000000000000ab","spanID":"0000000000000001",'
        '"operationName":"work","references":[],"startTime":1000,"duration":2000,"tags":['
        '{"key":"otel.scope.name","type":"string","value":"lib"},{"key":"n","type":"float64","value":2},'
        '{"key":"span.kind","type":"string","value":"server"}],"logs":[],"processID":"p1","warnings":null}],'
        '"processes":{"p1":{"serviceName":"upload","tags":[]}},"warnings":null}],"total":0,"limit":0,"offset":0,"errors":null}'
    )
    empty = await api.post("/api/transform", b'{"resourceSpans":[]}')
    assert empty.text == '{"data":[],"total":0,"limit":0,"offset":0,"errors":null}'
    bad = await api.post("/api/transform", b"not json")
    assert bad.status == 400
    assert bad.json()["errors"][0]["msg"].startswith("cannot unmarshal OTLP : ")


# -- dependencies -------------------------------------------------------------------------


async def test_dependencies(api: Client, store: MemoryStore) -> None:
    end_ms = NOW // MS
    r = await api.get(f"/api/dependencies?endTs={end_ms}&lookback=604800000")
    assert r.text == '{"data":[{"parent":"frontend","child":"backend","callCount":1}],"total":0,"limit":0,"offset":0,"errors":null}'
    # default lookback is 24h and default end is now
    assert (await api.get("/api/dependencies")).json()["data"] == [{"parent": "frontend", "child": "backend", "callCount": 1}]
    assert (await api.get(f"/api/dependencies?endTs={end_ms}&lookback=1000")).json()["data"] == []
    store.write_spans(
        [
            Span(0x77, 1, "a", T0, MS, Resource("gateway")),
            Span(0x77, 2, "b", T0, MS, Resource("frontend"), parent_span_id=1),
            Span(0x77, 3, "c", T0, MS, Resource("auth"), parent_span_id=1),
        ]
    )
    r = await api.get("/api/dependencies?service=frontend")
    assert r.json()["data"] == [{"parent": "frontend", "child": "backend", "callCount": 1}, {"parent": "gateway", "child": "frontend", "callCount": 1}]
    assert_error(await api.get("/api/dependencies?endTs=soon"), 400, "unable to parse param 'endTs': strconv.ParseInt: parsing \"soon\": invalid syntax")
    assert_error(await api.get("/api/dependencies?lookback=1w"), 400, "unable to parse param 'lookback': strconv.ParseInt: parsing \"1w\": invalid syntax")


# -- metrics, quality metrics, deep dependencies ---------------------------------------------


async def test_metrics_are_disabled(api: Client) -> None:
    q = "service=emailservice&endTs=1700000000000&lookback=3600000&step=60000&ratePer=600000&spanKind=server"
    for path in ("calls", "errors"):
        assert_error(await api.get(f"/api/metrics/{path}?{q}"), 501, "metrics querying is currently disabled")
    assert_error(await api.get(f"/api/metrics/latencies?quantile=0.95&{q}"), 501, "metrics querying is currently disabled")
    assert_error(await api.get("/api/metrics/latencies?service=x&quantile=foo"), 400, "unable to parse param 'quantile': strconv.ParseFloat: parsing \"foo\": invalid syntax")
    assert_error(await api.get("/api/metrics/latencies?service=x"), 400, "unable to parse param 'quantile': strconv.ParseFloat: parsing \"\": invalid syntax")
    assert_error(await api.get("/api/metrics/calls"), 400, "unable to parse param 'service': please provide at least one service name")
    assert_error(await api.get("/api/metrics/calls?service=x&spanKind=foo"), 400, "unable to parse param 'spanKind': unsupported span kind: 'foo'")
    assert_error(await api.get("/api/metrics/calls?service=x&spanKind="), 400, "unable to parse param 'spanKind': unsupported span kind: ''")
    assert_error(await api.get("/api/metrics/calls?service=x&groupByOperation=foo"), 400, "unable to parse param 'groupByOperation': strconv.ParseBool: parsing \"foo\": invalid syntax")
    assert_error(await api.get("/api/metrics/errors?service=x&step=foo"), 400, "unable to parse param 'step': strconv.ParseInt: parsing \"foo\": invalid syntax")
    assert (await api.get("/api/metrics/minstep")).text == "404 page not found\n"  # gone in v2


async def test_quality_metrics_and_deep_dependencies(api: Client) -> None:
    q = (await api.get("/api/quality-metrics")).json()
    assert set(q) == {"traceQualityDocumentationLink", "bannerText", "scores", "metrics"}
    assert q["scores"] == [] and q["metrics"] == []
    r = await api.get("/api/deep-dependencies?service=nobody")  # computed: tests/query/test_deep_dependencies.py
    assert r.status == 200 and r.text == '{"dependencies":[]}'


# -- routing ------------------------------------------------------------------------------


async def test_unknown_api_paths_are_404(api: Client) -> None:
    for method, path in [
        ("GET", "/api/nope"),
        ("GET", "/api"),
        ("GET", "/api/"),
        ("GET", "/api/traces/"),
        ("POST", "/api/traces"),
        ("DELETE", "/api/services"),
        ("GET", "/api/v3/dependencies"),
        ("GET", "/api/services//operations"),
    ]:
        r = await api.request(method, path)
        assert r.status == 404, (method, path)
        assert r.text == "404 page not found\n"
        assert r.headers["Content-Type"] == PLAIN
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_capabilities(store: MemoryStore) -> None:
    plain = QueryService(store, store)
    assert build_app(plain)[CAPABILITIES] == {"archiveStorage": False, "metricsStorage": False}
    assert build_app(plain, metrics_enabled=True)[CAPABILITIES] == {"archiveStorage": False, "metricsStorage": True}
    archive = MemoryStore()
    with_archive = QueryService(store, store, archive_reader=archive, archive_writer=archive)
    assert build_app(with_archive)[CAPABILITIES]["archiveStorage"] is True


async def test_without_ui_root_says_so(api: Client) -> None:
    r = await api.get("/")
    assert r.status == 200
    assert "UI is not built" in r.text
    assert (await api.get("/search")).status == 404


async def test_ui_gets_every_non_api_path(store: MemoryStore) -> None:
    seen: list[str] = []

    async def page(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="<html>ui</html>", content_type="text/html")

    ui = web.Application()
    ui.router.add_get("/{tail:.*}", page)
    async for client in serve(build_app(QueryService(store, store), ui=ui)):
        assert (await client.get("/")).text == "<html>ui</html>"
        assert (await client.get("/trace/abc")).text == "<html>ui</html>"
        assert (await client.get("/static/app.js")).status == 200
        assert (await client.get("/api/services")).json()["total"] == 2
        assert (await client.get("/api/unknown")).text == "404 page not found\n"
        assert (await client.get("/apiary")).text == "<html>ui</html>"
    assert seen == ["/", "/trace/abc", "/static/app.js", "/apiary"]


async def test_base_path(store: MemoryStore) -> None:
    async for client in serve(build_app(QueryService(store, store), base_path="/jaeger/")):
        assert (await client.get("/jaeger/api/services")).json()["total"] == 2
        assert (await client.get("/jaeger/api/traces/abc")).text == EXPECTED_TRACE
        assert (await client.get("/jaeger/api/v3/services")).text == '{"services":["backend","frontend"]}'
        assert (await client.get("/api/services")).status == 404
        assert (await client.get("/jaeger/api/nope")).text == "404 page not found\n"
        assert "UI is not built" in (await client.get("/jaeger/")).text


async def test_storage_failure_is_500(store: MemoryStore) -> None:
    class Broken(MemoryStore):
        def get_services(self) -> list[str]:
            raise RuntimeError("disk on fire")

    broken = Broken()
    async for client in serve(build_app(QueryService(broken, broken))):
        assert_error(await client.get("/api/services"), 500, "disk on fire")
