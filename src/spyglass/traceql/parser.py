"""Lexer and recursive-descent parser: query text to ``ast.Query``.

Hand-written because the grammar is small and because a user needs to be told *where* a
query is wrong: every ``TraceQLError`` carries the 1-based line and column of the offending
token and renders the query line with a caret under it.

Precedence, loosest first: ``|`` stages; span-set ``||``; span-set ``&&``; the structural
operators ``> >> < << ~`` and their ``!`` (negated) and ``&`` (union) forms (left-associative);
inside ``{ }``: ``||``, ``&&``, comparisons.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from spyglass.traceql import ast

MAX_QUERY_CHARS = 16_384


class TraceQLError(ValueError):
    """A query that cannot be parsed or evaluated; ``str()`` shows where."""

    def __init__(self, message: str, text: str = "", pos: int = -1) -> None:
        self.message = message
        self.text = text
        self.pos = pos
        if pos >= 0:
            line_start = text.rfind("\n", 0, pos) + 1
            line_end = text.find("\n", pos)
            line_end = len(text) if line_end < 0 else line_end
            self.line = text.count("\n", 0, pos) + 1
            self.column = pos - line_start + 1
            src = text[line_start:line_end]
            full = (f"parse error at line {self.line}, column {self.column}: {message}\n"
                    f"{src}\n{' ' * (self.column - 1)}^")
        else:
            self.line = self.column = 0
            full = message
        super().__init__(full)


@dataclass(slots=True)
class Token:
    kind: str  # punct, ident, attr, str, num, dur, eof
    text: str
    pos: int
    value: object = None


_PUNCT = ["!>>", "!<<", "&>>", "&<<", "!>", "!<", "&>", "&<", "&~", "&&", "||", "!=", "!~", "=~", ">=", "<=", ">>", "<<", "{", "}", "(", ")", ",", "|", "=", ">", "<", "~", "!"]
_NUM = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_DUR_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
              "h": 3_600_000_000_000}
_DUR = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)(?![A-Za-z0-9_])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ATTR_NAME = re.compile(r"[A-Za-z0-9_\-/:@$]+(?:\.[A-Za-z0-9_\-/:@$]+)*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "`": "`"}


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``eof`` token."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"`":
            j, buf = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and c == '"' and j + 1 < n:
                    esc = text[j + 1]
                    if esc not in _ESCAPES:
                        raise TraceQLError(f"unknown escape \\{esc} in string", text, j)
                    buf.append(_ESCAPES[esc])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= n:
                raise TraceQLError("unterminated string", text, i)
            out.append(Token("str", text[i:j + 1], i, "".join(buf)))
            i = j + 1
            continue
        if c == "." and i + 1 < n and (text[i + 1].isalpha() or text[i + 1] == "_"):
            m = _ATTR_NAME.match(text, i + 1)
            assert m
            out.append(Token("attr", m.group(), i, ast.Attribute("", m.group())))
            i = m.end()
            continue
        if c.isdigit() or (c in ".-" and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == ".")):
            m = _DUR.match(text, i)
            if m:
                number = float(m.group()[:-len(m.group(1))])
                out.append(Token("dur", m.group(), i, int(round(number * _DUR_UNITS[m.group(1)]))))
                i = m.end()
                continue
            m = _NUM.match(text, i)
            if m and m.end() > i and m.group() not in ("-", "."):
                t = m.group()
                value: object = float(t) if any(ch in t for ch in ".eE") else int(t)
                if m.end() < n and (text[m.end()].isalpha() or text[m.end()] == "_"):
                    raise TraceQLError(f"unknown unit after {t!r} (durations use ns, us, ms, s, m, h)", text, m.end())
                out.append(Token("num", t, i, value))
                i = m.end()
                continue
        if c.isalpha() or c == "_":
            m = _IDENT.match(text, i)
            assert m
            word = m.group()
            if word in ast.ATTRIBUTE_SCOPES and m.end() < n and text[m.end()] == ".":
                a = _ATTR_NAME.match(text, m.end() + 1)
                if not a:
                    raise TraceQLError(f"expected an attribute name after {word}.", text, m.end() + 1)
                out.append(Token("attr", text[i:a.end()], i, ast.Attribute(word, a.group())))
                i = a.end()
                continue
            if word in _INTRINSIC_SCOPES and m.end() < n and text[m.end()] == ":":
                a = _IDENT.match(text, m.end() + 1)
                if not a:
                    raise TraceQLError(f"expected an intrinsic name after {word}:", text, m.end() + 1)
                out.append(Token("ident", text[i:a.end()], i))
                i = a.end()
                continue
            out.append(Token("ident", word, i))
            i = m.end()
            continue
        for p in _PUNCT:
            if text.startswith(p, i):
                out.append(Token("punct", p, i))
                i += len(p)
                break
        else:
            raise TraceQLError(f"unexpected character {c!r}", text, i)
    out.append(Token("eof", "", n))
    return out


_INTRINSIC_SCOPES = ("span", "trace", "event", "link", "instrumentation")
_CMP_OPS = ("=", "!=", ">", ">=", "<", "<=", "=~", "!~")
_ORDER_OPS = (">", ">=", "<", "<=")
_STRUCT_OPS = (">", ">>", "<", "<<", "~", "!>", "!>>", "!<", "!<<", "!~", "&>", "&>>", "&<", "&<<", "&~")
_AGGREGATES = ("count", "avg", "min", "max", "sum")
_DURATION_INTRINSICS = ("duration", "traceDuration", "event:timeSinceStart")
# IDs compare as lower-case hex text, zero-padded to Tempo's width (16 for a span, 32 for a trace)
ID_WIDTH = {"span:id": 16, "span:parentID": 16, "link:spanID": 16, "trace:id": 32, "link:traceID": 32}
# Intrinsics that can be absent: a root's parent, a span without events or links.
_NILLABLE = frozenset({"span:parentID"}) | ast.MULTI_INTRINSICS


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- helpers ----------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: Token | None = None) -> TraceQLError:
        tok = tok or self.tok
        return TraceQLError(message, self.text, tok.pos)

    def describe(self, tok: Token) -> str:
        return "end of query" if tok.kind == "eof" else repr(tok.text)

    def at(self, *texts: str) -> bool:
        t = self.tok
        return t.kind in ("punct", "ident") and t.text in texts

    def expect(self, text: str) -> Token:
        if not self.at(text):
            raise self.error(f"expected {text!r}, found {self.describe(self.tok)}")
        return self.next()

    def next(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    # -- query --------------------------------------------------------------------------------
    def query(self) -> ast.Query:
        if self.tok.kind == "eof":
            raise self.error("empty query: a query starts with a span set such as { } or { status = error }")
        spans = self.spanset_or()
        stages: list[ast.Stage] = []
        metrics: ast.Metrics | None = None
        while self.at("|"):
            bar = self.next()
            if metrics is not None:
                if metrics.top is None and self.at(*ast.SECOND_STAGE_FUNCS):
                    metrics = self.second_stage(metrics)
                    continue
                raise self.error("nothing can follow a metrics function but topk(n) or bottomk(n)" if metrics.top is None
                                 else "nothing can follow topk() / bottomk()", bar)
            if self.at(*ast.METRIC_FUNCS):
                metrics = self.metrics()
            else:
                stages.append(self.stage())
        if self.tok.kind != "eof":
            raise self.error(f"unexpected {self.describe(self.tok)}")
        return ast.Query(spans, tuple(stages), metrics, self.text)

    def spanset_or(self) -> ast.SpansetExpr:
        left = self.spanset_and()
        while self.at("||"):
            self.next()
            left = ast.SetOp("||", left, self.spanset_and())
        return left

    def spanset_and(self) -> ast.SpansetExpr:
        left = self.spanset_struct()
        while self.at("&&"):
            self.next()
            left = ast.SetOp("&&", left, self.spanset_struct())
        return left

    def spanset_struct(self) -> ast.SpansetExpr:
        left = self.spanset_primary()
        while self.at(*_STRUCT_OPS):
            op = self.next().text
            left = ast.SetOp(op, left, self.spanset_primary())
        return left

    def spanset_primary(self) -> ast.SpansetExpr:
        if self.at("("):
            self.next()
            inner = self.spanset_or()
            self.expect(")")
            return inner
        if self.at("{"):
            return ast.Filter(self.braced())
        raise self.error(f"expected a span set such as {{ name = \"x\" }}, found {self.describe(self.tok)}")

    def braced(self) -> ast.Cond:
        self.expect("{")
        if self.at("}"):
            self.next()
            return ast.TRUE
        cond = self.cond_or()
        self.expect("}")
        return cond

    # -- conditions ---------------------------------------------------------------------------------
    def cond_or(self) -> ast.Cond:
        left = self.cond_and()
        while self.at("||"):
            self.next()
            left = ast.BoolOp("||", left, self.cond_and())
        return left

    def cond_and(self) -> ast.Cond:
        left = self.cond_primary()
        while self.at("&&"):
            self.next()
            left = ast.BoolOp("&&", left, self.cond_primary())
        return left

    def cond_primary(self) -> ast.Cond:
        if self.at("("):
            self.next()
            inner = self.cond_or()
            self.expect(")")
            return inner
        if self.at("true", "false") and self.tokens[self.i + 1].text not in _CMP_OPS:
            return ast.Const(self.next().text == "true")
        field_tok = self.tok
        fld = self.field()
        if not (self.tok.kind == "punct" and self.tok.text in _CMP_OPS):
            raise self.error(f"expected a comparison operator ({' '.join(_CMP_OPS)}) after {field_tok.text}, "
                             f"found {self.describe(self.tok)}")
        op_tok = self.next()
        lit_tok = self.tok
        lit = self.literal()
        self.check_compare(fld, op_tok, lit, lit_tok)
        if isinstance(fld, ast.Intrinsic) and fld.name in ID_WIDTH and op_tok.text in ("=", "!=") and lit.type == "str":
            lit = self.id_literal(fld.name, lit, lit_tok)
        return ast.Compare(fld, op_tok.text, lit)

    def id_literal(self, name: str, lit: ast.Literal, tok: Token) -> ast.Literal:
        text = str(lit.value).strip().lower()
        width = ID_WIDTH[name]
        if not text or len(text) > width or any(c not in "0123456789abcdef" for c in text):
            raise self.error(f"{name} compares with up to {width} hex digits in quotes", tok)
        return ast.Literal("str", text.rjust(width, "0"))

    def field(self) -> ast.Field:
        t = self.tok
        if t.kind == "attr":
            self.next()
            assert isinstance(t.value, ast.Attribute)
            return t.value
        if t.kind == "ident" and t.text in ast.INTRINSICS:
            self.next()
            return ast.Intrinsic(t.text)
        if t.kind == "ident" and t.text in ast.INTRINSIC_ALIASES:
            self.next()
            return ast.Intrinsic(ast.INTRINSIC_ALIASES[t.text], t.text)
        if t.kind == "ident" and ":" in t.text:
            scope = t.text.split(":")[0] + ":"
            known = [n for n in (*ast.INTRINSICS, *ast.INTRINSIC_ALIASES) if n.startswith(scope)]
            raise self.error(f"unknown intrinsic {t.text!r} (known: {', '.join(known)})")
        if t.kind == "ident":
            raise self.error(f"unknown intrinsic {t.text!r} (attributes are written span.{t.text}, "
                             f"resource.{t.text} or .{t.text})")
        raise self.error(f"expected an attribute or intrinsic, found {self.describe(t)}")

    def literal(self) -> ast.Literal:
        t = self.next()
        if t.kind == "str":
            return ast.Literal("str", t.value)
        if t.kind == "num":
            return ast.Literal("num", t.value)
        if t.kind == "dur":
            return ast.Literal("dur", t.value)
        if t.kind == "ident":
            if t.text in ("true", "false"):
                return ast.Literal("bool", t.text == "true")
            if t.text == "nil":
                return ast.NIL
            if t.text in ast.STATUS_VALUES:
                return ast.Literal("status", t.text)
            if t.text in ast.KIND_VALUES:
                return ast.Literal("kind", t.text)
        raise self.error(f"expected a value (string, number, duration, true/false, nil, status or kind), "
                         f"found {self.describe(t)}", t)

    def check_compare(self, fld: ast.Field, op_tok: Token, lit: ast.Literal, lit_tok: Token) -> None:
        op = op_tok.text
        if op in ("=~", "!~"):
            if lit.type != "str":
                raise self.error(f"{op} needs a regular expression in quotes", lit_tok)
            try:
                re.compile(str(lit.value))
            except re.error as exc:
                raise self.error(f"invalid regular expression: {exc}", lit_tok) from None
        if lit.type == "nil":
            if op not in ("=", "!="):
                raise self.error("nil compares only with = or !=", op_tok)
            if isinstance(fld, ast.Intrinsic) and fld.name not in _NILLABLE:
                raise self.error(f"{fld} is always present; nil compares with attributes", lit_tok)
        if op in _ORDER_OPS and lit.type in ("bool", "status", "kind"):
            raise self.error(f"{op} cannot compare {lit.type} values", op_tok)
        if isinstance(fld, ast.Intrinsic) and lit.type != "nil":
            name = fld.name
            want = ("status" if name == "status" else "kind" if name == "kind"
                    else "dur" if name in _DURATION_INTRINSICS else "str")
            if lit.type != want:
                example = {"status": "error, ok or unset", "kind": "server, client, producer, consumer, internal "
                           "or unspecified", "dur": "a duration such as 100ms", "str": "a string in quotes"}[want]
                raise self.error(f"{fld} compares with {example}", lit_tok)
            if want in ("status", "kind") and op not in ("=", "!="):
                raise self.error(f"{fld} compares only with = or !=", op_tok)

    # -- pipeline -------------------------------------------------------------------------------------
    def stage(self) -> ast.Stage:
        t = self.tok
        if self.at("{"):
            return ast.FilterStage(self.braced())
        if self.at("select"):
            self.next()
            self.expect("(")
            fields = [self.field()]
            while self.at(","):
                self.next()
                fields.append(self.field())
            self.expect(")")
            return ast.Select(tuple(fields))
        if self.at(*_AGGREGATES):
            func = self.next().text
            self.expect("(")
            fld: ast.Field | None = None
            if func != "count":
                fld = self.single_field(f"{func}()")
            self.expect(")")
            if not (self.tok.kind == "punct" and self.tok.text in ("=", "!=", ">", ">=", "<", "<=")):
                raise self.error(f"expected a comparison after {func}(), such as {func}() > 2")
            op = self.next().text
            lit_tok = self.tok
            lit = self.literal()
            if lit.type not in ("num", "dur"):
                raise self.error(f"{func}() compares with a number or a duration", lit_tok)
            return ast.Aggregate(func, fld, op, lit)
        raise self.error(f"expected a pipeline stage (count(), avg(...), min(...), max(...), sum(...), "
                         f"select(...), {{ ... }} or a metrics function), found {self.describe(t)}")

    def metrics(self) -> ast.Metrics:
        func = self.next().text
        self.expect("(")
        fld: ast.Field | None = None
        quantiles: list[float] = []
        if func == "quantile_over_time":
            fld = self.single_field(func)
            while self.at(","):
                self.next()
                t = self.next()
                if t.kind != "num" or not 0 <= float(t.value) <= 1:  # type: ignore[arg-type]
                    raise self.error("a quantile is a number between 0 and 1", t)
                quantiles.append(float(t.value))  # type: ignore[arg-type]
            if not quantiles:
                raise self.error("quantile_over_time needs at least one quantile, such as .99")
        elif func not in ("rate", "count_over_time"):
            fld = self.single_field(func)
        self.expect(")")
        by: list[ast.Field] = []
        if self.at("by"):
            self.next()
            self.expect("(")
            by.append(self.single_field("by()"))
            while self.at(","):
                self.next()
                by.append(self.single_field("by()"))
            self.expect(")")
        return ast.Metrics(func, fld, tuple(quantiles), tuple(by))

    def single_field(self, where: str) -> ast.Field:
        """A field with one value per span: aggregates and series labels need one."""
        t = self.tok
        fld = self.field()
        if ast.is_multi(fld):
            raise self.error(f"{t.text} has one value per event or link, so {where} cannot use it; "
                             f"filter on it inside {{ }} instead", t)
        return fld

    def second_stage(self, metrics: ast.Metrics) -> ast.Metrics:
        func = self.next().text
        self.expect("(")
        t = self.next()
        if t.kind != "num" or not isinstance(t.value, int) or t.value < 1:
            raise self.error(f"{func}() takes a positive whole number of series, such as {func}(5)", t)
        self.expect(")")
        return dataclasses.replace(metrics, top=(func, t.value))


def parse(text: str) -> ast.Query:
    """Parse a query; raises ``TraceQLError`` pointing at the first error."""
    if len(text) > MAX_QUERY_CHARS:
        raise TraceQLError(f"query longer than {MAX_QUERY_CHARS} characters")
    return _Parser(text).query()
