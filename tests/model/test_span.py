from spyglass.model import Event, KeyValue, Link, Resource, Scope, Span


def make_span() -> Span:
    return Span(
        trace_id=1,
        span_id=2,
        name="op",
        start_time_ns=10,
        duration_ns=5,
        resource=Resource("svc", [KeyValue("host", "h")]),
        attributes=[KeyValue("k", "v")],
        events=[Event(11, "e", [KeyValue("f", 1)])],
        links=[Link(3, 4, attributes=[KeyValue("l", True)])],
        scope=Scope("lib", "1.0", [KeyValue("s", 1)]),
    )


def test_clone_is_equal_but_independent() -> None:
    span = make_span()
    copy = span.clone()
    assert copy == span
    copy.attributes.append(KeyValue("new", 1))
    copy.events[0].attributes.clear()
    copy.links[0].attributes.clear()
    copy.resource.attributes.clear()
    copy.warnings.append("w")
    assert span == make_span()


def test_end_time_and_service() -> None:
    span = make_span()
    assert span.end_time_ns == 15
    assert span.service_name == "svc"
