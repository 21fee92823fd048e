"""Narrowing candidate traces by every required side of a query, and fetching them in batches:
the backends' answers still equal the memory backend's (the evaluator over every span).

* ClickHouse turns an ordered comparison with a number into "the pair's text parses to a
  number in a slightly widened range"; values whose text is rounded (floats to 10 digits,
  ints past 2^53) or odd (infinity, -0, exponents) must never be lost.
* A structural search narrows by both sides in one statement; only in-window spans count.
* A search that must look at hundreds of candidate traces fetches them in several batches
  (sqlite: one trace-index statement per batch), oldest match still found, order kept.
"""

from __future__ import annotations

import pytest

from spyglass.model import Event, KeyValue, Resource, Span, SpanKind
from spyglass.traceql import ast, parse
from spyglass.traceql.evaluate import required
from traceql_data import S, T0, found

AWKWARD = [500, 499, 501, 1e20, 123456789.123456789, 0.1 + 0.2, 0.3, -0.0, 0, -12.5, 9007199254740993,
           2**62, -(2**63), 1e-7, 1.0000000001e-7, 2.5e-308, float("inf"), float("-inf"), float("nan"),
           "500", True]
LITERALS = ["500", "499.9999999999", "500.0000000001", "1e20", "100000000000000000000.5", "123456789.1234568",
            "0.3", "0", "-12.5", "9007199254740992", "4611686018427387904", "0.0000001", "0.00000010000000001"]


def _numeric_traces() -> list[Span]:
    spans = []
    for i, value in enumerate(AWKWARD):
        trace = 1000 + i
        start = T0 + i * S
        spans.append(Span(trace, 1, "op", start, 1000, Resource("svc"), attributes=[KeyValue("v", value)]))
        spans.append(Span(trace, 2, "op", start + 1, 1000, Resource("svc"), parent_span_id=1,
                          events=[Event(start + 2, "log", [KeyValue("v", value)])]))
    return spans


@pytest.fixture(scope="module")
def numeric_pair(request):
    """Memory and ClickHouse readers over the same awkward values."""
    import tempfile

    from traceql_data import make_factory
    spans = _numeric_traces()
    factories = [make_factory(name, tempfile.mkdtemp()) for name in ("memory", "clickhouse")]
    for f in factories:
        writer = f.span_writer()
        writer.write_spans(spans)
        if hasattr(writer, "flush"):
            writer.flush()
    yield [f.trace_reader() for f in factories]
    for f in factories:
        f.close()


@pytest.mark.parametrize("scope", ["span.", ".", "event."])
@pytest.mark.parametrize("op", ["=", ">", ">=", "<", "<=", "!="])
def test_clickhouse_numeric_comparisons_lose_nothing(numeric_pair, scope, op) -> None:
    memory, clickhouse = numeric_pair
    for literal in LITERALS + ["-" + lit for lit in LITERALS if lit[0] not in "0-"]:
        text = f"{{{scope}v {op} {literal}}}"
        expected = found(memory, text, limit=100)
        assert found(clickhouse, text, limit=100) == expected, text
        # the other side of a structural query is narrowed the same way
        text = f'{{{scope}v {op} {literal}}} > {{name = "op"}}'
        assert found(clickhouse, text, limit=100) == found(memory, text, limit=100), text


def test_required_sides() -> None:
    a, b, c = (parse(f"{{span.x = {n}}}").spans.cond for n in (1, 2, 3))  # type: ignore[union-attr]
    assert required(parse("{span.x = 1} >> {span.x = 2}").spans) == [a, b]
    assert required(parse("({span.x = 1} && {span.x = 2}) ~ {span.x = 3}").spans) == [a, b, c]
    assert required(parse("{span.x = 1} &> {span.x = 1}").spans) == [a]
    assert required(parse("{span.x = 1} !>> {span.x = 2}").spans) == [b]
    assert required(parse("{span.x = 1} || {span.x = 2}").spans) == [ast.BoolOp("||", a, b)]
    assert required(parse("{ } >> {span.x = 2}").spans) == [b]
    assert required(parse("{ } || {span.x = 2}").spans) == []


def _chains(n: int) -> list[Span]:
    """``n`` traces of a server calling a ``db.query`` client, newest first by trace number;
    only every 150th server fails (``http.status_code = 500``), and in the oldest trace the
    failing server is the *grandparent* of the query."""
    spans = []
    for i in range(n):
        trace = 5000 + i
        start = T0 + (n - i) * S  # trace 5000 is the newest
        status = 500 if i % 150 == 149 or i == n - 1 else 200
        spans.append(Span(trace, 1, "GET /", start, 10_000, Resource("front"), kind=SpanKind.SERVER,
                          attributes=[KeyValue("http.status_code", status)]))
        parent = 1
        if i == n - 1:
            spans.append(Span(trace, 3, "work", start + 1, 5_000, Resource("api"), parent_span_id=1))
            parent = 3
        spans.append(Span(trace, 2, "db.query", start + 2, 1_000, Resource("api"), parent_span_id=parent,
                          kind=SpanKind.CLIENT))
    return spans


@pytest.mark.parametrize("backend", ["sqlite", "clickhouse"])
def test_rare_structure_over_many_batches(open_store, backend) -> None:
    spans = _chains(460)
    memory, other = open_store("memory", spans), open_store(backend, spans)
    for text in ('{span.http.status_code >= 500} >> {name = "db.query"}',
                 '{span.http.status_code >= 500} > {name = "db.query"}',
                 '{name = "db.query"} << {span.http.status_code = 500}'):
        for limit in (1, 2, 3, 20):
            expected = found(memory, text, limit=limit)
            assert expected, text
            assert found(other, text, limit=limit) == expected, (text, limit)
    # the oldest trace's failing server is only a grandparent: found by ``>>``, not by ``>``
    assert 5000 + 459 in [t for t, _ in found(other, '{span.http.status_code >= 500} >> {name = "db.query"}')]
    assert 5000 + 459 not in [t for t, _ in found(other, '{span.http.status_code >= 500} > {name = "db.query"}')]
    # a window holding the queries but not their failing servers finds nothing
    newest = T0 + 460 * S
    window = (newest - 10 * S + 2, newest + 10)
    text = '{span.http.status_code >= 500} >> {name = "db.query"}'
    assert found(other, text, *window) == found(memory, text, *window)
