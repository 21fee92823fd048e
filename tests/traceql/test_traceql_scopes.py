"""Tempo's event./link./instrumentation. scopes, scoped intrinsics, negated and union structural
operators, histogram_over_time, topk/bottomk and instant metrics, against hand-computed
answers on every backend.

Two traces (times relative to T0, a whole second):

* D (0xD): d1 ``GET /checkout`` shop server 300ms @0, scope io.opentelemetry.http 1.2.0
  {lib.flavor=async}, events: exception @5ms {exception.message="upstream timeout after 5s"},
  retry @100ms {attempt=2}
  ├─ d2 ``charge`` pay client 100ms @10ms, link to (0xE, 7) {reason=batch}, event log @60ms {level=info}
  │   └─ d3 ``db.query`` pay client 50ms @20ms, scope sqlx 0.7
* E (0xABC << 64 | 0xE): e1 ``batch`` worker consumer 1s @1s, event exception @1.5s {exception.message="disk full"}
  ├─ e7 ``flush`` worker internal 100ms @1.1s
  └─ e8 ``compact`` worker internal 50ms @1.2s
"""

from __future__ import annotations

import pytest

from spyglass.model import Event, KeyValue, Link, Resource, Scope, Span, SpanKind
from spyglass.traceql import parse
from traceql_data import S, found, stored_reader

T0 = 1_700_000_000 * S
MS = 1_000_000
D, E = 0xD, (0xABC << 64) | 0xE


def spans() -> list[Span]:
    shop, pay, worker = Resource("shop"), Resource("pay"), Resource("worker")
    http = Scope("io.opentelemetry.http", "1.2.0", [KeyValue("lib.flavor", "async")])
    return [
        Span(D, 1, "GET /checkout", T0, 300 * MS, shop, kind=SpanKind.SERVER, scope=http, events=[
            Event(T0 + 5 * MS, "exception", [KeyValue("exception.message", "upstream timeout after 5s")]),
            Event(T0 + 100 * MS, "retry", [KeyValue("attempt", 2)])]),
        Span(D, 2, "charge", T0 + 10 * MS, 100 * MS, pay, 1, SpanKind.CLIENT,
             links=[Link(0xE, 7, attributes=[KeyValue("reason", "batch")])],
             events=[Event(T0 + 60 * MS, "log", [KeyValue("level", "info")])]),
        Span(D, 3, "db.query", T0 + 20 * MS, 50 * MS, pay, 2, SpanKind.CLIENT, scope=Scope("sqlx", "0.7")),
        Span(E, 1, "batch", T0 + S, S, worker, kind=SpanKind.CONSUMER,
             events=[Event(T0 + 1500 * MS, "exception", [KeyValue("exception.message", "disk full")])]),
        Span(E, 7, "flush", T0 + 1100 * MS, 100 * MS, worker, 1, SpanKind.INTERNAL),
        Span(E, 8, "compact", T0 + 1200 * MS, 50 * MS, worker, 1, SpanKind.INTERNAL),
    ]


CASES = [
    # event. and event: fields: some event satisfies the comparison
    ('{event.exception.message =~ ".*timeout.*"}', [(D, [1])]),
    ('{event:name = "exception"}', [(E, [1]), (D, [1])]),
    ('{event:name = "retry" && event.attempt = 2}', [(D, [1])]),
    ('{event.attempt > 2}', []),
    ('{event:name != "exception"}', [(D, [1, 2])]),  # d1's retry event is not an exception
    ("{event:name = nil}", [(E, [7, 8]), (D, [3])]),
    ("{event.level != nil}", [(D, [2])]),
    ("{event:timeSinceStart > 400ms}", [(E, [1])]),
    ("{event:timeSinceStart <= 5ms}", [(D, [1])]),
    # link. and link: fields
    ('{link.reason = "batch"}', [(D, [2])]),
    ('{link:traceID = "e"}', [(D, [2])]),
    ('{link:spanID = "7"}', [(D, [2])]),
    ("{link:traceID != nil}", [(D, [2])]),
    ('{link.reason = "batch" && kind = server}', []),
    # instrumentation scope
    ('{instrumentation:name = "sqlx"}', [(D, [3])]),
    ('{instrumentation:version = "1.2.0" && instrumentation.lib.flavor = "async"}', [(D, [1])]),
    ('{instrumentation:name = ""}', [(E, [1, 7, 8]), (D, [2])]),
    # IDs, as Tempo writes them (zero-padded hex)
    ('{span:id = "0000000000000007"}', [(E, [7])]),
    ('{span:parentID = "1"}', [(E, [7, 8]), (D, [2])]),
    ("{span:parentID = nil}", [(E, [1]), (D, [1])]),
    ('{trace:id = "ABC000000000000000e"}', [(E, [1, 7, 8])]),
    ('{trace:id != "abc000000000000000e"}', [(D, [1, 2, 3])]),
    ('{trace:id =~ "0+d"}', [(D, [1, 2, 3])]),
    # Tempo's scoped spellings of the older intrinsics
    ('{span:name = "charge" && span:kind = client && span:duration >= 100ms}', [(D, [2])]),
    ('{trace:rootService = "worker"}', [(E, [1, 7, 8])]),
    ('{trace:rootName = "GET /checkout" && span:statusMessage = ""}', [(D, [1, 2, 3])]),
    ("{trace:duration > 500ms}", [(E, [1, 7, 8])]),
    ("{span:status = unset && span:kind = consumer}", [(E, [1])]),
    # negated structural operators: right-hand spans without the relation (all when the left is empty)
    ('{resource.service.name = "pay"} !> {}', [(E, [1, 7, 8]), (D, [1, 2])]),
    ('{name = "batch"} !> {}', [(E, [1]), (D, [1, 2, 3])]),
    ('{name = "GET /checkout"} !>> {kind = client}', []),
    ('{name = "charge"} !>> {kind = client}', [(D, [2])]),
    ('{name = "db.query"} !< {}', [(E, [1, 7, 8]), (D, [1, 3])]),
    ('{name = "db.query"} !<< {}', [(E, [1, 7, 8]), (D, [3])]),
    ('{name = "flush"} !~ {}', [(E, [1, 7]), (D, [1, 2, 3])]),
    ('{name = "flush"} !~ {name = "compact"}', []),
    # union structural operators: both ends of each relation
    ('{name = "GET /checkout"} &> {kind = client}', [(D, [1, 2])]),
    ('{name = "GET /checkout"} &>> {name = "db.query"}', [(D, [1, 3])]),
    ('{name = "db.query"} &< {}', [(D, [2, 3])]),
    ('{name = "db.query"} &<< {resource.service.name = "shop"}', [(D, [1, 3])]),
    ('{name = "flush"} &~ {}', [(E, [7, 8])]),
    ('{event:name = "exception"} &>> {}', [(E, [1, 7, 8]), (D, [1, 2, 3])]),
    # in pipelines
    ('{event:name != nil} | count() > 1', [(D, [1, 2])]),
    ('{event:name != nil} | count() > 0 | {link:spanID != nil}', [(D, [2])]),
]


@pytest.fixture(params=["memory", "sqlite", "clickhouse"], scope="module")
def reader(request):
    yield from stored_reader(request.param, spans())


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_scoped_search(reader, text: str, expected) -> None:
    assert found(reader, text) == expected


def series(reader, text: str) -> list:
    return [(dict(s.labels), s.samples) for s in reader.traceql_metrics(parse(text), T0, T0 + 3 * S, S)]


def test_histogram_over_time(reader) -> None:
    t = [T0, T0 + S, T0 + 2 * S]
    # durations 50ms, 100ms, 300ms, 1s fall in the buckets of 2^26, 2^27, 2^29, 2^30 ns
    assert series(reader, "{} | histogram_over_time(duration)") == [
        ({"__bucket": 0.067108864}, list(zip(t, [1.0, 1.0, 0.0]))),
        ({"__bucket": 0.134217728}, list(zip(t, [1.0, 1.0, 0.0]))),
        ({"__bucket": 0.536870912}, list(zip(t, [1.0, 0.0, 0.0]))),
        ({"__bucket": 1.073741824}, list(zip(t, [0.0, 1.0, 0.0]))),
    ]
    assert series(reader, "{kind = client} | histogram_over_time(duration) by (span:name)") == [
        ({"span:name": "charge", "__bucket": 0.134217728}, list(zip(t, [1.0, 0.0, 0.0]))),
        ({"span:name": "db.query", "__bucket": 0.067108864}, list(zip(t, [1.0, 0.0, 0.0]))),
    ]


def test_topk_and_bottomk(reader) -> None:
    t = [T0, T0 + S, T0 + 2 * S]
    # counts per step: pay [2, 0, 0], shop [1, 0, 0], worker [0, 3, 0]; ties go to the first series
    assert series(reader, "{} | count_over_time() by (resource.service.name) | topk(1)") == [
        ({"resource.service.name": "pay"}, [(t[0], 2.0), (t[2], 0.0)]),
        ({"resource.service.name": "worker"}, [(t[1], 3.0)]),
    ]
    assert series(reader, "{} | count_over_time() by (resource.service.name) | bottomk(1)") == [
        ({"resource.service.name": "pay"}, [(t[1], 0.0), (t[2], 0.0)]),
        ({"resource.service.name": "worker"}, [(t[0], 0.0)]),
    ]
    assert series(reader, "{} | count_over_time() by (resource.service.name) | topk(5)") == series(
        reader, "{} | count_over_time() by (resource.service.name)")


def instant(reader, text: str, start: int = T0, end: int = T0 + 3 * S) -> list:
    return [(dict(labels), value) for labels, value in reader.traceql_instant(parse(text), start, end)]


def test_instant(reader) -> None:
    assert instant(reader, "{} | rate() by (resource.service.name)") == [
        ({"resource.service.name": "pay"}, 2 / 3), ({"resource.service.name": "shop"}, 1 / 3),
        ({"resource.service.name": "worker"}, 1.0)]
    assert instant(reader, "{kind = client} | count_over_time()") == [({}, 2.0)]
    # 50, 50, 100, 100, 300, 1000 ms: the median is the third
    assert instant(reader, "{} | quantile_over_time(duration, .5, 1)") == [({"p": 0.5}, 0.1), ({"p": 1.0}, 1.0)]
    assert instant(reader, "{} | max_over_time(duration) by (resource.service.name) | topk(2)") == [
        ({"resource.service.name": "shop"}, 0.3), ({"resource.service.name": "worker"}, 1.0)]
    # a window not aligned to anything: only spans starting in [T0 + 15ms, T0 + 1150ms)
    assert instant(reader, "{} | count_over_time()", T0 + 15 * MS, T0 + 1150 * MS) == [({}, 3.0)]
    assert instant(reader, '{event:name = "exception"} | rate()', T0, T0 + 4 * S) == [({}, 0.5)]
    assert instant(reader, '{name = "nothing"} | rate()') == []
    # whole minutes at both ends (T0 is 20 s past a minute): sqlite may read its RED rollup
    assert (T0 - 20 * S) % (60 * S) == 0 and (T0 + 100 * S) % (60 * S) == 0
    assert instant(reader, "{} | count_over_time() by (resource.service.name)", T0 - 20 * S, T0 + 100 * S) == [
        ({"resource.service.name": "pay"}, 2.0), ({"resource.service.name": "shop"}, 1.0),
        ({"resource.service.name": "worker"}, 3.0)]


def test_trace_id_is_a_lookup_within_the_window(reader) -> None:
    q = parse('{ trace:id = "d" && kind = client }')
    got = reader.find_traces_traceql(q, T0 + 15 * MS, T0 + S, 20)
    assert [(m.trace_id, [s.span_id for s in m.spans]) for m in got] == [(D, [3])]
    assert reader.find_traces_traceql(q, T0 + 30 * MS, T0 + S, 20) == []
    got = reader.traceql_metrics(parse('{ trace:id = "d" } | count_over_time()'), T0, T0 + 2 * S, S)
    assert [(s.labels, s.samples) for s in got] == [((), [(T0, 3.0), (T0 + S, 0.0)])]
    cond = parse('{ trace:id = "d" }').spans.cond
    assert reader.traceql_tag_values(cond.field, cond) == [("str", "0" * 31 + "d")]
