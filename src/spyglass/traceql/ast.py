"""The typed syntax tree of a query (``parser.parse`` builds it, ``evaluate`` reads it).

A query is a span-set expression, optionally followed by pipeline stages; a metrics
stage (``rate()``, ``count_over_time()``, ...) can only be the last one. Every node is a
frozen dataclass, so trees compare by value (the property tests rely on it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

# -- values ------------------------------------------------------------------------------------
# A literal's type decides what it can compare with: "str", "num" (int or float), "bool",
# "dur" (integer nanoseconds), "status" / "kind" (lower-case names), "nil".


@dataclass(frozen=True, slots=True)
class Literal:
    type: str
    value: object


NIL = Literal("nil", None)

INTRINSICS = ("name", "status", "kind", "duration", "statusMessage", "rootServiceName", "rootName",
              "traceDuration", "span:id", "span:parentID", "trace:id", "event:name", "event:timeSinceStart",
              "link:traceID", "link:spanID", "instrumentation:name", "instrumentation:version")
TRACE_INTRINSICS = frozenset({"rootServiceName", "rootName", "traceDuration"})
# Tempo's scoped spellings of the intrinsics above: same field, so the translators see one name.
INTRINSIC_ALIASES = {"span:name": "name", "span:status": "status", "span:kind": "kind", "span:duration": "duration",
                     "span:statusMessage": "statusMessage", "trace:rootService": "rootServiceName",
                     "trace:rootName": "rootName", "trace:duration": "traceDuration"}
# Fields with one value per event or link: a comparison holds when any of the values satisfies it.
MULTI_INTRINSICS = frozenset({"event:name", "event:timeSinceStart", "link:traceID", "link:spanID"})
MULTI_SCOPES = frozenset({"event", "link"})
ATTRIBUTE_SCOPES = ("span", "resource", "event", "link", "instrumentation")
STATUS_VALUES = ("ok", "error", "unset")
KIND_VALUES = ("unspecified", "internal", "server", "client", "producer", "consumer")


@dataclass(frozen=True, slots=True)
class Intrinsic:
    """``name`` is canonical (``INTRINSICS``); ``spelling`` keeps how the query wrote it
    (``span:name``) for labels, and takes no part in equality, so backends match one name."""

    name: str
    spelling: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.spelling or self.name


@dataclass(frozen=True, slots=True)
class Attribute:
    """``span.x`` (scope "span"), ``resource.x`` ("resource"), ``.x`` ("": either), and
    ``event.x``, ``link.x`` (any event's / link's attributes), ``instrumentation.x`` (the
    instrumentation scope's attributes)."""

    scope: str
    name: str

    def __str__(self) -> str:
        return f"{self.scope}.{self.name}"


def is_multi(f: Field) -> bool:
    """Whether ``f`` has one value per event or link of a span rather than one per span."""
    if isinstance(f, Intrinsic):
        return f.name in MULTI_INTRINSICS
    return f.scope in MULTI_SCOPES


Field = Union[Intrinsic, Attribute]

# -- span conditions (inside ``{ }``) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Compare:
    field: Field
    op: str  # = != > >= < <= =~ !~
    value: Literal


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # && ||
    left: Cond
    right: Cond


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


Cond = Union[Compare, BoolOp, Const]
TRUE = Const(True)

# -- span-set expressions -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filter:
    cond: Cond


@dataclass(frozen=True, slots=True)
class SetOp:
    """``&&`` / ``||`` between span sets, or a structural operator: ``>`` child, ``>>``
    descendant, ``~`` sibling, ``<`` parent, ``<<`` ancestor (the result is spans of the
    right-hand side); ``!>`` ``!>>`` ``!~`` ``!<`` ``!<<``: right-hand spans *without* that
    relation to any left-hand span; ``&>`` ``&>>`` ``&~`` ``&<`` ``&<<``: the related spans of
    both sides."""

    op: str
    left: SpansetExpr
    right: SpansetExpr


SpansetExpr = Union[Filter, SetOp]

# -- pipeline ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``count() > 3``, ``avg(duration) >= 1s``: keeps span sets whose aggregate compares true."""

    func: str  # count avg min max sum
    field: Field | None
    op: str
    value: Literal


@dataclass(frozen=True, slots=True)
class Select:
    fields: tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class FilterStage:
    """``| { cond }``: keeps the spans of each set that satisfy ``cond``."""

    cond: Cond


Stage = Union[Aggregate, Select, FilterStage]

METRIC_FUNCS = ("rate", "count_over_time", "quantile_over_time", "min_over_time", "max_over_time",
                "avg_over_time", "sum_over_time", "histogram_over_time")
SECOND_STAGE_FUNCS = ("topk", "bottomk")


@dataclass(frozen=True, slots=True)
class Metrics:
    """A metrics function; ``top`` is an optional second stage ``| topk(n)`` / ``| bottomk(n)``
    as (function, n): at each timestamp only the n highest / lowest series keep their value."""

    func: str
    field: Field | None = None
    quantiles: tuple[float, ...] = ()
    by: tuple[Field, ...] = ()
    top: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Query:
    spans: SpansetExpr
    stages: tuple[Stage, ...] = ()
    metrics: Metrics | None = None
    text: str = field(default="", compare=False)

    @property
    def selected(self) -> tuple[Field, ...]:
        return tuple(f for s in self.stages if isinstance(s, Select) for f in s.fields)
