"""The ``/api/v3`` HTTP gateway over a real HTTP server (spec B.2)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from spyglass.model import Event, KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.query import QueryService
from spyglass.query.http_api import build_app
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryStore

MS = 1_000_000
S = 1000 * MS
T0 = 1_700_000_000 * S
PLAIN = "text/plain; charset=utf-8"
WINDOW = {"query.startTimeMin": "2023-11-14T00:00:00Z", "query.startTimeMax": "2023-11-15T00:00:00Z"}


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def get(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any, str]:
        url = self.base + path + ("?" + urlencode(params) if params else "")
        async with self.session.get(url) as resp:
            return resp.status, resp.headers, (await resp.read()).decode()


def assert_error(reply: tuple[int, Any, str], code: int, message: str) -> None:
    status, headers, text = reply
    assert status == code, text
    assert headers["Content-Type"] == PLAIN
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert text == json.dumps({"error": {"httpCode": code, "message": message}}, separators=(",", ":")) + "\n"


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    web = Resource("web", [KeyValue("ip", "10.0.0.1")])
    db = Resource("db")
    s.write_spans(
        [
            Span(0xABC, 1, "GET /", T0, 100 * MS, web, kind=SpanKind.SERVER, attributes=[KeyValue("ratio", 1.0), KeyValue("code", 200)]),
            Span(0xABC, 2, "query", T0 + MS, 10 * MS, db, parent_span_id=1, status=Status(StatusCode.ERROR, "x")),
            Span(0xABC, 3, "late", T0 + 2 * MS, 200 * MS, db, parent_span_id=0x99, events=[Event(T0 + 3 * MS, "e")]),
        ]
    )
    s.write_spans([Span(0xDEF, 1, "GET /health", T0 + S, MS, web, kind=SpanKind.SERVER)])
    return s


@pytest.fixture
async def api(store: MemoryStore) -> AsyncIterator[Client]:
    server = HttpServer("query", "127.0.0.1", 0, build_app(QueryService(store, store)))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(session, f"http://127.0.0.1:{server.port}")
    finally:
        await server.stop()


async def test_services(api: Client) -> None:
    status, headers, text = await api.get("/api/v3/services")
    assert (status, headers["Content-Type"], text) == (200, "application/json", '{"services":["db","web"]}')


async def test_services_empty() -> None:
    empty = MemoryStore()
    server = HttpServer("q", "127.0.0.1", 0, build_app(QueryService(empty, empty)))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/api/v3/services") as resp:
                assert await resp.text() == '{"services":[]}'
    finally:
        await server.stop()


async def test_operations_report_empty_kind_as_internal(api: Client) -> None:
    assert (await api.get("/api/v3/operations", {"service": "db"}))[2] == (
        '{"operations":[{"name":"late","spanKind":"internal"},{"name":"query","spanKind":"internal"}]}'
    )
    assert (await api.get("/api/v3/operations", {"service": "web", "spanKind": "server"}))[2] == (
        '{"operations":[{"name":"GET /","spanKind":"server"},{"name":"GET /health","spanKind":"server"}]}'
    )
    assert (await api.get("/api/v3/operations", {"service": "web", "span_kind": "client"}))[2] == '{"operations":[]}'
    assert (await api.get("/api/v3/operations"))[2] == '{"operations":[]}'


async def test_get_trace_as_otlp_json(api: Client) -> None:
    status, headers, text = await api.get("/api/v3/traces/abc")
    assert status == 200 and headers["Content-Type"] == "application/json"
    body = json.loads(text)
    resource_spans = body["result"]["resourceSpans"]
    assert [rs["resource"]["attributes"][0]["value"]["stringValue"] for rs in resource_spans] == ["web", "db"]
    spans = [s for rs in resource_spans for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert [s["spanId"] for s in spans] == ["0000000000000001", "0000000000000002", "0000000000000003"]
    first = spans[0]
    assert first["traceId"] == "00000000000000000000000000000abc"
    assert first["kind"] == 2
    assert first["startTimeUnixNano"] == str(T0)
    assert spans[1]["status"] == {"message": "x", "code": 2}
    # floats are written the Go way: 1, not 1.0
    assert '{"key":"ratio","value":{"doubleValue":1}}' in text
    # adjusted: attributes sorted; clock-skew warnings are not part of OTLP
    assert [a["key"] for a in first["attributes"]] == ["code", "ratio"]
    raw = json.loads((await api.get("/api/v3/traces/abc", {"rawTraces": "true"}))[2])
    raw_first = raw["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert [a["key"] for a in raw_first["attributes"]] == ["ratio", "code"]
    assert json.loads((await api.get("/api/v3/traces/abc", {"raw_traces": "1"}))[2]) == raw


async def test_get_trace_errors(api: Client) -> None:
    assert_error(await api.get("/api/v3/traces/123"), 404, "No traces found")
    assert_error(await api.get("/api/v3/traces/xyz"), 400, 'malformed parameter trace_id: strconv.ParseUint: parsing "xyz": invalid syntax')
    assert_error(
        await api.get("/api/v3/traces/abc", {"startTime": "abc"}),
        400,
        'malformed parameter startTime: parsing time "abc" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "abc" as "2006"',
    )
    assert_error(
        await api.get("/api/v3/traces/abc", {"end_time": "xyz"}),
        400,
        'malformed parameter end_time: parsing time "xyz" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "xyz" as "2006"',
    )
    assert_error(await api.get("/api/v3/traces/abc", {"rawTraces": "foobar"}), 400, 'malformed parameter rawTraces: strconv.ParseBool: parsing "foobar": invalid syntax')
    ok = await api.get("/api/v3/traces/abc", {"startTime": "2023-11-14T00:00:00Z", "endTime": "2023-11-15T00:00:00.5+01:00"})
    assert ok[0] == 200


async def test_find_traces(api: Client) -> None:
    status, _, text = await api.get("/api/v3/traces", {**WINDOW, "query.serviceName": "web"})
    assert status == 200
    ids = {s["traceId"] for rs in json.loads(text)["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert ids == {"00000000000000000000000000000abc", "00000000000000000000000000000def"}
    one = json.loads((await api.get("/api/v3/traces", {**WINDOW, "query.service_name": "web", "query.searchDepth": "1"}))[2])
    assert {s["traceId"] for rs in one["result"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]} == {
        "00000000000000000000000000000def"
    }
    attrs = json.dumps({"code": "200"})
    hit = json.loads((await api.get("/api/v3/traces", {**WINDOW, "query.serviceName": "web", "query.attributes": attrs}))[2])
    assert len(hit["result"]["resourceSpans"]) == 2  # web and db of trace abc
    by_duration = await api.get("/api/v3/traces", {**WINDOW, "query.serviceName": "db", "query.durationMin": "150ms"})
    assert by_duration[0] == 200
    assert_error(await api.get("/api/v3/traces", {**WINDOW, "query.serviceName": "nobody"}), 404, "No traces found")
    outside = {"query.startTimeMin": "2020-01-01T00:00:00Z", "query.startTimeMax": "2020-01-02T00:00:00Z"}
    assert_error(await api.get("/api/v3/traces", {**outside, "query.serviceName": "web"}), 404, "No traces found")


async def test_find_traces_errors(api: Client) -> None:
    required = "query.startTimeMin and query.startTimeMax are required"
    assert_error(await api.get("/api/v3/traces"), 400, required)
    assert_error(await api.get("/api/v3/traces", {"query.startTimeMin": WINDOW["query.startTimeMin"]}), 400, required)
    assert_error(
        await api.get("/api/v3/traces", {"query.start_time_min": "NaN", "query.startTimeMax": WINDOW["query.startTimeMax"]}),
        400,
        'malformed parameter query.start_time_min: parsing time "NaN" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "NaN" as "2006"',
    )
    assert_error(
        await api.get("/api/v3/traces", {"query.startTimeMin": WINDOW["query.startTimeMax"], "query.startTimeMax": WINDOW["query.startTimeMin"]}),
        400,
        "query.startTimeMin must be before query.startTimeMax",
    )
    assert_error(await api.get("/api/v3/traces", {**WINDOW, "query.num_traces": "NaN"}), 400, 'malformed parameter query.num_traces: strconv.ParseUint: parsing "NaN": invalid syntax')
    assert_error(await api.get("/api/v3/traces", {**WINDOW, "query.searchDepth": "-1"}), 400, 'malformed parameter query.searchDepth: strconv.ParseUint: parsing "-1": invalid syntax')
    assert_error(await api.get("/api/v3/traces", {**WINDOW, "query.durationMin": "NaN"}), 400, 'malformed parameter query.durationMin: time: invalid duration "NaN"')
    assert_error(await api.get("/api/v3/traces", {**WINDOW, "query.duration_max": "5"}), 400, 'malformed parameter query.duration_max: time: missing unit in duration "5"')
    assert_error(await api.get("/api/v3/traces", {**WINDOW, "query.rawTraces": "foobar"}), 400, 'malformed parameter query.rawTraces: strconv.ParseBool: parsing "foobar": invalid syntax')
    assert_error(
        await api.get("/api/v3/traces", {**WINDOW, "query.attributes": "{x"}),
        400,
        "malformed parameter query.attributes: invalid character 'x' looking for beginning of object key string",
    )


async def test_trace_summaries(api: Client) -> None:
    status, headers, text = await api.get("/api/v3/trace-summaries", {**WINDOW, "query.serviceName": "db"})
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert text == (
        '{"summaries":[{"traceId":"00000000000000000000000000000abc","rootServiceName":"web","rootOperationName":"GET /",'
        f'"minStartTimeUnixNano":"{T0}","maxEndTimeUnixNano":"{T0 + 202 * MS}",'
        '"spanCount":3,"errorSpanCount":1,"orphanSpanCount":1,'
        '"services":[{"name":"db","spanCount":2,"errorSpanCount":1},{"name":"web","spanCount":1,"errorSpanCount":0}]}]}'
    )
    health = json.loads((await api.get("/api/v3/trace-summaries", {**WINDOW, "query.operationName": "GET /health", "query.serviceName": "web"}))[2])
    assert health["summaries"] == [
        {
            "traceId": "00000000000000000000000000000def",
            "rootServiceName": "web",
            "rootOperationName": "GET /health",
            "minStartTimeUnixNano": str(T0 + S),
            "maxEndTimeUnixNano": str(T0 + S + MS),
            "spanCount": 1,
            "errorSpanCount": 0,
            "services": [{"name": "web", "spanCount": 1, "errorSpanCount": 0}],
        }
    ]
    assert (await api.get("/api/v3/trace-summaries", {**WINDOW, "query.serviceName": "nobody"}))[2] == '{"summaries":[]}'
    assert_error(await api.get("/api/v3/trace-summaries"), 400, "query.startTimeMin and query.startTimeMax are required")


async def test_only_get_routes_exist(api: Client) -> None:
    async with api.session.post(api.base + "/api/v3/traces") as resp:
        assert resp.status == 404 and await resp.text() == "404 page not found\n"
    for path in ("/api/v3/dependencies", "/api/v3/traces/", "/api/v3"):
        status, _, text = await api.get(path)
        assert (status, text) == (404, "404 page not found\n")


async def test_search_is_quick_on_a_large_trace() -> None:
    big = MemoryStore()
    r = Resource("svc", [KeyValue("ip", "1.2.3.4")])
    big.write_spans([Span(0x1, i + 1, f"op{i % 10}", T0 + i * 1000, 1000, r, parent_span_id=i if i else 0) for i in range(10_008)])
    server = HttpServer("q", "127.0.0.1", 0, build_app(QueryService(big, big)))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            start = time.perf_counter()
            async with session.get(f"http://127.0.0.1:{server.port}/api/traces/1") as resp:
                body = await resp.json()
            elapsed = time.perf_counter() - start
            assert len(body["data"][0]["spans"]) == 10_008
            async with session.get(f"http://127.0.0.1:{server.port}/api/v3/traces/1") as resp:
                v3 = await resp.json()
            assert sum(len(ss["spans"]) for rs in v3["result"]["resourceSpans"] for ss in rs["scopeSpans"]) == 10_008
    finally:
        await server.stop()
    assert elapsed < 10
