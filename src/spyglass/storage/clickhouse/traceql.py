"""The query language over ClickHouse: span conditions become SQL over ``span_index``.

``span_index`` has one row per span with its service, operation, start, duration and every
(key, string value) pair a Jaeger search looks at, plus the span's kind and status under
``\\x01span.kind`` / ``\\x01span.status`` (``rows.derived_pairs``). ``condition_sql`` turns a
condition into a WHERE clause that every satisfying span passes (exactly, when it uses only
those columns; otherwise a superset: an attribute comparison becomes "the key is present",
a string equality "the pair is present", an ordered comparison with a number "the key has a
value that parses to a number in a slightly widened range"). Candidate traces come out
grouped, newest latest-matching-span first, page by page, and only those that also have
spans passing the query's other required conditions (``evaluate.required``: the other side
of a structural operator) in the same statement; the engine checks each whole trace.

Only functions ClickHouse 18.16 has are used (``arrayExists``, ``indexOf``, ``arrayElement``).
"""

from __future__ import annotations

import math
from typing import Any

from spyglass.model import SpanKind, StatusCode, attr_as_string
from spyglass.storage.clickhouse.rows import DERIVED, split_id
from spyglass.traceql import ast

_SQL_OPS = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
# What a span_index row tells exactly (kind and status through the derived pairs).
ROW_FIELDS = frozenset({ast.Intrinsic("name"), ast.Intrinsic("kind"), ast.Intrinsic("duration"),
                        ast.Intrinsic("status"), ast.Attribute("resource", "service.name")})
KIND_VALUE = {k.name.lower(): k.jaeger_name for k in SpanKind}
STATUS_VALUE = {c.name.lower(): c.name for c in StatusCode}
KIND_COLUMN = f"arrayElement(tag_values, indexOf(tag_keys, '{DERIVED}span.kind'))"
STATUS_COLUMN = f"arrayElement(tag_values, indexOf(tag_keys, '{DERIVED}span.status'))"


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"q{len(self.values)}"
        self.values[name] = value
        return f"%({name})s"


def condition_sql(cond: ast.Cond, params: _Params) -> tuple[str, bool]:
    """(WHERE text, exact) for ``cond``; ``"1"`` when nothing narrows."""
    if isinstance(cond, ast.Const):
        return ("1" if cond.value else "0"), True
    if isinstance(cond, ast.BoolOp):
        a, ax = condition_sql(cond.left, params)
        b, bx = condition_sql(cond.right, params)
        if cond.op == "&&":
            return f"({a} AND {b})", ax and bx
        if (a == "1" and not ax) or (b == "1" and not bx):
            return "1", False
        return f"({a} OR {b})", ax and bx
    f, op, lit = cond.field, cond.op, cond.value
    if f == ast.Intrinsic("name") and op in _SQL_OPS:
        return f"operation {_SQL_OPS[op]} {params.add(lit.value)}", True
    if f == ast.Attribute("resource", "service.name") and op in _SQL_OPS and lit.type == "str":
        return f"service {_SQL_OPS[op]} {params.add(lit.value)}", True
    if f == ast.Attribute("resource", "service.name") and lit.type != "nil" and op in _SQL_OPS:
        return "0", True  # the service is a string: other types never compare
    if f == ast.Intrinsic("duration") and op in _SQL_OPS:
        return f"duration_ns {_SQL_OPS[op]} {int(lit.value)}", True  # type: ignore[call-overload]
    if f == ast.Intrinsic("kind"):
        return f"{KIND_COLUMN} {_SQL_OPS[op]} {params.add(KIND_VALUE[str(lit.value)])}", True
    if f == ast.Intrinsic("status"):
        return f"{STATUS_COLUMN} {_SQL_OPS[op]} {params.add(STATUS_VALUE[str(lit.value)])}", True
    scoped = _scoped_sql(f, op, lit, params)
    if scoped is not None:
        return scoped
    if isinstance(f, ast.Attribute) and f.name == "service.name" and f.scope != "span":
        return "1", False  # the service is a column, not a pair: only checked in Python
    if isinstance(f, ast.Attribute) and not (lit.type == "nil" and op == "="):
        key = params.add(f.name)
        if op == "=" and lit.type in ("str", "bool"):
            text = params.add(attr_as_string(lit.value))  # type: ignore[arg-type]
            return f"arrayExists((k, v) -> k = {key} AND v = {text}, tag_keys, tag_values)", False
        if op in ("=", ">", ">=", "<", "<=") and lit.type == "num":
            return _number_sql(key, op, float(lit.value), params), False  # type: ignore[arg-type]
        return f"has(tag_keys, {key})", False
    return "1", False


def _number_sql(key: str, op: str, w: float, params: _Params) -> str:
    """Pairs of ``key`` whose value may be a number ``op w``: a superset, whatever the
    rounding on the way. A number's pair is its decimal text (an int's exactly, a float's
    to 10 significant digits), so a value x with ``x >= w`` has a text that parses to at
    least ``w`` rounded the same way (rounding is monotonic); the bounds are widened by a
    relative 1e-9 for a parser an ulp off, strict comparisons are taken as non-strict, and
    text that is no number parses as 0 (which only adds candidates)."""
    if math.isnan(w):
        return "0"  # nothing compares with NaN (ordered or equal)
    if math.isinf(w):
        return f"has(tag_keys, {key})"
    rounded = (w, float(format(w, ".10g")))
    slack = max(abs(r) for r in rounded) * 1e-9 + 1e-300
    low, high = params.add(min(rounded) - slack), params.add(max(rounded) + slack)
    x = "toFloat64OrZero(v)"
    test = {"=": f"{x} >= {low} AND {x} <= {high}", ">": f"{x} >= {low}", ">=": f"{x} >= {low}",
            "<": f"{x} <= {high}", "<=": f"{x} <= {high}"}[op]
    return f"arrayExists((k, v) -> k = {key} AND {test}, tag_keys, tag_values)"


def _scoped_sql(f: ast.Field, op: str, lit: ast.Literal, params: _Params) -> tuple[str, bool] | None:
    """Tempo's scoped intrinsics that the index can narrow: ``trace:id`` (the ID columns,
    exactly), ``event:name`` (the ``event`` pairs) and ``instrumentation:name|version`` (the
    derived scope pairs). ``event.x`` / ``link.x`` / ``instrumentation.x`` need nothing here:
    their keys and values are in the pairs, so the generic attribute narrowing holds.
    None: not one of these."""
    if not isinstance(f, ast.Intrinsic) or lit.type != "str":
        return None
    if f.name == "trace:id" and op in ("=", "!="):
        hi, lo = split_id(int(str(lit.value), 16))
        same = f"(trace_hi = {params.add(hi)} AND trace_lo = {params.add(lo)})"
        return (same if op == "=" else f"NOT {same}"), True
    pair = {"event:name": "event", "instrumentation:name": f"{DERIVED}otel.scope.name",
            "instrumentation:version": f"{DERIVED}otel.scope.version"}.get(f.name)
    if pair is None:
        return None
    if op == "=" and lit.value != "":
        return (f"arrayExists((k, v) -> k = {params.add(pair)} AND v = {params.add(lit.value)}, "
                f"tag_keys, tag_values)"), False
    if f.name == "event:name":  # any comparison needs an event (or a span attribute named ``event``)
        return f"has(tag_keys, {params.add(pair)})", False
    return None


def candidates_sql(t: str, cond: ast.Cond, lo: int, hi: int,
                   also: tuple[ast.Cond, ...] = ()) -> tuple[str, dict[str, Any]]:
    """Traces with a window span passing ``cond`` and, for each of ``also``, one passing
    it (conditions that narrow nothing are left out), newest latest ``cond`` span first."""
    params = _Params()
    where, _ = condition_sql(cond, params)
    others = [w for w in (condition_sql(c, params)[0] for c in also) if w != "1" and w != where]
    p = params.values
    p.update(lo=lo, hi=hi)
    if not others:
        sql = (f"SELECT trace_hi, trace_lo, max(start_ns) AS latest FROM {t}span_index "
               f"WHERE start_ns >= %(lo)s AND start_ns <= %(hi)s AND {where} "
               "GROUP BY trace_hi, trace_lo ORDER BY latest DESC, trace_hi DESC, trace_lo DESC "
               "LIMIT %(limit)s OFFSET %(offset)s")
        return sql, p
    having = " AND ".join(f"countIf({w}) > 0" for w in [where] + others)
    sql = (f"SELECT trace_hi, trace_lo, maxIf(start_ns, {where}) AS latest FROM {t}span_index "
           f"WHERE start_ns >= %(lo)s AND start_ns <= %(hi)s AND ({' OR '.join([where] + others)}) "
           f"GROUP BY trace_hi, trace_lo HAVING {having} "
           "ORDER BY latest DESC, trace_hi DESC, trace_lo DESC LIMIT %(limit)s OFFSET %(offset)s")
    return sql, p


def rows_sql(t: str, cond: ast.Cond, lo: int, hi: int) -> tuple[str, dict[str, Any], bool]:
    """Index rows of the window that pass ``cond``: (SQL, params, exact)."""
    params = _Params()
    where, exact = condition_sql(cond, params)
    p = params.values
    p.update(lo=lo, hi=hi)
    sql = (f"SELECT trace_hi, trace_lo, start_ns, duration_ns, service, operation, {KIND_COLUMN}, {STATUS_COLUMN} "
           f"FROM {t}span_index WHERE start_ns >= %(lo)s AND start_ns <= %(hi)s AND {where}")
    return sql, p, exact


_BY_COLUMN = {ast.Intrinsic("name"): "operation", ast.Attribute("resource", "service.name"): "service",
              ast.Intrinsic("kind"): KIND_COLUMN, ast.Intrinsic("status"): STATUS_COLUMN}
_KIND_BY_VALUE = {v: k for k, v in KIND_VALUE.items()}


def counts_sql(t: str, cond: ast.Cond, lo: int, hi: int, step: int,
               by: tuple[ast.Field, ...]) -> tuple[str, dict[str, Any], bool]:
    """Span counts per (bucket, ``by`` columns) in the window: (SQL, params, exact)."""
    params = _Params()
    where, exact = condition_sql(cond, params)
    p = params.values
    p.update(lo=lo, hi=hi, step=step)
    cols = "".join(f", {_BY_COLUMN[f]}" for f in by)
    sql = (f"SELECT intDiv(start_ns, %(step)s) * %(step)s AS b, count(){cols} FROM {t}span_index "
           f"WHERE start_ns >= %(lo)s AND start_ns <= %(hi)s AND {where} GROUP BY b{cols}")
    return sql, p, exact


def label_of(f: ast.Field, value: str) -> tuple[str, object]:
    """A ``by`` column's value as ``evaluate.field_value`` would type it."""
    if f == ast.Intrinsic("kind"):
        return "kind", _KIND_BY_VALUE.get(value, "unspecified")
    if f == ast.Intrinsic("status"):
        return "status", value.lower()
    return "str", value
