"""What a query means over one trace: the single definition every backend's answer must equal.

Backends only narrow the traces (or spans) they hand to these functions; they never decide
a match themselves, so the memory, sqlite and clickhouse answers agree by construction
(the property tests in tests/traceql check the narrowing never loses anything).

Semantics (TraceQL's where it has one):

* A comparison is false when the field is missing or its type differs from the literal's
  (``span.x != "a"`` does not match a span without ``x``); ``x = nil`` / ``x != nil`` test
  absence / presence. Numbers compare across int and float; strings order lexically;
  ``=~`` / ``!~`` are fully anchored Python regular expressions.
* ``.x`` looks in the span's attributes, then the resource's; ``resource.service.name`` is
  the service. ``rootServiceName``, ``rootName`` and ``traceDuration`` come from the whole
  trace (the root is the earliest span without a parent in the trace).
* ``event.x`` / ``event:name`` / ``event:timeSinceStart`` and ``link.x`` / ``link:traceID`` /
  ``link:spanID`` have one value per event / link: a comparison holds when *some* event or
  link satisfies it (two comparisons joined by ``&&`` may be satisfied by different events);
  ``= nil`` holds when no event or link carries the value. ``instrumentation.x`` are the
  instrumentation scope's attributes. IDs are lower-case hex, 16 digits for spans and 32
  for traces (as Tempo writes them).
* Only spans starting inside the search window are candidates for ``{ }``; structural
  operators follow parent links through the whole trace. The negated forms (``!>`` ...)
  keep right-hand spans with no such relation to any left-hand span (all of them when the
  left side matches nothing); the union forms (``&>`` ...) keep the related spans of both
  sides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from spyglass.model import Span
from spyglass.traceql import ast

_MISSING = object()


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class TraceView:
    """One trace's spans with what trace-level intrinsics and structure need."""

    __slots__ = ("spans", "by_id", "root", "start_ns", "duration_ns", "trace_id")

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.trace_id = spans[0].trace_id if spans else 0
        by_id: dict[int, Span] = {}
        for s in spans:
            by_id.setdefault(s.span_id, s)
        self.by_id = by_id
        roots = [s for s in spans if s.parent_span_id == 0 or s.parent_span_id not in by_id]
        self.root = min(roots, key=lambda s: (s.start_time_ns, s.span_id)) if roots else None
        if spans:
            self.start_ns = min(s.start_time_ns for s in spans)
            self.duration_ns = max(s.start_time_ns + s.duration_ns for s in spans) - self.start_ns
        else:
            self.start_ns = self.duration_ns = 0

    def ancestors(self, span: Span) -> Iterable[Span]:
        seen = {span.span_id}
        parent = self.by_id.get(span.parent_span_id) if span.parent_span_id else None
        while parent is not None and parent.span_id not in seen:
            yield parent
            seen.add(parent.span_id)
            parent = self.by_id.get(parent.parent_span_id) if parent.parent_span_id else None


def _typed(value: object) -> tuple[str, object]:
    t = type(value)
    if t is str:
        return "str", value
    if t is bool:
        return "bool", value
    if t is int or t is float:
        return "num", value
    return "other", value


def _attr(attributes: list, key: str) -> object:
    for kv in attributes:
        if kv[0] == key:
            return kv[1]
    return _MISSING


def _multi_value(fld: ast.Field, span: Span) -> tuple[str, object] | None:
    """``("many", values)`` of an event or link field; None when no event / link has one."""
    out: list[tuple[str, object]] = []
    if isinstance(fld, ast.Intrinsic):
        name = fld.name
        if name == "event:name":
            out = [("str", e.name) for e in span.events]
        elif name == "event:timeSinceStart":
            out = [("dur", e.time_ns - span.start_time_ns) for e in span.events]
        elif name == "link:traceID":
            out = [("str", format(link.trace_id, "032x")) for link in span.links]
        else:
            out = [("str", format(link.span_id, "016x")) for link in span.links]
    else:
        parts = span.events if fld.scope == "event" else span.links
        for part in parts:
            v = _attr(part.attributes, fld.name)
            if v is not _MISSING:
                out.append(_typed(v))
    return ("many", tuple(out)) if out else None


def field_value(fld: ast.Field, span: Span, view: TraceView | None) -> tuple[str, object] | None:
    """The typed value of ``fld`` on ``span``; None when missing; ``("many", values)`` for
    an event or link field (``ast.is_multi``). Raises ``LookupError`` for a trace-level
    intrinsic without a ``view`` (the caller treats it as unknown)."""
    if isinstance(fld, ast.Intrinsic):
        name = fld.name
        if name == "name":
            return "str", span.name
        if name == "duration":
            return "dur", span.duration_ns
        if name == "status":
            return "status", span.status.code.name.lower()
        if name == "kind":
            return "kind", span.kind.name.lower()
        if name == "statusMessage":
            return "str", span.status.message
        if name in ast.MULTI_INTRINSICS:
            return _multi_value(fld, span)
        if name == "span:id":
            return "str", format(span.span_id, "016x")
        if name == "span:parentID":
            return ("str", format(span.parent_span_id, "016x")) if span.parent_span_id else None
        if name == "trace:id":
            return "str", format(span.trace_id, "032x")
        if name == "instrumentation:name":
            return "str", span.scope.name
        if name == "instrumentation:version":
            return "str", span.scope.version
        if view is None:
            raise LookupError(name)
        if name == "traceDuration":
            return "dur", view.duration_ns
        root = view.root
        if root is None:
            return None
        return ("str", root.service_name) if name == "rootServiceName" else ("str", root.name)
    scope, key = fld.scope, fld.name
    if scope in ast.MULTI_SCOPES:
        return _multi_value(fld, span)
    if scope == "instrumentation":
        v = _attr(span.scope.attributes, key)
        return None if v is _MISSING else _typed(v)
    if scope != "resource":
        v = _attr(span.attributes, key)
        if v is not _MISSING:
            return _typed(v)
        if scope == "span":
            return None
    if key == "service.name":
        return "str", span.resource.service_name
    v = _attr(span.resource.attributes, key)
    return None if v is _MISSING else _typed(v)


def compare(fv: tuple[str, object] | None, op: str, lit: ast.Literal) -> bool:
    if lit.type == "nil":
        return (fv is None) if op == "=" else (fv is not None)
    if fv is None:
        return False
    if fv[0] == "many":
        return any(compare(v, op, lit) for v in fv[1])  # type: ignore[union-attr]
    if fv[0] != lit.type:
        return False
    v, w = fv[1], lit.value
    if op == "=":
        return v == w
    if op == "!=":
        return v != w
    if op == "=~":
        return _regex(w).fullmatch(v) is not None  # type: ignore[arg-type]
    if op == "!~":
        return _regex(w).fullmatch(v) is None  # type: ignore[arg-type]
    if op == ">":
        return v > w  # type: ignore[operator]
    if op == ">=":
        return v >= w  # type: ignore[operator]
    if op == "<":
        return v < w  # type: ignore[operator]
    if op == "<=":
        return v <= w  # type: ignore[operator]
    raise ValueError(op)


def matches(cond: ast.Cond, span: Span, view: TraceView | None) -> bool:
    """Whether ``span`` satisfies ``cond``. Without ``view`` a trace-level comparison counts
    as true, so the answer is then an upper bound (there is no negation in conditions)."""
    if isinstance(cond, ast.Compare):
        try:
            return compare(field_value(cond.field, span, view), cond.op, cond.value)
        except LookupError:
            return True
    if isinstance(cond, ast.BoolOp):
        if cond.op == "&&":
            return matches(cond.left, span, view) and matches(cond.right, span, view)
        return matches(cond.left, span, view) or matches(cond.right, span, view)
    return cond.value


def fields_of(cond: ast.Cond) -> set[ast.Field]:
    if isinstance(cond, ast.Compare):
        return {cond.field}
    if isinstance(cond, ast.BoolOp):
        return fields_of(cond.left) | fields_of(cond.right)
    return set()


def uses_trace_intrinsics(fields: Iterable[ast.Field]) -> bool:
    return any(isinstance(f, ast.Intrinsic) and f.name in ast.TRACE_INTRINSICS for f in fields)


# -- span sets ----------------------------------------------------------------------------------


def _spanset(expr: ast.SpansetExpr, view: TraceView, considered: list[Span]) -> list[Span]:
    if isinstance(expr, ast.Filter):
        cond = expr.cond
        return [s for s in considered if matches(cond, s, view)]
    left = _spanset(expr.left, view, considered)
    op = expr.op
    if op == "&&" and not left:
        return []
    right = _spanset(expr.right, view, considered)
    if op == "||":
        return _union(left, right)
    if op[0] == "!":
        if not right:
            return []
        related = _related(op[1:], left, right, view) if left else []
        ids = {id(s) for s in related}
        return [r for r in right if id(r) not in ids]
    if not left or not right:
        return []
    if op == "&&":
        return _union(left, right)
    if op[0] == "&":
        # both ends of each relation: the related right spans, and the left spans they relate to
        # (``{a} &> {b}``: children b and their parents a), found as the reverse relation
        return _union(_related(_REVERSE[op[1:]], right, left, view), _related(op[1:], left, right, view))
    return _related(op, left, right, view)


_REVERSE = {">": "<", ">>": "<<", "<": ">", "<<": ">>", "~": "~"}


def _related(op: str, left: list[Span], right: list[Span], view: TraceView) -> list[Span]:
    """The spans of ``right`` in relation ``op`` (``>`` child ... ``~`` sibling) to some span of ``left``."""
    if op == ">":
        ids = {s.span_id for s in left}
        return [r for r in right if r.parent_span_id and r.parent_span_id in ids and r.parent_span_id != r.span_id]
    if op == ">>":
        ids = {s.span_id for s in left}
        return [r for r in right if any(a.span_id in ids for a in view.ancestors(r))]
    if op == "<":
        parents = {s.parent_span_id for s in left if s.parent_span_id}
        return [r for r in right if r.span_id in parents]
    if op == "<<":
        above = {a.span_id for s in left for a in view.ancestors(s)}
        return [r for r in right if r.span_id in above]
    if op == "~":
        by_parent: dict[int, set[int]] = {}
        for s in left:
            if s.parent_span_id:
                by_parent.setdefault(s.parent_span_id, set()).add(s.span_id)
        return [r for r in right if r.parent_span_id and (by_parent.get(r.parent_span_id, set()) - {r.span_id})]
    raise ValueError(op)


def _union(a: list[Span], b: list[Span]) -> list[Span]:
    seen = {id(s) for s in a}
    return a + [s for s in b if id(s) not in seen]


def aggregate_value(func: str, fld: ast.Field | None, spans: list[Span], view: TraceView | None) -> tuple[str, object] | None:
    if func == "count":
        return "num", len(spans)
    assert fld is not None
    values = []
    kind = ""
    for s in spans:
        try:
            fv = field_value(fld, s, view)
        except LookupError:
            fv = None
        if fv is not None and fv[0] in ("num", "dur"):
            if kind and fv[0] != kind:
                continue
            kind = fv[0]
            values.append(fv[1])
    if not values:
        return None
    if func == "sum":
        return kind, sum(values)
    if func == "min":
        return kind, min(values)
    if func == "max":
        return kind, max(values)
    mean = sum(values) / len(values)
    return kind, mean


@dataclass(slots=True)
class TraceMatch:
    """One trace a search found: its matching spans (by start time) and the trace's summary."""

    trace_id: int
    root_service: str
    root_name: str
    start_ns: int
    duration_ns: int
    spans: list[Span]
    selected: tuple[ast.Field, ...] = ()
    key_ns: int = 0  # the start the result order is based on
    matched: int = field(default=0)


def in_window(spans: list[Span], start_ns: int, end_ns: int) -> list[Span]:
    """Spans starting in ``[start_ns, end_ns]`` (0 = unbounded)."""
    if not start_ns and not end_ns:
        return spans
    hi = end_ns or (1 << 63)
    return [s for s in spans if start_ns <= s.start_time_ns <= hi]


def final_spans(query: ast.Query, view: TraceView, considered: list[Span]) -> list[Span]:
    """The spans the query's span-set expression and filtering stages leave; ``[]`` = no match."""
    spans = _spanset(query.spans, view, considered)
    for stage in query.stages:
        if not spans:
            return []
        if isinstance(stage, ast.FilterStage):
            spans = [s for s in spans if matches(stage.cond, s, view)]
        elif isinstance(stage, ast.Aggregate):
            if not compare(aggregate_value(stage.func, stage.field, spans, view), stage.op, stage.value):
                return []
    return spans


def evaluate(query: ast.Query, spans: list[Span], start_ns: int = 0, end_ns: int = 0) -> TraceMatch | None:
    """The match of ``query`` in one trace (all its spans), or None."""
    if not spans:
        return None
    view = TraceView(spans)
    found = final_spans(query, view, in_window(spans, start_ns, end_ns))
    if not found:
        return None
    found = sorted(found, key=lambda s: (s.start_time_ns, s.span_id))
    root = view.root
    return TraceMatch(view.trace_id, root.service_name if root else "", root.name if root else "",
                      view.start_ns, view.duration_ns, found, query.selected, matched=len(found))


# -- the driving condition ---------------------------------------------------------------------------


def _score(cond: ast.Cond) -> int:
    if isinstance(cond, ast.Const):
        return 0 if cond.value else 9
    if isinstance(cond, ast.BoolOp):
        a, b = _score(cond.left), _score(cond.right)
        return max(a, b) if cond.op == "&&" else min(a, b)
    f = cond.field
    if cond.op == "=" and (f == ast.Intrinsic("name") or f == ast.Attribute("resource", "service.name")):
        return 4
    if cond.op == "=" and cond.value.type not in ("nil",):
        return 3
    if cond.op in ("=", "!=", "=~", "!~") and cond.value.type in ("nil",):
        return 1
    return 2


def driving(expr: ast.SpansetExpr) -> ast.Cond:
    """A condition some in-window span of every matching trace satisfies: what backends
    search their indexes for. For ``&&`` and the structural operators either side would
    do (the more selective-looking one is taken); for the negated ones only the right."""
    if isinstance(expr, ast.Filter):
        return expr.cond
    if expr.op[0] == "!":  # the left side may match nothing: only the right is required
        return driving(expr.right)
    left, right = driving(expr.left), driving(expr.right)
    if expr.op == "||":
        if left == ast.TRUE or right == ast.TRUE:
            return ast.TRUE
        return ast.BoolOp("||", left, right)
    return left if _score(left) > _score(right) else right


def required(expr: ast.SpansetExpr) -> list[ast.Cond]:
    """Conditions that, each of them, some in-window span of every matching trace satisfies
    (``driving`` is one of them or an ``||`` of them): both sides of ``&&`` and of the
    structural and union operators (their result is empty when either side is), the right
    side of the negated ones, one ``||`` for a union. A backend may narrow its candidate
    traces by all of them at once, before fetching any."""
    if isinstance(expr, ast.Filter):
        return [] if expr.cond == ast.TRUE else [expr.cond]
    if expr.op[0] == "!":
        return required(expr.right)
    if expr.op == "||":
        either = driving(expr)
        return [] if either == ast.TRUE else [either]
    out = required(expr.left)
    return out + [c for c in required(expr.right) if c not in out]

