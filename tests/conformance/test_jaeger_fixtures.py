"""Jaeger's storage conformance cases, end to end, against a running all-in-one.

The data and queries are Jaeger's own storage integration fixtures
(``shared/conformance/jaeger-storage-fixtures`` beside the checkout, see its README). They are run the way
Jaeger's ``testFindTraces`` runs them, but through the public edges of Spyglass instead
of a storage API: the OTLP set is sent as OTLP/HTTP JSON (``POST /v1/traces``), the
legacy api_v2 set through the Jaeger gRPC collector (``CollectorService/PostSpans``),
and every query goes through the UI's HTTP search (``GET /api/traces``), for every
storage backend in ``support.storage_backends()``.

1. Dates are shifted as upstream does: 2017-01-25 becomes the day before yesterday, any
   other date yesterday (UTC), the time of day kept. Queries get the same change.
2. The union of every case's expected fixtures is written once per backend and set
   (module-scoped servers), so each case is also a negative test for the others.
3. Each case must return exactly the expected traces, span for span: trace IDs, then per
   trace the span IDs, operation names, start times and durations read straight from the
   fixture JSON, and then the whole UI JSON (tags, logs, references, process) compared
   with the fixture converted through Spyglass's own model, after sorting (raw=true, so
   adjusters do not change what storage returned). The adjusted search must find the
   same traces and spans.

The README's "other expectations" (services, operations, get trace, a 10,008-span trace,
duplicate span IDs, dependencies, a search without a service) run against a fresh
all-in-one each, like upstream's per-test clean-up.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest
import support
from conftest import RunningAllInOne

from spyglass.codecs import go_json, jaeger_proto, otlp_json
from spyglass.codecs.jaeger_ui_json import trace_to_ui
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2, collector_pb2_grpc
from spyglass.model import Span, Trace, format_trace_id
from support import JAEGER_FIXTURES

FIXTURES = JAEGER_FIXTURES
if not (FIXTURES / "queries.json").exists():
    raise RuntimeError(f"Jaeger storage fixtures not found at {FIXTURES} (set SPYGLASS_JAEGER_FIXTURES)")

LEGACY = FIXTURES / "legacy-api-v2-model"
BACKENDS = sorted(support.storage_backends())

DAY_NS = 86_400 * 10**9
EPOCH = date(1970, 1, 1)
TODAY = datetime.now(timezone.utc).date()  # fixed once, so data and queries agree
YESTERDAY = TODAY - timedelta(days=1)
DAY_BEFORE = TODAY - timedelta(days=2)


# -- step 1: dates -----------------------------------------------------------------------


def shift_text(text: str) -> str:
    """Upstream's literal replacement, for the legacy fixtures and the queries."""
    return text.replace("2017-01-26", YESTERDAY.isoformat()).replace("2017-01-25", DAY_BEFORE.isoformat())


def shift_ns(ns: int) -> int:
    """Upstream's ``dateOffsetNormalizer`` for OTLP timestamps: the UTC date becomes the day
    before yesterday if it was 2017-01-25 and yesterday otherwise; time of day kept."""
    day, time_of_day = divmod(ns, DAY_NS)
    target = DAY_BEFORE if EPOCH + timedelta(days=day) == date(2017, 1, 25) else YESTERDAY
    return (target - EPOCH).days * DAY_NS + time_of_day


def shift_otlp(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("startTimeUnixNano", "endTimeUnixNano"):
                    if key in span:
                        span[key] = str(shift_ns(int(span[key])))
                for event in span.get("events", []):
                    if "timeUnixNano" in event:
                        event["timeUnixNano"] = str(shift_ns(int(event["timeUnixNano"])))
    return doc


def rfc3339_us(text: str) -> int:
    return jaeger_proto.parse_rfc3339(text) // 1000


# -- fixtures as expected results ------------------------------------------------------------


@dataclass
class Fixture:
    """One trace fixture: the document to send and what a search must return for it."""

    name: str
    document: dict[str, Any]
    trace_id: int
    spans: list[Span]  # through our own decoder, for the full UI JSON comparison
    essentials: list[tuple[str, str, int, int]]  # straight from the JSON: (spanID, name, start µs, duration µs)

    @property
    def ui_trace_id(self) -> str:
        return format_trace_id(self.trace_id)


def _one_trace_id(spans: list[Span], name: str) -> int:
    ids = {s.trace_id for s in spans}
    assert len(ids) == 1, f"{name}: a fixture should hold one trace, found {len(ids)}"
    return ids.pop()


def load_otlp_fixture(name: str) -> Fixture:
    doc = shift_otlp(json.loads((FIXTURES / "traces" / f"{name}.json").read_text()))
    essentials = [
        (s["spanId"], s.get("name", ""), int(s["startTimeUnixNano"]) // 1000,
         (int(s["endTimeUnixNano"]) - int(s["startTimeUnixNano"])) // 1000)
        for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]
    ]
    spans = otlp_json.decode_export_request(doc)
    return Fixture(name, doc, _one_trace_id(spans, name), spans, essentials)


def _iso_us(text: str) -> int:
    """Microseconds of an RFC 3339 time with at most 6 fractional digits (the fixtures')."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (dt - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def _ns_text_us(text: str) -> int:
    """Microseconds of the fixtures' Go durations, which are all ``<n>ns``."""
    assert text.endswith("ns") and text[:-2].isdigit(), text
    return int(text[:-2]) // 1000


def load_legacy_fixture(name: str) -> Fixture:
    doc = json.loads(shift_text((LEGACY / "traces" / f"{name}.json").read_text()))
    essentials = [
        (base64.b64decode(s["spanId"]).hex(), s.get("operationName", ""), _iso_us(s["startTime"]), _ns_text_us(s["duration"]))
        for s in doc["spans"]
    ]
    spans = jaeger_proto.spans_from_json(doc)
    return Fixture(name, doc, _one_trace_id(spans, name), spans, essentials)


def load_cases(path: Path) -> list[dict[str, Any]]:
    return json.loads(shift_text(path.read_text()))


OTLP_CASES = load_cases(FIXTURES / "queries.json")
LEGACY_CASES = load_cases(LEGACY / "queries.json")


def union_of_expected(cases: list[dict[str, Any]]) -> list[str]:
    return sorted({name for case in cases for name in case["ExpectedFixtures"]})


# -- talking to the all-in-one ---------------------------------------------------------------


def http(method: str, url: str, body: bytes | None = None, content_type: str = "application/json") -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def post_otlp_json(aio: RunningAllInOne, doc: dict[str, Any]) -> None:
    status, reply = http("POST", aio.url("otlp_http", "/v1/traces"), json.dumps(doc).encode())
    assert status == 200, reply
    assert not (reply or {}).get("partialSuccess"), reply


def post_spans_grpc(aio: RunningAllInOne, fixtures: list[Fixture]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{aio.ports['collector_grpc']}") as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        for fx in fixtures:
            request = collector_pb2.PostSpansRequest()
            request.batch.CopyFrom(jaeger_proto.batch_from_spans(jaeger_proto.spans_from_json(fx.document)))
            stub.PostSpans(request, timeout=30)


def get_trace(aio: RunningAllInOne, trace_id: str, raw: bool = True) -> tuple[int, Any]:
    return http("GET", aio.url("query_http", f"/api/traces/{trace_id}" + ("?raw=true" if raw else "")))


def wait_until_stored(aio: RunningAllInOne, expected: dict[str, int]) -> None:
    """Ingest is asynchronous (a queue feeds storage): poll until every trace has all its
    spans, as upstream polls before comparing."""

    def complete() -> bool:
        for trace_id, count in expected.items():
            status, body = get_trace(aio, trace_id)
            if status != 200 or len(body["data"][0]["spans"]) < count:
                return False
        return True

    support.wait_for(complete, timeout=30)


@dataclass
class LoadedSet:
    aio: RunningAllInOne
    fixtures: dict[str, Fixture]


def _start(backend: str, tmp_path_factory: pytest.TempPathFactory) -> RunningAllInOne:
    return RunningAllInOne(**support.storage_settings(backend, str(tmp_path_factory.mktemp(f"data-{backend}"))))


def _check_no_shared_ids(fixtures: list[Fixture]) -> None:
    # README: in the legacy set default.json and example_trace.json share a trace ID; only
    # the union of expected fixtures is written, which must not merge two fixtures.
    owners: dict[int, str] = {}
    for fx in fixtures:
        assert fx.trace_id not in owners, f"{fx.name} and {owners[fx.trace_id]} share trace ID {fx.ui_trace_id}"
        owners[fx.trace_id] = fx.name


@pytest.fixture(scope="module", params=BACKENDS)
def otlp_set(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedSet]:
    fixtures = [load_otlp_fixture(name) for name in union_of_expected(OTLP_CASES)]
    _check_no_shared_ids(fixtures)
    aio = _start(request.param, tmp_path_factory)
    try:
        for fx in fixtures:
            post_otlp_json(aio, fx.document)
        wait_until_stored(aio, {fx.ui_trace_id: len(fx.spans) for fx in fixtures})
        yield LoadedSet(aio, {fx.name: fx for fx in fixtures})
    finally:
        aio.close()


@pytest.fixture(scope="module", params=BACKENDS)
def legacy_set(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadedSet]:
    fixtures = [load_legacy_fixture(name) for name in union_of_expected(LEGACY_CASES)]
    _check_no_shared_ids(fixtures)
    aio = _start(request.param, tmp_path_factory)
    try:
        post_spans_grpc(aio, fixtures)
        wait_until_stored(aio, {fx.ui_trace_id: len(fx.spans) for fx in fixtures})
        yield LoadedSet(aio, {fx.name: fx for fx in fixtures})
    finally:
        aio.close()


# -- the search, as the UI sends it -----------------------------------------------------------


def ui_tag_value(value: Any) -> str:
    """Tag values as the UI sends them: text (the harness' typed JSON values stringified)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def search_url(aio: RunningAllInOne, q: dict[str, Any], raw: bool) -> str:
    params: dict[str, str] = {"service": q["ServiceName"]}
    if q["OperationName"]:
        params["operation"] = q["OperationName"]
    if q["Tags"]:
        params["tags"] = json.dumps({k: ui_tag_value(v) for k, v in q["Tags"].items()})
    params["start"] = str(rfc3339_us(q["StartTimeMin"]))
    params["end"] = str(-(-jaeger_proto.parse_rfc3339(q["StartTimeMax"]) // 1000))  # round up: inclusive
    if q["DurationMin"]:
        params["minDuration"] = f"{q['DurationMin']}ns"
    if q["DurationMax"]:
        params["maxDuration"] = f"{q['DurationMax']}ns"
    params["limit"] = str(q["NumTraces"])
    if raw:
        params["raw"] = "true"
    return aio.url("query_http", "/api/traces?" + urllib.parse.urlencode(params))


# -- comparison -------------------------------------------------------------------------------


def _kvs(items: list[dict[str, Any]] | None) -> list[tuple[str, str, str]]:
    return sorted((kv["key"], kv["type"], json.dumps(kv["value"])) for kv in items or [])


def normalize_trace(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """A UI trace as a sorted list of self-contained spans: process resolved (its key
    ``p1``/``p2`` depends on span order), tags, logs, fields and references sorted."""
    processes = trace["processes"]
    spans = []
    for s in trace["spans"]:
        p = processes[s["processID"]]
        spans.append(
            {
                "traceID": s["traceID"],
                "spanID": s["spanID"],
                "flags": s.get("flags", 0),
                "operationName": s["operationName"],
                "references": sorted((r["refType"], r["traceID"], r["spanID"]) for r in s["references"]),
                "startTime": s["startTime"],
                "duration": s["duration"],
                "tags": _kvs(s["tags"]),
                "logs": sorted((lg["timestamp"], _kvs(lg["fields"])) for lg in s["logs"]),
                "process": (p["serviceName"], _kvs(p["tags"])),
                "warnings": sorted(s.get("warnings") or []),
            }
        )
    return sorted(spans, key=lambda span: json.dumps(span, sort_keys=True))


def essentials_of(trace: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    return sorted((s["spanID"], s["operationName"], s["startTime"], s["duration"]) for s in trace["spans"])


def expected_ui(fx: Fixture) -> dict[str, Any]:
    """The fixture converted through our model to UI JSON, written and read back as JSON."""
    return json.loads(go_json.dumps(trace_to_ui(Trace(fx.trace_id, list(fx.spans)))))


def run_case(loaded: LoadedSet, case: dict[str, Any]) -> None:
    expected = [loaded.fixtures[name] for name in case["ExpectedFixtures"]]
    by_id = {fx.ui_trace_id: fx for fx in expected}

    status, body = http("GET", search_url(loaded.aio, case["Query"], raw=True))
    assert status == 200, body
    assert body["errors"] is None, body["errors"]
    got = {t["traceID"]: t for t in body["data"]}
    assert sorted(got) == sorted(by_id), "traces found differ from the expected fixtures"
    for trace_id, fx in by_id.items():
        trace = got[trace_id]
        # the essentials straight from the fixture file, independent of our codecs
        assert essentials_of(trace) == sorted(fx.essentials), fx.name
        # then every field, against the fixture read through our own model
        assert normalize_trace(trace) == normalize_trace(expected_ui(fx)), fx.name

    # The UI's own (adjusted) search finds the same traces and spans.
    status, body = http("GET", search_url(loaded.aio, case["Query"], raw=False))
    assert status == 200, body
    adjusted = {t["traceID"]: sorted(s["spanID"] for s in t["spans"]) for t in body["data"]}
    assert adjusted == {tid: sorted(e[0] for e in fx.essentials) for tid, fx in by_id.items()}


@pytest.mark.parametrize("case", OTLP_CASES, ids=[c["Caption"].replace(" ", "_") for c in OTLP_CASES])
def test_otlp_fixtures(otlp_set: LoadedSet, case: dict[str, Any]) -> None:
    run_case(otlp_set, case)


@pytest.mark.parametrize("case", LEGACY_CASES, ids=[c["Caption"].replace(" ", "_") for c in LEGACY_CASES])
def test_legacy_api_v2_fixtures(legacy_set: LoadedSet, case: dict[str, Any]) -> None:
    run_case(legacy_set, case)


def test_case_counts() -> None:
    assert len(OTLP_CASES) == 25
    assert len(LEGACY_CASES) == 22


# -- the README's other expectations -----------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAllInOne]:
    """A clean all-in-one per test, as upstream cleans storage between these tests."""
    aio = _start(request.param, tmp_path_factory)
    try:
        yield aio
    finally:
        aio.close()


EXAMPLE_ID = "0000000000000011"


def write_example_trace(aio: RunningAllInOne) -> Fixture:
    fx = load_otlp_fixture("example_trace")
    post_otlp_json(aio, fx.document)
    wait_until_stored(aio, {fx.ui_trace_id: len(fx.spans)})
    return fx


def otlp_doc(spans_by_service: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {}, "spans": spans}],
            }
            for service, spans in spans_by_service.items()
        ]
    }


def test_get_services(fresh: RunningAllInOne) -> None:
    write_example_trace(fresh)
    status, body = http("GET", fresh.url("query_http", "/api/services"))
    assert status == 200
    assert body["data"] == ["example-service-1", "example-service-2", "example-service-3"]


def test_get_operations(fresh: RunningAllInOne) -> None:
    write_example_trace(fresh)
    status, body = http("GET", fresh.url("query_http", "/api/operations?service=example-service-1"))
    assert status == 200
    assert body["data"] == [
        {"name": "example-operation-1", "spanKind": ""},
        {"name": "example-operation-3", "spanKind": "server"},
        {"name": "example-operation-4", "spanKind": "client"},
    ]
    status, body = http("GET", fresh.url("query_http", "/api/operations?service=example-service-1&spanKind=server"))
    assert body["data"] == [{"name": "example-operation-3", "spanKind": "server"}]
    status, body = http("GET", fresh.url("query_http", "/api/services/example-service-1/operations"))
    assert body["data"] == ["example-operation-1", "example-operation-3", "example-operation-4"]


def test_get_trace(fresh: RunningAllInOne) -> None:
    fx = write_example_trace(fresh)
    for trace_id in (EXAMPLE_ID, "00000000000000000000000000000011", "11"):
        status, body = get_trace(fresh, trace_id)
        assert status == 200
        (trace,) = body["data"]
        assert len(trace["spans"]) == 5
        assert essentials_of(trace) == sorted(fx.essentials)
        assert normalize_trace(trace) == normalize_trace(expected_ui(fx))
    status, body = get_trace(fresh, "0000000000000001")  # never written
    assert status == 404
    assert body["errors"][0]["code"] == 404 and body["errors"][0]["msg"] == "trace not found"


def copies_of_first_example_span(count: int, duplicate_every: int = 0) -> dict[str, Any]:
    """Upstream's large-trace writer: ``count`` copies of the example trace's first span,
    span IDs 1..N (with ``duplicate_every``, every such copy reuses the first span's ID),
    copy i shifted by i seconds."""
    fx = load_otlp_fixture("example_trace")
    resource_spans = fx.document["resourceSpans"][0]
    service = resource_spans["resource"]["attributes"][0]["value"]["stringValue"]
    first = resource_spans["scopeSpans"][0]["spans"][0]
    spans = []
    for i in range(count):
        span = copy.deepcopy(first)
        span_id = 1 if duplicate_every and i and i % duplicate_every == 0 else i + 1
        span["spanId"] = format(span_id, "016x")
        for key in ("startTimeUnixNano", "endTimeUnixNano"):
            span[key] = str(int(first[key]) + i * 10**9)
        spans.append(span)
    return otlp_doc({service: spans})


def test_get_large_trace(fresh: RunningAllInOne) -> None:
    n = 10_008
    doc = copies_of_first_example_span(n)
    post_otlp_json(fresh, doc)
    wait_until_stored(fresh, {EXAMPLE_ID: n})
    sent = sorted((s["spanId"], int(s["startTimeUnixNano"]) // 1000) for s in doc["resourceSpans"][0]["scopeSpans"][0]["spans"])
    for raw in (True, False):
        status, body = get_trace(fresh, EXAMPLE_ID, raw=raw)
        assert status == 200
        (trace,) = body["data"]
        assert len(trace["spans"]) == n
        if raw:
            assert sorted((s["spanID"], s["startTime"]) for s in trace["spans"]) == sent


def test_get_large_trace_over_grpc(fresh: RunningAllInOne) -> None:
    """The same 10,008-span trace through both query gRPC APIs (port 16685)."""
    if "query_grpc" not in fresh.ports:
        pytest.skip("the all-in-one does not serve the query gRPC APIs yet")
    from spyglass.codecs.proto.jaeger.api_v2 import query_pb2, query_pb2_grpc
    from spyglass.codecs.proto.jaeger.api_v3 import query_service_pb2, query_service_pb2_grpc

    n = 10_008
    doc = copies_of_first_example_span(n)
    post_otlp_json(fresh, doc)
    wait_until_stored(fresh, {EXAMPLE_ID: n})
    sent = sorted(int(s["spanId"], 16) for s in doc["resourceSpans"][0]["scopeSpans"][0]["spans"])
    with grpc.insecure_channel(f"127.0.0.1:{fresh.ports['query_grpc']}") as channel:
        v2 = query_pb2_grpc.QueryServiceStub(channel)
        chunks = list(v2.GetTrace(query_pb2.GetTraceRequest(trace_id=(0x11).to_bytes(16, "big"), raw_traces=True)))
        assert len(chunks) == -(-n // 10) and all(len(c.spans) <= 10 for c in chunks)
        assert sorted(int.from_bytes(s.span_id, "big") for c in chunks for s in c.spans) == sent
        v3 = query_service_pb2_grpc.QueryServiceStub(channel)
        (td,) = v3.GetTrace(query_service_pb2.GetTraceRequest(trace_id=EXAMPLE_ID, raw_traces=True))
        got = [s.span_id for rs in td.resource_spans for ss in rs.scope_spans for s in ss.spans]
        assert sorted(int.from_bytes(i, "big") for i in got) == sent


def test_get_trace_with_duplicate_span_ids(fresh: RunningAllInOne) -> None:
    doc = copies_of_first_example_span(200, duplicate_every=20)
    post_otlp_json(fresh, doc)
    wait_until_stored(fresh, {EXAMPLE_ID: 200})
    status, body = get_trace(fresh, EXAMPLE_ID)
    (trace,) = body["data"]
    ids = [s["spanID"] for s in trace["spans"]]
    assert len(ids) == 200  # duplicates are stored and returned, not merged
    assert ids.count(format(1, "016x")) == 10  # span 1 and its copies 20, 40, ..., 180
    assert len(set(ids)) == 191


def test_get_dependencies(fresh: RunningAllInOne) -> None:
    # Upstream writes the links hello->world (1 call) and world->hello (3 calls) straight
    # into a dependency store; Spyglass computes links from spans, so the same links are
    # written as parent/child spans across the two services at time T.
    t = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)
    t_ns = int(t.timestamp()) * 10**9

    def call(trace_id: int, parent: str, child: str) -> dict[str, list[dict[str, Any]]]:
        def span(span_id: int, parent_id: int | None) -> dict[str, Any]:
            s = {"traceId": format(trace_id, "032x"), "spanId": format(span_id, "016x"), "name": "call",
                 "startTimeUnixNano": str(t_ns + 10**9), "endTimeUnixNano": str(t_ns + 2 * 10**9)}
            if parent_id:
                s["parentSpanId"] = format(parent_id, "016x")
            return s

        return {parent: [span(1, None)], child: [span(2, 1)]}

    calls = [call(0xD1, "hello", "world"), *(call(0xD2 + i, "world", "hello") for i in range(3))]
    for c in calls:
        post_otlp_json(fresh, otlp_doc(c))
    wait_until_stored(fresh, {format(0xD1 + i, "016x"): 2 for i in range(4)})
    end_ms = int(t.timestamp() * 1000) + 5 * 60 * 1000
    status, body = http("GET", fresh.url("query_http", f"/api/dependencies?endTs={end_ms}&lookback={5 * 60 * 1000}"))
    assert status == 200
    assert body["data"] == [
        {"parent": "hello", "child": "world", "callCount": 1},
        {"parent": "world", "child": "hello", "callCount": 3},
    ]
    # a window that ends before T holds nothing
    status, body = http("GET", fresh.url("query_http", f"/api/dependencies?endTs={end_ms - 10 * 60 * 1000}&lookback=60000"))
    assert body["data"] == []


def test_find_traces_without_service_name(fresh: RunningAllInOne) -> None:
    start_ns = int((datetime.now(timezone.utc) - timedelta(minutes=10)).timestamp()) * 10**9

    def one_span(trace_id: int, service: str, tagged: bool) -> dict[str, Any]:
        span = {"traceId": format(trace_id, "032x"), "spanId": "0000000000000001", "name": "op",
                "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(start_ns + 10**6)}
        if tagged:
            span["attributes"] = [{"key": "rfc0013.cross.service", "value": {"stringValue": "yes"}}]
        return otlp_doc({service: [span]})

    for doc in (one_span(0xA1, "cross-service-a", True), one_span(0xA2, "cross-service-b", True),
                one_span(0xA3, "cross-service-c", False)):
        post_otlp_json(fresh, doc)
    wait_until_stored(fresh, {format(0xA1 + i, "016x"): 1 for i in range(3)})
    params = urllib.parse.urlencode({
        "tags": json.dumps({"rfc0013.cross.service": "yes"}),
        "start": str(start_ns // 1000 - 60_000_000),
        "end": str(start_ns // 1000 + 60_000_000),
        "limit": "20",
    })
    status, body = http("GET", fresh.url("query_http", f"/api/traces?{params}"))
    assert status == 200, body
    found = {t["traceID"]: t["spans"][0]["processID"] for t in body["data"]}
    assert sorted(found) == [format(0xA1, "016x"), format(0xA2, "016x")]
    services = sorted(t["processes"][t["spans"][0]["processID"]]["serviceName"] for t in body["data"])
    assert services == ["cross-service-a", "cross-service-b"]
