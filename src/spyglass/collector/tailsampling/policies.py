"""OpenTelemetry Collector ``tail_sampling`` policies, by their names there:

``always_sample``, ``status_code`` (``status_codes: [ERROR, OK, UNSET]``), ``latency``
(``threshold_ms``, optional ``upper_threshold_ms``: the trace's first start to last end),
``string_attribute`` (``key``, ``values``, ``enabled_regex_matching``, ``invert_match``;
span attributes and the resource's), ``numeric_attribute`` (``key``, ``min_value``,
``max_value``), ``probabilistic`` (``sampling_percentage``, decided on the trace ID so every
collector agrees), ``rate_limiting`` (``spans_per_second``; a budget per root service, as
Jaeger users expect per-service limits), ``and`` (``and_sub_policy``: all must keep it) and
``composite`` (``max_total_spans_per_second``, ``policy_order``, ``composite_sub_policy``,
``rate_allocation: [{policy, percent}]``: the first sub-policy that keeps the trace and still
has budget decides).

A trace is kept when any top-level policy keeps it. The file is YAML or JSON, either the
processor's own block or ``tail_sampling:`` around it; ``decision_wait`` (Go duration or
seconds, default 10s) and ``num_traces`` (default 50000) sit next to ``policies``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from spyglass.model import Span, StatusCode

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class PolicyError(ValueError):
    """The policies file is not valid; the text names the policy and the field."""


def trace_hash(trace_id: int) -> int:
    """A 64-bit mix of the trace ID: uniform even for sequential IDs."""
    x = ((trace_id ^ (trace_id >> 64)) & _MASK64) * _GOLDEN & _MASK64
    return x ^ (x >> 29)


class Policy:
    name: str = ""
    kind: str = ""

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        raise NotImplementedError


class AlwaysSample(Policy):
    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        return True


class StatusCodePolicy(Policy):
    def __init__(self, codes: set[StatusCode]) -> None:
        self.codes = codes

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        return any(s.status.code in self.codes for s in spans)


class LatencyPolicy(Policy):
    def __init__(self, threshold_ns: int, upper_ns: int) -> None:
        self.threshold_ns = threshold_ns
        self.upper_ns = upper_ns

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        start = min(s.start_time_ns for s in spans)
        end = max(s.start_time_ns + s.duration_ns for s in spans)
        d = end - start
        if self.upper_ns:
            return self.threshold_ns <= d <= self.upper_ns
        return d >= self.threshold_ns


def _attr_values(span: Span, key: str) -> list[Any]:
    out = [kv.value for kv in span.attributes if kv.key == key]
    out.extend(kv.value for kv in span.resource.attributes if kv.key == key)
    if key == "service.name":
        out.append(span.resource.service_name)
    return out


class StringAttributePolicy(Policy):
    def __init__(self, key: str, values: list[str], regex: bool, invert: bool) -> None:
        self.key = key
        self.values = set(values)
        self.patterns = [re.compile(v) for v in values] if regex else []
        self.invert = invert

    def _match(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self.patterns:
            return any(p.search(value) for p in self.patterns)
        return value in self.values

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        found = any(self._match(v) for s in spans for v in _attr_values(s, self.key))
        return found != self.invert


class NumericAttributePolicy(Policy):
    def __init__(self, key: str, low: float, high: float) -> None:
        self.key, self.low, self.high = key, low, high

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        for s in spans:
            for v in _attr_values(s, self.key):
                if isinstance(v, (int, float)) and not isinstance(v, bool) and self.low <= v <= self.high:
                    return True
        return False


class ProbabilisticPolicy(Policy):
    def __init__(self, percentage: float) -> None:
        self.threshold = int(max(0.0, min(100.0, percentage)) / 100.0 * _MASK64)

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        return trace_hash(spans[0].trace_id) <= self.threshold if self.threshold else False


class _Budget:
    """Spans allowed in the current one-second window."""

    __slots__ = ("limit", "second", "used")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.second = -1
        self.used = 0

    def take(self, n: int, now: float) -> bool:
        sec = int(now)
        if sec != self.second:
            self.second, self.used = sec, 0
        if self.used + n > self.limit:
            return False
        self.used += n
        return True


class RateLimitingPolicy(Policy):
    _MAX_SERVICES = 10_000

    def __init__(self, spans_per_second: float) -> None:
        self.spans_per_second = spans_per_second
        self.budgets: dict[str, _Budget] = {}

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        root = next((s for s in spans if not s.parent_span_id), spans[0])
        service = root.resource.service_name
        budget = self.budgets.get(service)
        if budget is None:
            if len(self.budgets) >= self._MAX_SERVICES:
                self.budgets.clear()
            budget = self.budgets[service] = _Budget(self.spans_per_second)
        return budget.take(len(spans), now)


class AndPolicy(Policy):
    def __init__(self, subs: list[Policy]) -> None:
        self.subs = subs

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        return all(p.evaluate(spans, now) for p in self.subs)


class CompositePolicy(Policy):
    def __init__(self, subs: list[Policy], total: float, allocation: dict[str, float]) -> None:
        self.subs = subs
        self.total = _Budget(total)
        self.budgets = {p.name: _Budget(total * allocation.get(p.name, 100.0) / 100.0) for p in subs}

    def evaluate(self, spans: Sequence[Span], now: float) -> bool:
        n = len(spans)
        for p in self.subs:
            if p.evaluate(spans, now):
                budget = self.budgets[p.name]
                if budget.take(n, now):
                    if self.total.take(n, now):
                        return True
                    budget.used -= n
                    return False
        return False


def _get(cfg: Mapping[str, Any], key: str, what: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    value = cfg.get(key, default)
    if value is None:
        raise PolicyError(f"{what}: '{key}' is required")
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise PolicyError(f"{what}: '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    if not isinstance(value, kind):
        raise PolicyError(f"{what}: '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


_STATUS = {"ERROR": StatusCode.ERROR, "OK": StatusCode.OK, "UNSET": StatusCode.UNSET}


def build_policy(cfg: Any, where: str) -> Policy:
    if not isinstance(cfg, Mapping):
        raise PolicyError(f"{where} must be a mapping")
    kind = cfg.get("type")
    name = str(cfg.get("name") or kind)
    what = f"policy {name!r}"
    body = cfg.get(kind, {}) if isinstance(kind, str) else {}
    if not isinstance(body, Mapping):
        raise PolicyError(f"{what}: '{kind}' must be a mapping")
    num = (int, float)
    policy: Policy
    if kind == "always_sample":
        policy = AlwaysSample()
    elif kind == "status_code":
        codes = _get(body, "status_codes", what, list)
        try:
            policy = StatusCodePolicy({_STATUS[str(c).upper()] for c in codes})
        except KeyError as exc:
            raise PolicyError(f"{what}: unknown status code {exc.args[0]!r} (ERROR, OK or UNSET)") from None
    elif kind == "latency":
        policy = LatencyPolicy(int(_get(body, "threshold_ms", what, num) * 1e6),
                               int(body.get("upper_threshold_ms", 0) * 1e6))
    elif kind == "string_attribute":
        values = _get(body, "values", what, list)
        try:
            policy = StringAttributePolicy(_get(body, "key", what, str), [str(v) for v in values],
                                           bool(body.get("enabled_regex_matching")), bool(body.get("invert_match")))
        except re.error as exc:
            raise PolicyError(f"{what}: bad regular expression: {exc}") from None
    elif kind == "numeric_attribute":
        policy = NumericAttributePolicy(_get(body, "key", what, str),
                                        float(body.get("min_value", float("-inf"))),
                                        float(body.get("max_value", float("inf"))))
    elif kind == "probabilistic":
        policy = ProbabilisticPolicy(float(_get(body, "sampling_percentage", what, num)))
    elif kind == "rate_limiting":
        policy = RateLimitingPolicy(float(_get(body, "spans_per_second", what, num)))
    elif kind == "and":
        subs = _get(body, "and_sub_policy", what, list)
        policy = AndPolicy([build_policy(p, f"{what} and_sub_policy[{i}]") for i, p in enumerate(subs)])
    elif kind == "composite":
        subs = [build_policy(p, f"{what} composite_sub_policy[{i}]")
                for i, p in enumerate(_get(body, "composite_sub_policy", what, list))]
        order = body.get("policy_order") or [p.name for p in subs]
        by_name = {p.name: p for p in subs}
        missing = [n for n in order if n not in by_name]
        if missing:
            raise PolicyError(f"{what}: policy_order names unknown sub-policies {missing}")
        allocation = {str(a.get("policy")): float(a.get("percent", 0)) for a in body.get("rate_allocation") or []}
        policy = CompositePolicy([by_name[n] for n in order],
                                 float(_get(body, "max_total_spans_per_second", what, num)), allocation)
    else:
        raise PolicyError(f"{what}: unknown type {kind!r}; known: always_sample, status_code, latency, "
                          "string_attribute, numeric_attribute, probabilistic, rate_limiting, and, composite")
    policy.name, policy.kind = name, str(kind)
    return policy


@dataclass(slots=True)
class TailConfig:
    policies: list[Policy]
    decision_wait_s: float = 10.0
    num_traces: int = 50_000
    max_spans: int = 0  # spans held in all; 0: 1000 per trace slot

    def keep(self, spans: Sequence[Span], now: float | None = None) -> bool:
        t = time.time() if now is None else now
        return any(p.evaluate(spans, t) for p in self.policies)


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        from spyglass.gocompat.godur import parse_duration

        try:
            return parse_duration(value.strip()) / 1e9
        except ValueError:
            pass
    raise PolicyError(f"{what} must be a duration such as 10s, got {value!r}")


def parse_tail_config(doc: Any) -> TailConfig:
    if isinstance(doc, Mapping) and isinstance(doc.get("tail_sampling"), Mapping):
        doc = doc["tail_sampling"]
    if not isinstance(doc, Mapping):
        raise PolicyError("the tail sampling file must be a mapping with 'policies'")
    policies = doc.get("policies")
    if not isinstance(policies, list) or not policies:
        raise PolicyError("'policies' must be a non-empty list")
    wait = _seconds(doc.get("decision_wait", "10s"), "decision_wait")
    num = doc.get("num_traces", 50_000)
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise PolicyError(f"num_traces must be a positive integer, got {num!r}")
    if wait < 0:
        raise PolicyError("decision_wait must not be negative")
    return TailConfig([build_policy(p, f"policies[{i}]") for i, p in enumerate(policies)], wait, num)


def load_tail_config(path: str, reader: Callable[[str], str] | None = None) -> TailConfig:
    """The file at ``path`` (YAML, of which JSON is a subset)."""
    import yaml

    try:
        text = reader(path) if reader else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise PolicyError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        try:
            doc = json.loads(text)
        except ValueError:
            raise PolicyError(f"{path} is not valid YAML or JSON: {exc}") from None
    return parse_tail_config(doc)
