"""The parser: the tree it builds, durations, and errors that point at the right column."""

from __future__ import annotations

import pytest

from spyglass.traceql import TraceQLError, ast, parse

NAME = ast.Intrinsic("name")


def test_tree() -> None:
    q = parse('{ span.http.status_code >= 500 && .x != nil } >> { name = "db.query" } | count() > 2 | select(.a)')
    left = ast.Filter(ast.BoolOp("&&", ast.Compare(ast.Attribute("span", "http.status_code"), ">=", ast.Literal("num", 500)),
                                 ast.Compare(ast.Attribute("", "x"), "!=", ast.NIL)))
    right = ast.Filter(ast.Compare(NAME, "=", ast.Literal("str", "db.query")))
    assert q.spans == ast.SetOp(">>", left, right)
    assert q.stages == (ast.Aggregate("count", None, ">", ast.Literal("num", 2)), ast.Select((ast.Attribute("", "a"),)))
    assert q.metrics is None


def test_precedence() -> None:
    a, b, c = (ast.Filter(ast.Compare(NAME, "=", ast.Literal("str", x))) for x in "abc")
    assert parse('{name="a"} || {name="b"} && {name="c"}').spans == ast.SetOp("||", a, ast.SetOp("&&", b, c))
    assert parse('{name="a"} && {name="b"} > {name="c"}').spans == ast.SetOp("&&", a, ast.SetOp(">", b, c))
    assert parse('({name="a"} && {name="b"}) ~ {name="c"}').spans == ast.SetOp("~", ast.SetOp("&&", a, b), c)
    cond = parse('{name="a" || name="b" && name="c"}').spans.cond
    assert cond.op == "||" and cond.right.op == "&&"


@pytest.mark.parametrize(("text", "ns"), [("1s", 10**9), ("250ms", 250 * 10**6), ("1.5s", 15 * 10**8), ("10us", 10_000),
                                          ("10µs", 10_000), ("7ns", 7), ("2m", 120 * 10**9), ("1h", 3600 * 10**9)])
def test_durations(text: str, ns: int) -> None:
    assert parse(f"{{ duration > {text} }}").spans.cond.value == ast.Literal("dur", ns)


def test_metrics_and_literals() -> None:
    q = parse('{ status = error && kind = server && .ok = true && .f = -1.5 && name = "a\\"b" } '
              '| quantile_over_time(duration, .5, .99) by (resource.service.name, name)')
    assert q.metrics == ast.Metrics("quantile_over_time", ast.Intrinsic("duration"), (0.5, 0.99),
                                    (ast.Attribute("resource", "service.name"), NAME))
    text = str(q.spans.cond)
    assert "Literal(type='status', value='error')" in text and "Literal(type='kind', value='server')" in text
    assert "Literal(type='bool', value=True)" in text and "value=-1.5" in text and "'a\"b'" in text
    assert parse("{} | rate()").metrics == ast.Metrics("rate")
    assert parse("{ }").spans == ast.Filter(ast.TRUE)


@pytest.mark.parametrize(("text", "column", "words"), [
    ("{ name = }", 10, "expected a value"),
    ("{ status > error }", 10, "cannot compare"),
    ("{ foo = 1 }", 3, "unknown intrinsic 'foo'"),
    ('{ name = "a" ', 14, "expected '}'"),
    ('{ duration > "1s" }', 14, "duration compares with a duration"),
    ('{ status = "error" }', 12, "status compares with error"),
    ('{ name =~ "(" }', 11, "invalid regular expression"),
    ("{ .a = 1 } | count() > ", 24, "expected a value"),
    ("{ .a = 1 } | rate() | count() > 1", 21, "nothing can follow"),
    ("{ .a = 1 } junk", 12, "unexpected 'junk'"),
    ('{ .a = "x }', 8, "unterminated string"),
    ("{ duration > 5xs }", 15, "unknown unit"),
    ("{ .a = 1 } | quantile_over_time(duration)", 41, "at least one quantile"),
    ("", 1, "empty query"),
    ("{ .a = 1 } >", 13, "expected a span set"),
    ("{ span:foo = 1 }", 3, "unknown intrinsic 'span:foo' (known: span:id"),
    ("{ event: = 1 }", 9, "expected an intrinsic name after event:"),
    ('{ span:id = "xyz" }', 13, "span:id compares with up to 16 hex digits"),
    ('{ trace:id = "' + "1" * 33 + '" }', 14, "up to 32 hex digits"),
    ("{ event:timeSinceStart > 1 }", 26, "event:timeSinceStart compares with a duration"),
    ("{ span:name = nil }", 15, "span:name is always present"),
    ("{ } | rate() by (event.kind)", 18, "one value per event or link"),
    ("{ } | avg(link.weight) > 1", 11, "one value per event or link"),
    ("{ } | histogram_over_time(event:timeSinceStart)", 27, "one value per event or link"),
    ("{ } | rate() | topk(0)", 21, "positive whole number"),
    ("{ } | rate() | bottomk(1.5)", 24, "positive whole number"),
    ("{ } | rate() | topk(2) | topk(3)", 24, "nothing can follow topk()"),
    ("{ } | topk(2)", 7, "expected a pipeline stage"),
])
def test_errors_point_at_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(TraceQLError) as info:
        parse(text)
    err = info.value
    assert (err.line, err.column) == (1, column), str(err)
    assert words in err.message
    lines = str(err).split("\n")
    assert lines[0].startswith(f"parse error at line 1, column {column}:")
    assert lines[1] == text and lines[2] == " " * (column - 1) + "^"


def test_tempo_scopes_and_spellings() -> None:
    cond = parse('{ event.exception.message =~ ".*timeout.*" && link.reason = "x" && instrumentation.lib = 1 '
                 '&& event:name = "e" && link:traceID = "AB" && span:parentID = nil }').spans.cond
    text = str(cond)
    for part in ("Attribute(scope='event', name='exception.message')", "Attribute(scope='link', name='reason')",
                 "Attribute(scope='instrumentation', name='lib')", "Intrinsic(name='event:name'",
                 "value='" + "0" * 30 + "ab'", "Intrinsic(name='span:parentID'"):
        assert part in text, part
    # the scoped spellings are the same fields, and keep their spelling for labels
    alias = parse('{ span:name = "a" && trace:rootService = "s" && trace:duration > 1s }').spans.cond
    assert alias == parse('{ name = "a" && rootServiceName = "s" && traceDuration > 1s }').spans.cond
    m = parse("{ } | histogram_over_time(span:duration) by (span:kind) | bottomk(3)").metrics
    assert m == ast.Metrics("histogram_over_time", ast.Intrinsic("duration"), by=(ast.Intrinsic("kind"),),
                            top=("bottomk", 3))
    assert str(m.by[0]) == "span:kind"
    for op in ("!>", "!>>", "!<", "!<<", "!~", "&>", "&>>", "&<", "&<<", "&~"):
        assert parse(f"{{ }} {op} {{ }}").spans == ast.SetOp(op, ast.Filter(ast.TRUE), ast.Filter(ast.TRUE))
    # inside a span set !~ is still the regex operator
    assert parse('{ name !~ "a" } !~ { }').spans.left.cond.op == "!~"


def test_error_on_a_later_line() -> None:
    with pytest.raises(TraceQLError) as info:
        parse('{ name = "a" }\n  >> { kind = bogus }')
    assert (info.value.line, info.value.column) == (2, 15)
    assert str(info.value).split("\n")[1:] == ["  >> { kind = bogus }", " " * 14 + "^"]
