from spyglass.codecs.jaeger_common import JaegerRef, build_span, jaeger_log_fields, jaeger_references, jaeger_tags
from spyglass.model import Event, KeyValue, RefType, Resource, SpanKind, StatusCode

R = Resource("svc")


def build(tags: list[KeyValue], refs: list[JaegerRef] | None = None, parent: int = 0, logs: list[Event] | None = None):
    return build_span(trace_id=1, span_id=2, operation_name="op", start_time_ns=0, duration_ns=1, resource=R,
                      tags=tags, logs=logs or [], references=refs or [], parent_span_id=parent)


def test_special_tags_become_fields_and_come_back_in_jaeger_v2_order() -> None:
    span = build([KeyValue("a", 1), KeyValue("span.kind", "server"), KeyValue("error", True),
                  KeyValue("otel.status_description", "boom"), KeyValue("w3c.tracestate", "k=v"),
                  KeyValue("otel.library.name", "lib"), KeyValue("b", "x")])
    assert span.kind is SpanKind.SERVER and span.status.code is StatusCode.ERROR and span.status.message == "boom"
    assert span.trace_state == "k=v" and span.scope.name == "lib"
    assert span.attributes == [KeyValue("a", 1), KeyValue("b", "x")]
    assert [kv.key for kv in jaeger_tags(span)] == [
        "otel.scope.name", "a", "b", "span.kind", "otel.status_code", "error", "otel.status_description",
        "w3c.tracestate"]


def test_unusual_special_tag_values_stay_attributes() -> None:
    span = build([KeyValue("span.kind", "weird"), KeyValue("error", False), KeyValue("span.kind", "client"),
                  KeyValue("span.kind", "server")])
    assert span.kind is SpanKind.CLIENT and span.status.code is StatusCode.UNSET
    assert span.attributes == [KeyValue("span.kind", "weird"), KeyValue("error", False), KeyValue("span.kind", "server")]


def test_parent_is_first_same_trace_child_of_and_other_refs_are_links() -> None:
    refs = [JaegerRef(RefType.FOLLOWS_FROM, 1, 7), JaegerRef(RefType.CHILD_OF, 9, 8), JaegerRef(RefType.CHILD_OF, 1, 3),
            JaegerRef(RefType.CHILD_OF, 1, 4)]
    span = build([], refs)
    assert span.parent_span_id == 3
    assert [(l.ref_type, l.trace_id, l.span_id) for l in span.links] == [
        (RefType.FOLLOWS_FROM, 1, 7), (RefType.CHILD_OF, 9, 8), (RefType.CHILD_OF, 1, 4)]
    assert jaeger_references(span)[0] == JaegerRef(RefType.CHILD_OF, 1, 3)


def test_thrift_parent_span_id_is_not_repeated_as_a_link() -> None:
    span = build([], [JaegerRef(RefType.CHILD_OF, 1, 3)], parent=3)
    assert span.parent_span_id == 3 and span.links == []


def test_log_event_field_is_the_event_name_and_not_duplicated() -> None:
    span = build([], logs=[Event(5, "", [KeyValue("event", "retry"), KeyValue("n", 1)])])
    assert span.events[0].name == "retry" and span.events[0].attributes == [KeyValue("n", 1)]
    assert jaeger_log_fields(span.events[0]) == [KeyValue("event", "retry"), KeyValue("n", 1)]
    both = Event(5, "named", [KeyValue("event", "own")])
    assert jaeger_log_fields(both) == [KeyValue("event", "own")]
