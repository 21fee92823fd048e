"""Every operator and pipeline stage against hand-computed answers, on every backend.

Three traces (times relative to T0, which is a whole second):

* A (0xA): a1 ``GET /`` front server 500ms @0 {http.status_code=500, user=ann} (host h1)
  ├─ a2 ``POST /v`` api client ERROR "boom" 200ms @10ms {http.status_code=503, flag=true}
  │   └─ a3 ``db.query`` db client OK 50ms @20ms {ratio=0.5}
  └─ a4 ``cache`` api internal 5ms @30ms
* B (0xB): b1 ``GET /`` front server OK 100ms @1s {http.status_code=200, user=bob} (host h2)
  └─ b2 ``db.query`` db client 80ms @1.01s
* C (0xC): c1 ``consume`` worker consumer ERROR 2s @2s, parent 99 (not in the trace)
"""

from __future__ import annotations

import pytest

from spyglass.model import KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.traceql import ast, parse
from traceql_data import S, found, stored_reader

T0 = 1_700_000_000 * S
MS = 1_000_000
A, B, C = 0xA, 0xB, 0xC


def spans() -> list[Span]:
    front1 = Resource("front", [KeyValue("host", "h1")])
    front2 = Resource("front", [KeyValue("host", "h2")])
    api, db, worker = Resource("api"), Resource("db"), Resource("worker")
    err = Status(StatusCode.ERROR, "boom")
    return [
        Span(A, 1, "GET /", T0, 500 * MS, front1, kind=SpanKind.SERVER,
             attributes=[KeyValue("http.status_code", 500), KeyValue("user", "ann")]),
        Span(A, 2, "POST /v", T0 + 10 * MS, 200 * MS, api, 1, SpanKind.CLIENT, err,
             attributes=[KeyValue("http.status_code", 503), KeyValue("flag", True)]),
        Span(A, 3, "db.query", T0 + 20 * MS, 50 * MS, db, 2, SpanKind.CLIENT, Status(StatusCode.OK),
             attributes=[KeyValue("ratio", 0.5)]),
        Span(A, 4, "cache", T0 + 30 * MS, 5 * MS, api, 1, SpanKind.INTERNAL),
        Span(B, 1, "GET /", T0 + S, 100 * MS, front2, kind=SpanKind.SERVER, status=Status(StatusCode.OK),
             attributes=[KeyValue("http.status_code", 200), KeyValue("user", "bob")]),
        Span(B, 2, "db.query", T0 + S + 10 * MS, 80 * MS, db, 1, SpanKind.CLIENT),
        Span(C, 1, "consume", T0 + 2 * S, 2 * S, worker, 99, SpanKind.CONSUMER, err),
    ]


CASES = [
    ("{status=error}", [(C, [1]), (A, [2])]),
    ("{status=ok}", [(B, [1]), (A, [3])]),
    ("{status=unset}", [(B, [2]), (A, [1, 4])]),
    ("{status!=error}", [(B, [1, 2]), (A, [1, 3, 4])]),
    ("{kind=client}", [(B, [2]), (A, [2, 3])]),
    ("{kind!=client && kind!=server}", [(C, [1]), (A, [4])]),
    ('{name="db.query"}', [(B, [2]), (A, [3])]),
    ('{name!="db.query" && name!="GET /"}', [(C, [1]), (A, [2, 4])]),
    ('{name=~"GET.*"}', [(B, [1]), (A, [1])]),
    ('{name!~"GET.*|db.*"}', [(C, [1]), (A, [2, 4])]),
    ('{name > "d"}', [(B, [2]), (A, [3])]),
    ("{duration > 100ms}", [(C, [1]), (A, [1, 2])]),
    ("{duration >= 100ms}", [(C, [1]), (B, [1]), (A, [1, 2])]),
    ("{duration < 10ms}", [(A, [4])]),
    ("{duration <= 50ms}", [(A, [3, 4])]),
    ("{duration = 80ms}", [(B, [2])]),
    ("{span.http.status_code >= 500}", [(A, [1, 2])]),
    ("{span.http.status_code = 200}", [(B, [1])]),
    ("{span.http.status_code < 500.5}", [(B, [1]), (A, [1])]),
    ('{span.http.status_code = "200"}', []),  # typed: a string never equals an integer
    ('{.user = "ann"}', [(A, [1])]),
    ('{span.user != "ann"}', [(B, [1])]),
    ('{resource.host = "h2"}', [(B, [1])]),
    ('{.host = "h1"}', [(A, [1])]),
    ("{.flag = true}", [(A, [2])]),
    ("{span.flag != nil}", [(A, [2])]),
    ("{span.flag = nil && resource.service.name = \"db\"}", [(B, [2]), (A, [3])]),
    ("{span.ratio < 1}", [(A, [3])]),
    ('{resource.service.name = "api"}', [(A, [2, 4])]),
    ('{resource.service.name =~ "w.*|d.*"}', [(C, [1]), (B, [2]), (A, [3])]),
    ('{.service.name = "worker"}', [(C, [1])]),
    ('{resource.service.name != nil && name = "consume"}', [(C, [1])]),
    ('{resource.service.name > "front"}', [(C, [1])]),
    ('{rootServiceName = "front" && kind = server}', [(B, [1]), (A, [1])]),
    ('{rootName = "consume"}', [(C, [1])]),
    ("{traceDuration > 1s}", [(C, [1])]),
    ('{statusMessage = "boom"}', [(C, [1]), (A, [2])]),
    ("{kind=client && status=error}", [(A, [2])]),
    ('{name="cache" || status=error}', [(C, [1]), (A, [2, 4])]),
    ('{name="GET /"} > {kind=client}', [(B, [2]), (A, [2])]),
    ('{name="GET /"} >> {name="db.query"}', [(B, [2]), (A, [3])]),
    ('{name="db.query"} < {kind=client}', [(A, [2])]),
    ('{name="db.query"} << {}', [(B, [1]), (A, [1, 2])]),
    ('{name="cache"} ~ {}', [(A, [2])]),
    ('{status=error} && {name="db.query"}', [(A, [2, 3])]),
    ('{status=error} || {name="db.query"}', [(C, [1]), (B, [2]), (A, [2, 3])]),
    ("{} | count() > 2", [(A, [1, 2, 3, 4])]),
    ("{} | count() = 1", [(C, [1])]),
    ("{} | avg(duration) > 1s", [(C, [1])]),
    ("{} | max(duration) >= 500ms", [(C, [1]), (A, [1, 2, 3, 4])]),
    ("{} | min(duration) < 10ms", [(A, [1, 2, 3, 4])]),
    ("{} | sum(duration) > 700ms", [(C, [1]), (A, [1, 2, 3, 4])]),
    ("{} | avg(span.http.status_code) > 300", [(A, [1, 2, 3, 4])]),  # the set is kept whole
    ("{} | {status=error}", [(C, [1]), (A, [2])]),
    ("{kind=client} | count() > 1 | {status=ok}", [(A, [3])]),
]


@pytest.fixture(params=["memory", "sqlite", "clickhouse"], scope="module")
def reader(request):
    yield from stored_reader(request.param, spans())


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_operator(reader, text: str, expected) -> None:
    assert found(reader, text) == expected


def test_window_limit_and_summary(reader) -> None:
    assert found(reader, "{}", T0 + 900 * MS, T0 + 1500 * MS) == [(B, [1, 2])]
    assert found(reader, "{}", limit=2) == [(C, [1]), (B, [1, 2])]
    m, = reader.find_traces_traceql(parse('{name="cache"} | select(span.user, resource.host)'))
    assert (m.root_service, m.root_name, m.start_ns, m.duration_ns) == ("front", "GET /", T0, 500 * MS)
    assert m.selected == (ast.Attribute("span", "user"), ast.Attribute("resource", "host"))


def series(reader, text: str) -> list:
    return [(dict(s.labels), s.samples) for s in reader.traceql_metrics(parse(text), T0, T0 + 3 * S, S)]


def test_metrics(reader) -> None:
    t = [T0, T0 + S, T0 + 2 * S]
    assert series(reader, "{} | count_over_time()") == [({}, list(zip(t, [4.0, 2.0, 1.0])))]
    assert series(reader, "{} | rate() by (resource.service.name)") == [
        ({"resource.service.name": "api"}, list(zip(t, [2.0, 0.0, 0.0]))),
        ({"resource.service.name": "db"}, list(zip(t, [1.0, 1.0, 0.0]))),
        ({"resource.service.name": "front"}, list(zip(t, [1.0, 1.0, 0.0]))),
        ({"resource.service.name": "worker"}, list(zip(t, [0.0, 0.0, 1.0]))),
    ]
    assert series(reader, "{kind=client} | quantile_over_time(duration, .5, 1)") == [
        ({"p": 0.5}, [(t[0], 0.05), (t[1], 0.08)]),
        ({"p": 1.0}, [(t[0], 0.2), (t[1], 0.08)]),
    ]
    assert series(reader, '{name="GET /"} >> {} | count_over_time()') == [({}, list(zip(t, [3.0, 1.0, 0.0])))]
    assert series(reader, "{} | max_over_time(duration) by (status)") == [
        ({"status": "error"}, [(t[0], 0.2), (t[2], 2.0)]),
        ({"status": "ok"}, [(t[0], 0.05), (t[1], 0.1)]),
        ({"status": "unset"}, [(t[0], 0.5), (t[1], 0.08)]),
    ]
    # rate in a 2 s step: per second
    got = reader.traceql_metrics(parse("{status=error} | rate()"), T0, T0 + 4 * S, 2 * S)
    assert [(s.labels, s.samples) for s in got] == [((), [(T0, 0.5), (T0 + 2 * S, 0.5)])]
