"""The tracer against the OpenTracing API harness, plus Jaeger-specific behaviour:
parents, references, sampler tags, debug IDs, sampling priority, baggage, close."""

from __future__ import annotations

import opentracing
import pytest
from opentracing import Format, child_of, follows_from
from opentracing.ext import tags as ext_tags
from opentracing.harness.api_check import APICompatibilityCheckMixin

from spyglass.client import (
    ConstSampler,
    ContextVarsScopeManager,
    InMemoryReporter,
    ProbabilisticSampler,
    SnowflakeIdGenerator,
    SpanContext,
    Tracer,
)
from spyglass.client.reporting.convert import to_model
from spyglass.model import RefType, SpanKind, StatusCode


def make_tracer(sampled: bool = True, **kwargs) -> tuple[Tracer, InMemoryReporter]:
    reporter = InMemoryReporter()
    return Tracer("svc", reporter, ConstSampler(sampled), **kwargs), reporter


class TestOpenTracingAPI(APICompatibilityCheckMixin):
    """The opentracing package's own conformance suite."""

    def tracer(self) -> Tracer:
        return make_tracer()[0]

    def check_baggage_values(self) -> bool:
        return True

    def check_scope_manager(self) -> bool:
        return True

    def is_parent(self, parent, span) -> bool:
        if parent is None:
            return span.parent_id == 0
        return span.parent_id == parent.span_id and span.trace_id == parent.trace_id


def test_root_span_gets_sampler_tags_children_do_not():
    tracer, reporter = make_tracer()
    with tracer.start_active_span("root") as scope:
        tracer.start_span("child").finish()
    root, child = reporter.spans[1], reporter.spans[0]
    assert ("sampler.type", "const") in root.tags and ("sampler.param", True) in root.tags
    assert child.tags == []
    assert child.parent_id == root.span_id == scope.span.span_id
    assert child.trace_id == root.trace_id
    assert root.span_id == root.trace_id & ((1 << 64) - 1)


def test_probabilistic_tags_and_decision_follow_trace_id():
    tracer = Tracer("svc", InMemoryReporter(), ProbabilisticSampler(0.5))
    spans = [tracer.start_span("op") for _ in range(2000)]
    sampled = [s for s in spans if s.sampled]
    assert 800 < len(sampled) < 1200
    for s in spans:
        assert bool(s.sampled) == ((s.trace_id & ((1 << 64) - 1)) < (1 << 63))
    assert ("sampler.type", "probabilistic") in sampled[0].tags and ("sampler.param", 0.5) in sampled[0].tags


def test_unsampled_spans_record_nothing_and_are_not_reported():
    tracer, reporter = make_tracer(sampled=False)
    span = tracer.start_span("op", tags={"a": 1})
    span.set_tag("b", 2).log_kv({"event": "x"})
    span.finish()
    assert span.tags == [] and span.logs is None and reporter.spans == []
    child = tracer.start_span("c", child_of=span)
    assert not child.sampled and child.trace_id == span.trace_id


def test_sampling_priority_forces_and_forbids():
    tracer, reporter = make_tracer(sampled=False)
    span = tracer.start_span("op")
    span.set_tag(ext_tags.SAMPLING_PRIORITY, 1)
    assert span.sampled and span.is_debug() and span.context.flags == 3
    span.finish()
    assert reporter.spans == [span]
    tracer2, reporter2 = make_tracer(sampled=True)
    off = tracer2.start_span("op", tags={ext_tags.SAMPLING_PRIORITY: 0})
    off.finish()
    assert not off.sampled and reporter2.spans == []


def test_debug_id_starts_forced_trace():
    tracer, reporter = make_tracer(sampled=False)
    ctx = tracer.extract(Format.HTTP_HEADERS, {"jaeger-debug-id": "req-42"})
    assert ctx.is_debug_id_container_only
    span = tracer.start_span("op", child_of=ctx)
    assert span.flags == 3 and span.parent_id == 0
    assert ("jaeger-debug-id", "req-42") in span.tags


def test_baggage_is_inherited_and_copy_on_write():
    tracer, _ = make_tracer()
    parent = tracer.start_span("p").set_baggage_item("user", "alice")
    child = tracer.start_span("c", child_of=parent)
    child.set_baggage_item("user", "bob")
    assert parent.get_baggage_item("user") == "alice"
    assert child.get_baggage_item("user") == "bob"
    assert parent.logs and dict(parent.logs[0][1])["event"] == "baggage"
    baggage_only = tracer.extract(Format.HTTP_HEADERS, {"jaeger-baggage": "k=v"})
    root = tracer.start_span("r", child_of=baggage_only)
    assert root.parent_id == 0 and root.get_baggage_item("k") == "v"


def test_references_follows_from_and_extra_links():
    tracer, _ = make_tracer()
    a, b = tracer.start_span("a"), tracer.start_span("b")
    span = tracer.start_span("c", references=[follows_from(a.context), child_of(b.context)])
    assert span.parent_id == b.span_id and span.trace_id == b.trace_id
    span.finish()
    model = to_model(span, tracer.process)
    assert model.parent_span_id == b.span_id
    assert [(l.ref_type, l.span_id) for l in model.links] == [(RefType.FOLLOWS_FROM, a.span_id)]
    only_follows = tracer.start_span("d", references=[follows_from(a.context)])
    assert only_follows.parent_id == a.span_id


def test_model_conversion_maps_kind_error_and_logs():
    tracer, _ = make_tracer(max_tag_value_length=7)
    try:
        with tracer.start_span("op", tags={ext_tags.SPAN_KIND: "server", "long": "abcdefgh"}) as span:
            raise KeyError("boom")
    except KeyError:
        pass
    model = to_model(span, tracer.process, tracer.max_tag_value_length)
    assert model.kind is SpanKind.SERVER
    assert model.status.code is StatusCode.ERROR
    attrs = dict(model.attributes)
    assert attrs["long"] == "abcdefg" and attrs["sampler.type"] == "const"
    event = model.events[0]
    fields = dict(event.attributes)
    assert event.name == "error" and fields["error.kind"] == "KeyError"
    assert isinstance(fields["stack"], str)
    assert model.resource.service_name == "svc" and dict(model.resource.attributes)["jaeger.version"].startswith("Python")


def test_128bit_and_snowflake_ids():
    tracer, _ = make_tracer(generate_128bit_trace_id=True)
    assert any(tracer.start_span("x").trace_id >> 64 for _ in range(5))
    gen = SnowflakeIdGenerator(worker_id=7)
    tracer2, _ = make_tracer(id_generator=gen)
    ids = [tracer2.start_span("x").trace_id for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == 5000
    assert all(i >> 64 for i in ids)
    assert ((ids[0] >> 64) >> 12) & 1023 == 7


def test_snowflake_is_time_ordered_across_milliseconds_and_bursts():
    gen = SnowflakeIdGenerator(worker_id=1)
    first = gen.new_trace_id()
    burst = [gen.next_snowflake() for _ in range(10_000)]  # > 4096 per ms: borrows time, never waits
    assert burst == sorted(burst) and len(set(burst)) == len(burst)
    import time
    now_ms = time.time_ns() // 1_000_000
    assert abs(gen.timestamp_ms(first) - now_ms) < 5_000
    with pytest.raises(ValueError):
        SnowflakeIdGenerator(worker_id=1024)


def test_inject_extract_formats_and_errors():
    tracer, _ = make_tracer()
    span = tracer.start_span("op").set_baggage_item("k", "v w")
    for fmt, carrier in ((Format.TEXT_MAP, {}), (Format.HTTP_HEADERS, {}), (Format.BINARY, bytearray())):
        tracer.inject(span.context, fmt, carrier)
        got = tracer.extract(fmt, carrier)
        assert (got.trace_id, got.span_id, got.flags, dict(got.baggage)) == (span.trace_id, span.span_id, 1, {"k": "v w"})
    headers: dict = {}
    tracer.inject(span, Format.HTTP_HEADERS, headers)  # a Span is accepted too
    assert headers["uberctx-k"] == "v%20w"
    with pytest.raises(opentracing.UnsupportedFormatException):
        tracer.extract("nope", {})
    with pytest.raises(opentracing.InvalidCarrierException):
        tracer.extract(Format.HTTP_HEADERS, "uber-trace-id")
    assert tracer.extract(Format.HTTP_HEADERS, {"uber-trace-id": "garbage"}) is None
    assert tracer.extract(Format.BINARY, b"\x00\x01") is None


def test_close_flushes_and_returns_done_future():
    tracer, reporter = make_tracer()
    tracer.start_span("x").finish()
    fut = tracer.close()
    assert fut.done() and fut.result() is None
    assert len(reporter.spans) == 1


def test_default_scope_manager_is_contextvars():
    tracer, _ = make_tracer()
    assert isinstance(tracer.scope_manager, ContextVarsScopeManager)
    assert isinstance(tracer.start_span("x").context, SpanContext)
