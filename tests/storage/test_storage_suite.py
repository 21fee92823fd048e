"""The storage contract, run against every backend in ``support.storage_backends``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from spyglass.model import Event, KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.storage.api import Operation, StorageFactory, TraceQuery
from support import storage_backends

S = 1_000_000_000
T0 = 1_700_000_000 * S


@pytest.fixture(params=sorted(storage_backends()))
def store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[StorageFactory]:
    factory = storage_backends()[request.param](tmp_path)
    yield factory
    factory.close()


def span(trace: int, sid: int, *, svc: str = "api", op: str = "GET /", start: int = T0, dur: int = S,
         parent: int = 0, kind: SpanKind = SpanKind.SERVER, attrs: list[KeyValue] | None = None,
         res_attrs: list[KeyValue] | None = None, events: list[Event] | None = None,
         status: Status = Status()) -> Span:
    return Span(trace, sid, op, start, dur, Resource(svc, res_attrs or []), parent_span_id=parent, kind=kind,
                attributes=attrs or [], events=events or [], status=status)


def write(store: StorageFactory, *spans: Span) -> None:
    store.span_writer().write_spans(list(spans))


def test_get_trace_returns_every_span_including_duplicates(store: StorageFactory) -> None:
    write(store, span(1, 1), span(1, 2, parent=1), span(1, 2, parent=1), span(2, 9))
    got = store.trace_reader().get_trace(1)
    assert sorted(s.span_id for s in got) == [1, 2, 2]
    assert store.trace_reader().get_trace(3) == []


def test_readers_get_copies(store: StorageFactory) -> None:
    write(store, span(1, 1, attrs=[KeyValue("a", 1)]))
    first = store.trace_reader().get_trace(1)
    first[0].attributes.clear()
    first[0].resource.attributes.append(KeyValue("x", 1))
    again = store.trace_reader().get_trace(1)[0]
    assert again.attributes == [KeyValue("a", 1)] and again.resource.attributes == []


def test_every_field_round_trips(store: StorageFactory) -> None:
    full = span(5, 6, attrs=[KeyValue("s", "x"), KeyValue("b", True), KeyValue("i", -3), KeyValue("f", 1.5),
                             KeyValue("bin", b"\x00\x01"), KeyValue("arr", [1, "a"]), KeyValue("map", {"k": 2})],
                events=[Event(T0 + 5, "ev", [KeyValue("f", 1)])], status=Status(StatusCode.ERROR, "boom"))
    write(store, full)
    assert store.trace_reader().get_trace(5) == [full]


def test_services_and_operations(store: StorageFactory) -> None:
    write(store, span(1, 1, svc="b", op="x", kind=SpanKind.CLIENT), span(1, 2, svc="a", op="y"),
          span(1, 3, svc="a", op="z", kind=SpanKind.UNSPECIFIED), span(2, 1, svc="a", op="y"))
    reader = store.trace_reader()
    assert reader.get_services() == ["a", "b"]
    assert reader.get_operations("a") == [Operation("y", "server"), Operation("z", "")]
    assert reader.get_operations("a", "server") == [Operation("y", "server")]
    assert reader.get_operations("nope") == []


def ids(store: StorageFactory, **query: object) -> list[int]:
    return store.trace_reader().find_trace_ids(TraceQuery(**query))  # type: ignore[arg-type]


def test_find_by_service_operation_duration_and_window(store: StorageFactory) -> None:
    write(store,
          span(1, 1, svc="a", op="get", dur=5 * S, start=T0),
          span(2, 1, svc="a", op="put", dur=1 * S, start=T0 + 10 * S),
          span(3, 1, svc="b", op="get", dur=5 * S, start=T0 + 20 * S))
    assert ids(store, service_name="a") == [2, 1]
    assert ids(store, service_name="a", operation_name="get") == [1]
    assert ids(store, service_name="a", duration_min_ns=2 * S) == [1]
    assert ids(store, service_name="a", duration_max_ns=2 * S) == [2]
    assert ids(store, service_name="a", start_time_min_ns=T0 + 1, start_time_max_ns=T0 + 10 * S) == [2]
    assert ids(store, service_name="zzz") == []


def test_limit_keeps_the_newest_traces(store: StorageFactory) -> None:
    write(store, *[span(t, 1, start=T0 + t * S) for t in range(1, 11)])
    assert ids(store, service_name="api", num_traces=3) == [10, 9, 8]


def test_tags_match_span_resource_and_event_fields_on_one_span(store: StorageFactory) -> None:
    write(store,
          span(1, 1, attrs=[KeyValue("http.status_code", 500)], res_attrs=[KeyValue("region", "eu")]),
          span(2, 1, events=[Event(T0, "", [KeyValue("http.status_code", 500), KeyValue("region", "eu")])]),
          span(3, 1, attrs=[KeyValue("http.status_code", 500)]),
          span(3, 2, res_attrs=[KeyValue("region", "eu")]))
    both = {"http.status_code": "500", "region": "eu"}
    assert sorted(ids(store, service_name="api", attributes=both)) == [1, 2]
    assert sorted(ids(store, service_name="api", attributes={"http.status_code": "500"})) == [1, 2, 3]


def test_tag_string_forms_and_error_status(store: StorageFactory) -> None:
    write(store,
          span(1, 1, attrs=[KeyValue("ok", True), KeyValue("ratio", 72.5)]),
          span(2, 1, status=Status(StatusCode.ERROR, "bad")))
    assert ids(store, service_name="api", attributes={"ok": "true", "ratio": "72.5"}) == [1]
    assert ids(store, service_name="api", attributes={"error": "true"}) == [2]
    assert ids(store, service_name="api", attributes={"span.kind": "server", "error": "true"}) == [2]


def test_search_without_service_when_tags_are_given(store: StorageFactory) -> None:
    write(store,
          span(1, 1, svc="cross-service-a", attrs=[KeyValue("rfc0013.cross.service", "yes")]),
          span(2, 1, svc="cross-service-b", attrs=[KeyValue("rfc0013.cross.service", "yes")]),
          span(3, 1, svc="other"))
    assert sorted(ids(store, attributes={"rfc0013.cross.service": "yes"})) == [1, 2]


def test_find_traces_returns_whole_traces(store: StorageFactory) -> None:
    write(store, span(1, 1, svc="a"), span(1, 2, svc="b", parent=1))
    traces = store.trace_reader().find_traces(TraceQuery(service_name="b"))
    assert [sorted(s.span_id for s in t) for t in traces] == [[1, 2]]


def test_dependencies_count_calls_between_services(store: StorageFactory) -> None:
    write(store,
          span(1, 1, svc="front"), span(1, 2, svc="back", parent=1), span(1, 3, svc="back", parent=1),
          span(1, 4, svc="back", parent=2),  # same service: not a dependency
          span(2, 1, svc="back"), span(2, 2, svc="db", parent=1),
          span(3, 1, svc="old", start=T0 - 10_000 * S), span(3, 2, svc="older", parent=1, start=T0 - 10_000 * S))
    deps = store.dependency_reader().get_dependencies(T0 + 60 * S, 3600 * S)
    assert [(d.parent, d.child, d.call_count) for d in deps] == [("back", "db", 1), ("front", "back", 2)]


def test_dependencies_add_uninstrumented_peers(store: StorageFactory) -> None:
    """A client (or producer) span with no child and a ``peer.service`` is a call to that
    peer (Jaeger's spark-dependencies rule), so untraced services show on the graph."""
    C, P = SpanKind.CLIENT, SpanKind.PRODUCER

    def peer(name: object) -> list[KeyValue]:
        return [KeyValue("peer.service", name)]

    write(store,
          span(1, 1, svc="front"),
          span(1, 2, svc="front", parent=1, kind=C, attrs=peer("stripe")),  # leaf: front -> stripe
          span(1, 3, svc="front", parent=1, kind=C, attrs=peer("stripe")),  # a second call
          span(1, 4, svc="front", parent=1, kind=C, attrs=peer("back")),    # has a traced child:
          span(1, 5, svc="back", parent=4),                                 # front -> back once
          span(1, 6, svc="back", parent=5, kind=P, attrs=peer("kafka")),    # producer leaf: back -> kafka
          span(2, 1, svc="back"),
          span(2, 6, svc="back", parent=1, kind=C, attrs=peer("postgres")),
          span(5, 1, svc="cron", kind=C, attrs=peer("postgres")),           # a root leaf counts too
          span(2, 2, svc="back", parent=1, kind=SpanKind.INTERNAL, attrs=peer("ignored")),  # not a client
          span(2, 3, svc="back", parent=1, kind=C, attrs=peer("back")),     # itself: not a dependency
          span(2, 4, svc="back", parent=1, kind=C, attrs=peer(7)),          # not a string
          span(2, 5, svc="back", parent=1, kind=C, attrs=peer("")),
          span(3, 1, svc="zc", kind=C, attrs=peer("zs")),                   # Zipkin shared span: the
          span(3, 1, svc="zs", kind=SpanKind.SERVER),                       # server half is its child
          span(4, 1, svc="old", kind=C, attrs=peer("gone"), start=T0 - 10_000 * S))
    deps = store.dependency_reader().get_dependencies(T0 + 60 * S, 3600 * S)
    assert [(d.parent, d.child, d.call_count) for d in deps] == [
        ("back", "kafka", 1), ("back", "postgres", 1), ("cron", "postgres", 1), ("front", "back", 1),
        ("front", "stripe", 2)]


def test_large_trace_comes_back_whole(store: StorageFactory) -> None:
    write(store, *[span(7, i + 1, start=T0 + i * S) for i in range(10_008)])
    assert len(store.trace_reader().get_trace(7)) == 10_008


def test_two_tenants_are_kept_apart(store: StorageFactory) -> None:
    """Multi-tenancy: the same trace ID, services and operations written for two tenants
    through the routing writer; each tenant's readers see only their own, and the root
    store (tenant "") sees neither."""
    from spyglass.storage.api import ArchiveCapable
    from spyglass.storage.api.tenants import TenantRoutingWriter, for_tenant

    def tenant_span(tenant: str, *args: object, **kwargs: object) -> Span:
        s = span(*args, **kwargs)  # type: ignore[arg-type]
        s.tenant = tenant
        return s

    TenantRoutingWriter(store).write_spans([
        tenant_span("a", 1, 1, svc="front-a", op="get-a"),
        tenant_span("b", 1, 1, svc="front-b", op="get-b"),
        tenant_span("a", 1, 2, svc="back-a", op="db-a", parent=1, kind=SpanKind.CLIENT),
        tenant_span("b", 2, 1, svc="front-b", op="put-b", start=T0 + S),
    ])
    a, b = for_tenant(store, "a"), for_tenant(store, "b")
    assert sorted(s.span_id for s in a.trace_reader().get_trace(1)) == [1, 2]
    assert {s.service_name for s in a.trace_reader().get_trace(1)} == {"front-a", "back-a"}
    assert [s.service_name for s in b.trace_reader().get_trace(1)] == ["front-b"]
    assert a.trace_reader().get_trace(2) == []
    assert a.trace_reader().get_services() == ["back-a", "front-a"]
    assert b.trace_reader().get_services() == ["front-b"]
    assert store.trace_reader().get_services() == [] and store.trace_reader().get_trace(1) == []
    assert a.trace_reader().get_operations("front-b") == []
    assert b.trace_reader().get_operations("front-b") == [Operation("get-b", "server"), Operation("put-b", "server")]
    assert a.trace_reader().find_trace_ids(TraceQuery(service_name="front-b")) == []
    assert b.trace_reader().find_trace_ids(TraceQuery(service_name="front-b")) == [2, 1]
    assert a.trace_reader().find_trace_ids(TraceQuery(attributes={"span.kind": "server"})) == [1]
    found = b.trace_reader().find_traces(TraceQuery(service_name="front-b"))
    assert {s.service_name for trace in found for s in trace} == {"front-b"}
    deps_a = a.dependency_reader().get_dependencies(T0 + 3600 * S, 7200 * S)
    assert [(d.parent, d.child) for d in deps_a] == [("front-a", "back-a")]
    assert b.dependency_reader().get_dependencies(T0 + 3600 * S, 7200 * S) == []
    if isinstance(a, ArchiveCapable) and isinstance(b, ArchiveCapable):
        a.archive_writer().write_spans(a.trace_reader().get_trace(1))
        assert len(a.archive_reader().get_trace(1)) == 2
        assert b.archive_reader().get_trace(1) == []
