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
              "traceDuration")
TRACE_INTRINSICS = frozenset({"rootServiceName", "rootName", "traceDuration"})
STATUS_VALUES = ("ok", "error", "unset")
KIND_VALUES = ("unspecified", "internal", "server", "client", "producer", "consumer")


@dataclass(frozen=True, slots=True)
class Intrinsic:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Attribute:
    """``span.x`` (scope "span"), ``resource.x`` ("resource") or ``.x`` ("": either)."""

    scope: str
    name: str

    def __str__(self) -> str:
        return f"{self.scope}.{self.name}"


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
    right-hand side)."""

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
                "avg_over_time", "sum_over_time")


@dataclass(frozen=True, slots=True)
class Metrics:
    func: str
    field: Field | None = None
    quantiles: tuple[float, ...] = ()
    by: tuple[Field, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    spans: SpansetExpr
    stages: tuple[Stage, ...] = ()
    metrics: Metrics | None = None
    text: str = field(default="", compare=False)

    @property
    def selected(self) -> tuple[Field, ...]:
        return tuple(f for s in self.stages if isinstance(s, Select) for f in s.fields)
