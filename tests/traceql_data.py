"""Random traces and random queries for the query-language property tests."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator

from hypothesis import strategies as st

import clickhouse_servers
from spyglass.model import EMPTY_SCOPE, Event, KeyValue, Link, Resource, Scope, Span, SpanKind, Status, StatusCode
from spyglass.storage.clickhouse.config import ClickHouseConfig
from spyglass.storage.clickhouse.factory import ClickHouseFactory
from spyglass.storage.memory import MemoryFactory
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory
from spyglass.traceql import parse

S = 1_000_000_000
T0 = 1_700_000_000 * S
SERVICES = ["front", "api", "db"]
NAMES = ["GET", "POST", "db.query"]
EVENT_NAMES = ["exception", "log"]


def random_traces(seed: int, count: int = 25) -> list[Span]:
    """``count`` traces of 1-7 spans over 10 minutes: every kind and status, integer, string,
    bool and float attributes (sometimes absent), resource attributes, orphans, events, links
    and instrumentation scopes. Start times are distinct so the newest-first order is
    unambiguous."""
    rng = random.Random(seed)
    resources = [Resource(s, [KeyValue("host", h)] if h else []) for s in SERVICES for h in ("a", "b", "")]
    scopes = [EMPTY_SCOPE, Scope("net/http", "1.0"), Scope("sqlx", "0.7", [KeyValue("lib", "a")])]
    starts = rng.sample(range(0, 600 * S, 1000), count * 8)
    out: list[Span] = []
    for t in range(1, count + 1):
        trace_id = (rng.getrandbits(64) << 64 | t) if rng.random() < 0.5 else t
        spans: list[Span] = []
        for sid in range(1, rng.randint(1, 7) + 1):
            parent = spans[rng.randrange(len(spans))] if spans and rng.random() < 0.9 else None
            attrs = []
            if rng.random() < 0.6:
                attrs.append(KeyValue("http.status_code", rng.choice([200, 404, 500, 503])))
            if rng.random() < 0.4:
                attrs.append(KeyValue("user", rng.choice(["ann", "bob", "cy"])))
            if rng.random() < 0.3:
                attrs.append(KeyValue("flag", rng.random() < 0.5))
            if rng.random() < 0.3:
                attrs.append(KeyValue("ratio", rng.choice([0.25, 0.5, 1.5])))
            if rng.random() < 0.1:
                attrs.append(KeyValue("host", "a"))  # shadows the resource's for ``.host``
            start = T0 + starts.pop()
            events = [Event(start + rng.choice([0, 1000, 10**6, 10**8]), rng.choice(EVENT_NAMES),
                            [KeyValue("exception.message", rng.choice(["timeout", "refused"]))] if rng.random() < 0.5
                            else [KeyValue("attempt", rng.choice([1, 2]))] if rng.random() < 0.5 else [])
                      for _ in range(rng.choice([0, 0, 1, 2]))]
            links = [Link(rng.choice([1, 2, 3]), rng.choice([101, 102]),
                          attributes=[KeyValue("reason", "batch")] if rng.random() < 0.5 else [])
                     for _ in range(rng.choice([0, 0, 0, 1]))]
            spans.append(Span(
                trace_id, t * 100 + sid, rng.choice(NAMES), start, int(10 ** rng.uniform(4, 10)),
                rng.choice(resources), parent_span_id=parent.span_id if parent else (0 if rng.random() < 0.8 else 77),
                kind=rng.choice(list(SpanKind)),
                status=Status(rng.choice(list(StatusCode)), "boom" if rng.random() < 0.3 else ""),
                attributes=attrs, events=events, links=links, scope=rng.choice(scopes)))
        out += spans
    rng.shuffle(out)
    return out


_OPS = ["=", "!=", ">", ">=", "<", "<="]
_EQ = ["=", "!="]


def _durations() -> st.SearchStrategy[str]:
    return st.sampled_from(["10us", "1ms", "50ms", "1s", "3.5s"])


def comparisons() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda op, v: f'name {op} "{v}"', st.sampled_from(_OPS + ["=~", "!~"]), st.sampled_from(NAMES + ["G.*", "db\\\\..*"])),
        st.builds(lambda op, v: f"status {op} {v}", st.sampled_from(_EQ), st.sampled_from(["ok", "error", "unset"])),
        st.builds(lambda op, v: f"kind {op} {v}", st.sampled_from(_EQ),
                  st.sampled_from(["server", "client", "producer", "consumer", "internal", "unspecified"])),
        st.builds(lambda op, v: f"duration {op} {v}", st.sampled_from(_OPS), _durations()),
        st.builds(lambda sc, op, v: f'{sc}service.name {op} "{v}"', st.sampled_from(["resource.", "."]),
                  st.sampled_from(_OPS + ["=~", "!~"]), st.sampled_from(SERVICES + ["f.*"])),
        st.builds(lambda op: f"resource.service.name {op} nil", st.sampled_from(_EQ)),
        st.builds(lambda sc, op, v: f"{sc}http.status_code {op} {v}", st.sampled_from(["span.", "."]),
                  st.sampled_from(_OPS), st.sampled_from(["200", "500", "404.0", '"500"'])),
        st.builds(lambda sc, op, v: f'{sc}user {op} "{v}"', st.sampled_from(["span.", "."]),
                  st.sampled_from(_OPS + ["=~"]), st.sampled_from(["ann", "bob", "b.*"])),
        st.builds(lambda sc, op: f"{sc}host {op} \"a\"", st.sampled_from(["span.", "resource.", "."]), st.sampled_from(_EQ)),
        st.builds(lambda sc, op: f"{sc} {op} nil", st.sampled_from(["span.flag", ".host", "resource.host", ".ratio"]),
                  st.sampled_from(_EQ)),
        st.builds(lambda op, v: f"span.flag {op} {v}", st.sampled_from(_EQ), st.sampled_from(["true", "false"])),
        st.builds(lambda op, v: f"span.ratio {op} {v}", st.sampled_from(_OPS), st.sampled_from(["0.5", "1", "1.5"])),
        st.builds(lambda op, v: f'statusMessage {op} "{v}"', st.sampled_from(_EQ), st.just("boom")),
        st.builds(lambda op, v: f'rootServiceName {op} "{v}"', st.sampled_from(_EQ), st.sampled_from(SERVICES)),
        st.builds(lambda op, v: f"traceDuration {op} {v}", st.sampled_from(_OPS), _durations()),
        st.builds(lambda op, v: f'rootName {op} "{v}"', st.sampled_from(_EQ), st.sampled_from(NAMES)),
        # Tempo's scopes and scoped intrinsics
        st.builds(lambda op, v: f'event.exception.message {op} "{v}"', st.sampled_from(_EQ + ["=~", "!~"]),
                  st.sampled_from(["timeout", "t.*"])),
        st.builds(lambda op, v: f"event.attempt {op} {v}", st.sampled_from(_OPS), st.sampled_from(["1", "2"])),
        st.builds(lambda op, v: f"event:name {op} {v}", st.sampled_from(_EQ),
                  st.sampled_from(['"exception"', '"log"', "nil"])),
        st.builds(lambda op, v: f"event:timeSinceStart {op} {v}", st.sampled_from(_OPS), st.sampled_from(["1us", "1ms"])),
        st.builds(lambda op, v: f"link.reason {op} {v}", st.sampled_from(_EQ), st.sampled_from(['"batch"', "nil"])),
        st.builds(lambda f, op, v: f"{f} {op} {v}", st.sampled_from(["link:traceID", "link:spanID"]), st.sampled_from(_EQ),
                  st.sampled_from(['"1"', '"65"', "nil"])),
        st.builds(lambda op, v: f"instrumentation:name {op} {v}", st.sampled_from(_EQ + ["=~"]),
                  st.sampled_from(['"sqlx"', '""', '"net.*"'])),
        st.builds(lambda op, v: f"instrumentation:version {op} {v}", st.sampled_from(_EQ), st.sampled_from(['"0.7"', '""'])),
        st.builds(lambda op: f'instrumentation.lib {op} "a"', st.sampled_from(_EQ)),
        st.builds(lambda op, v: f"span:id {op} {v}", st.sampled_from(_EQ), st.sampled_from(['"65"', '"101"', '"0000000000000066"'])),
        st.builds(lambda op, v: f"span:parentID {op} {v}", st.sampled_from(_EQ), st.sampled_from(['"65"', "nil"])),
        st.builds(lambda op, v: f"trace:id {op} {v}", st.sampled_from(_EQ), st.sampled_from(['"1"', '"2"', '"3"'])),
        st.builds(lambda op: f'trace:id {op} "0+[12]"', st.sampled_from(["=~", "!~"])),
        st.builds(lambda f, op, v: f'{f} {op} "{v}"', st.sampled_from(["span:name", "trace:rootName"]),
                  st.sampled_from(_EQ), st.sampled_from(NAMES)),
        st.builds(lambda op, v: f"span:status {op} {v}", st.sampled_from(_EQ), st.sampled_from(["ok", "error"])),
        st.builds(lambda f, op, v: f"{f} {op} {v}", st.sampled_from(["span:duration", "trace:duration"]),
                  st.sampled_from(_OPS), _durations()),
    )


def conditions() -> st.SearchStrategy[str]:
    return st.recursive(comparisons(), lambda inner: st.builds(
        lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["&&", "||"]), inner), max_leaves=3)


def spansets() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.just("{ }"), conditions().map(lambda c: "{ " + c + " }"))
    return st.recursive(leaf, lambda inner: st.builds(
        lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["&&", "||", ">", ">>", "<", "<<", "~", "!>", "!>>",
                                                                      "!<", "!<<", "!~", "&>", "&>>", "&<", "&<<", "&~"]),
        inner),
        max_leaves=3)


def stages() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda op, n: f"count() {op} {n}", st.sampled_from(_OPS), st.integers(0, 4)),
        st.builds(lambda f, op, v: f"{f}(duration) {op} {v}", st.sampled_from(["avg", "min", "max", "sum"]),
                  st.sampled_from(_OPS), _durations()),
        st.builds(lambda op, v: f"avg(span.http.status_code) {op} {v}", st.sampled_from(_OPS), st.sampled_from(["300", "450.5"])),
        conditions().map(lambda c: "{ " + c + " }"),
        st.just("select(span.user, resource.host)"),
    )


def searches() -> st.SearchStrategy[str]:
    return st.builds(lambda s, ps: " | ".join([s, *ps]), spansets(), st.lists(stages(), max_size=2))


def metrics_queries() -> st.SearchStrategy[str]:
    fn = st.sampled_from(["rate()", "count_over_time()", "quantile_over_time(duration, .5, .9)",
                          "max_over_time(duration)", "avg_over_time(span.http.status_code)",
                          "histogram_over_time(duration)", "histogram_over_time(span.ratio)"])
    by = st.sampled_from(["", " by (resource.service.name)", " by (name, kind)", " by (span.user)", " by (status)",
                          " by (.host)", " by (rootName)", " by (span:kind, instrumentation:name)",
                          " by (trace:rootService)"])
    head = st.one_of(conditions().map(lambda c: "{ " + c + " }"), st.just("{ }"), spansets())
    top = st.sampled_from(["", "", " | topk(2)", " | bottomk(1)"])
    return st.builds(lambda h, f, b, t: f"{h} | {f}{b}{t}", head, fn, by, top)


def windows() -> st.SearchStrategy[tuple[int, int]]:
    return st.one_of(st.just((0, 0)), st.builds(lambda a, b: (T0 + min(a, b) * S, T0 + max(a, b) * S),
                                                 st.integers(0, 600), st.integers(0, 600)))


def make_factory(name: str, root: str):
    """A new, empty store of backend ``name`` (sqlite under ``root``)."""
    if name == "memory":
        return MemoryFactory()
    if name == "sqlite":
        return SqliteFactory(SqliteConfig(data_dir=root))
    return ClickHouseFactory(ClickHouseConfig(addresses=clickhouse_servers.single_node().address,
                                              database=clickhouse_servers.fresh_database(), retention="0"))


def stored_reader(backend: str, spans: list[Span]) -> Iterator:
    """A trace reader over ``spans`` written to a fresh store of ``backend``: the body of the
    hand-computed tests' module fixtures."""
    factory = make_factory(backend, tempfile.mkdtemp())
    factory.span_writer().write_spans(spans)
    yield factory.trace_reader()
    factory.close()


def found(reader, text: str, start: int = 0, end: int = 0, limit: int = 20) -> list[tuple[int, list[int]]]:
    """(trace ID, matched span IDs) of each trace a TraceQL search finds."""
    return [(m.trace_id, [s.span_id for s in m.spans]) for m in reader.find_traces_traceql(parse(text), start, end, limit)]
