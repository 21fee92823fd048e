"""Searches, metrics and tag listings over any backend that can name candidate traces.

A backend supplies three narrow hooks (``spyglass.storage.api.traceql.TraceQLReader``):
candidate traces for a span condition (newest first, with an upper bound of each trace's
ordering key), one trace's spans, and optionally the spans of a window that may satisfy a
condition. Everything the query *means* is decided here and in ``evaluate``.

Traces are fetched a batch of candidates at a time (``GetTraces``: one backend round for
many traces, not one per trace), the batches growing from a few traces while few of them
match, so a search that stops after ``limit`` traces fetches few it did not need.

Search order: newest first by each trace's *key*, the latest start of an in-window span
satisfying the query's driving condition (``evaluate.driving``). A backend's bound may be
higher than the true key (its SQL may only narrow), so traces wait in a heap until no
later candidate can outrank them; the scan stops once ``limit`` traces are out.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from spyglass.model import Span
from spyglass.storage.api.deadline import check_deadline
from spyglass.traceql import ast
from spyglass.traceql.evaluate import (TraceMatch, TraceView, driving, evaluate, field_value, fields_of,
                                       final_spans, in_window, matches, required, uses_trace_intrinsics)
from spyglass.traceql.parser import TraceQLError


class Candidates(Protocol):
    """(bound, trace ID) of the traces with an in-window span satisfying ``cond`` (see
    ``spyglass.storage.api.traceql``); a backend may leave out traces lacking, for some
    condition of ``also``, an in-window span satisfying it (those cannot match)."""

    def __call__(self, cond: ast.Cond, start_ns: int, end_ns: int,
                 also: tuple[ast.Cond, ...] = ()) -> Iterable[tuple[int, int]]: ...


# the spans of each of several traces (an empty list for a trace that is not stored)
GetTraces = Callable[[list[int]], dict[int, list[Span]]]
WindowSpans = Callable[[ast.Cond, int, int, frozenset[ast.Field]], "Iterable[tuple[Span, bool]] | None"]
# (labels as typed field values, bucket start, count) rows summed by the backend; None: cannot
Counts = Callable[[ast.Cond, int, int, int, tuple[ast.Field, ...]], "Iterable[tuple[tuple, int, int]] | None"]

MAX_SERIES = 1000
MAX_POINTS = 11_000
_FIRST_BATCH = 8  # candidate traces fetched together: the first batch, doubling up to the last
_LAST_BATCH = 64


def pinned_trace(cond: ast.Cond) -> int | None:
    """The trace ID a condition requires (a top-level ``&&`` term ``trace:id = "..."``), if any."""
    if isinstance(cond, ast.Compare):
        if cond.field == ast.Intrinsic("trace:id") and cond.op == "=" and cond.value.type == "str":
            return int(str(cond.value.value), 16)
        return None
    if isinstance(cond, ast.BoolOp) and cond.op == "&&":
        left = pinned_trace(cond.left)
        return left if left is not None else pinned_trace(cond.right)
    return None


def _by_trace_id(candidates: Candidates, get_traces: GetTraces) -> Candidates:
    """``candidates`` that answer a condition pinned to one trace (``trace:id = "..."``) from
    that trace alone, as a trace lookup, whatever the backend's index can narrow."""
    def pinned_or_scan(cond: ast.Cond, start_ns: int, end_ns: int,
                       also: tuple[ast.Cond, ...] = ()) -> Iterable[tuple[int, int]]:
        trace_id = pinned_trace(cond)
        if trace_id is None:
            return candidates(cond, start_ns, end_ns, also)
        spans = get_traces([trace_id]).get(trace_id, [])
        keys = [s.start_time_ns for s in in_window(spans, start_ns, end_ns) if matches(cond, s, None)]
        return [(max(keys), trace_id)] if keys else []
    return pinned_or_scan


def _fetched(pairs: Iterable[tuple[int, int]], get_traces: GetTraces,
             hits: list[int] | None = None) -> Iterator[tuple[int, int, list[Span] | None]]:
    """(bound, trace ID, spans) for each candidate pair, spans None for a trace already
    given. Candidates are read ahead a batch of new traces at a time, fetched together; a
    batch is twice the last while the consumer found (``hits[0]``) fewer traces than it
    was given (always, without ``hits``: the consumer wants every trace), up to
    ``_LAST_BATCH``, so a search whose first candidates match fetches about what it returns."""
    seen: set[int] = set()
    it = iter(pairs)
    size, given = _FIRST_BATCH, 0
    while True:
        batch: list[tuple[int, int]] = []
        new: list[int] = []
        for bound, trace_id in it:
            batch.append((bound, trace_id))
            if trace_id not in seen:
                seen.add(trace_id)
                new.append(trace_id)
                if len(new) >= size:
                    break
        if not batch:
            return
        check_deadline()
        traces = get_traces(new) if new else {}
        for bound, trace_id in batch:
            yield bound, trace_id, traces.pop(trace_id, []) if trace_id in traces else None
        given += len(new)
        if hits is None or hits[0] < given:
            size = min(size * 2, _LAST_BATCH)


def search(query: ast.Query, start_ns: int, end_ns: int, limit: int, candidates: Candidates,
           get_traces: GetTraces) -> list[TraceMatch]:
    if query.metrics is not None:
        raise TraceQLError("a metrics query (rate(), count_over_time(), ...) is answered by the metrics API, "
                           "not by search")
    d = driving(query.spans)
    also = tuple(c for c in required(query.spans) if c != d)
    candidates = _by_trace_id(candidates, get_traces)
    heap: list[tuple[int, int, TraceMatch]] = []
    out: list[TraceMatch] = []
    hits = [0]
    for bound, trace_id, spans in _fetched(candidates(d, start_ns, end_ns, also), get_traces, hits):
        while heap and -heap[0][0] >= bound:
            out.append(heapq.heappop(heap)[2])
            if len(out) >= limit:
                return out
        if not spans:
            continue
        view = TraceView(spans)
        keys = [s.start_time_ns for s in in_window(spans, start_ns, end_ns) if matches(d, s, view)]
        if not keys:
            continue
        m = evaluate(query, spans, start_ns, end_ns)
        if m is not None:
            hits[0] += 1
            m.key_ns = max(keys)
            heapq.heappush(heap, (-m.key_ns, -trace_id, m))
    while heap and len(out) < limit:
        out.append(heapq.heappop(heap)[2])
    return out


# -- metrics ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Series:
    """One time series: labels (name, typed value or None) and (timestamp ns, value) samples."""

    labels: tuple[tuple[str, object], ...]
    samples: list[tuple[int, float]] = field(default_factory=list)


def _span_level(query: ast.Query) -> bool:
    m = query.metrics
    assert m is not None
    if not isinstance(query.spans, ast.Filter) or any(not isinstance(s, ast.Select) for s in query.stages):
        return False
    used = fields_of(query.spans.cond) | set(m.by) | ({m.field} if m.field else set())
    return not uses_trace_intrinsics(used)


def _number(fv: tuple[str, object] | None) -> float | None:
    if fv is None:
        return None
    if fv[0] == "dur":
        return fv[1] / 1e9  # type: ignore[operator]
    if fv[0] == "num":
        return float(fv[1])  # type: ignore[arg-type]
    return None


def _quantile(values: list[float], q: float) -> float:
    values.sort()
    return values[max(0, math.ceil(q * len(values)) - 1)]


def metrics(query: ast.Query, start_ns: int, end_ns: int, step_ns: int, candidates: Candidates,
            get_traces: GetTraces, window_spans: WindowSpans | None = None, counts: Counts | None = None) -> list[Series]:
    """The series of a metrics query over ``[start_ns, end_ns)`` in steps of ``step_ns``
    (timestamps are multiples of the step)."""
    m = query.metrics
    if m is None:
        raise TraceQLError("not a metrics query: end it with | rate(), | count_over_time() or "
                           "| quantile_over_time(duration, .99)")
    if step_ns <= 0 or end_ns <= start_ns:
        raise TraceQLError("metrics need start < end and a positive step")
    first = start_ns // step_ns * step_ns
    if (end_ns - first) // step_ns > MAX_POINTS:
        raise TraceQLError(f"more than {MAX_POINTS} points per series: use a larger step")
    last = end_ns - 1
    groups: dict[tuple, dict[int, list]] = {}
    by = m.by
    value_field = m.field
    counting = m.func in ("rate", "count_over_time")
    histogram = m.func == "histogram_over_time"

    def cells_of(labels: tuple) -> dict:
        cells = groups.get(labels)
        if cells is None:
            if len(groups) >= MAX_SERIES:
                raise TraceQLError(f"more than {MAX_SERIES} series: group by fewer or rarer attributes")
            cells = groups[labels] = {}
        return cells

    def add(span: Span, view: TraceView | None) -> None:
        labels = tuple(field_value(f, span, view) for f in by)
        if histogram:
            assert value_field is not None
            upper = _log2_bucket(field_value(value_field, span, view))
            if upper is None:
                return
            labels += (upper,)
        cells = cells_of(labels)
        bucket = span.start_time_ns // step_ns * step_ns
        if counting or histogram:
            cells[bucket] = cells.get(bucket, 0) + 1
            return
        cell = cells.get(bucket)
        if cell is None:
            cell = cells[bucket] = []
        if value_field is None:
            cell.append(1.0)
        else:
            v = _number(field_value(value_field, span, view))
            if v is not None:
                cell.append(v)

    spans_iter = None
    if pinned_trace(driving(query.spans)) is not None:  # one trace: read it, not a window's index
        candidates, counts, window_spans = _by_trace_id(candidates, get_traces), None, None
    if counting and _span_level(query) and counts is not None:
        assert isinstance(query.spans, ast.Filter)
        summed = counts(query.spans.cond, start_ns, last, step_ns, by)
        if summed is not None:
            for labels, bucket, n in summed:
                cells = cells_of(labels)
                cells[bucket] = cells.get(bucket, 0) + n
            return _series(m, groups, first, end_ns, step_ns)
    if _span_level(query) and window_spans is not None:
        assert isinstance(query.spans, ast.Filter)
        cond = query.spans.cond
        needed = frozenset(fields_of(cond) | set(by) | ({value_field} if value_field else set()))
        spans_iter = window_spans(cond, start_ns, last, needed)
        if spans_iter is not None:
            for n, (span, exact) in enumerate(spans_iter):
                if not n % 4096:
                    check_deadline()
                if not (start_ns <= span.start_time_ns <= last):
                    continue
                if exact or matches(cond, span, None):
                    add(span, None)
    if spans_iter is None:
        d = driving(query.spans)
        for _, _, spans in _fetched(candidates(d, start_ns, last), get_traces):
            if not spans:
                continue
            view = TraceView(spans)
            for span in final_spans(query, view, in_window(spans, start_ns, last)):
                add(span, view)
    return _series(m, groups, first, end_ns, step_ns)


def _label_name(f: ast.Field) -> str:
    return str(f)


def _log2_bucket(fv: tuple[str, object] | None) -> tuple[str, object] | None:
    """The upper bound of a value's power-of-two bucket (Tempo's ``__bucket`` label):
    seconds for a duration (the bucket of 2^n nanoseconds), the number itself otherwise;
    0 for values at or below zero, None for values that are not numbers."""
    if fv is None or fv[0] not in ("dur", "num"):
        return None
    v = fv[1]
    if fv[0] == "dur":
        ns = int(v)  # type: ignore[call-overload]
        return ("num", 0.0) if ns <= 0 else ("num", (1 << (ns - 1).bit_length()) / 1e9)
    x = float(v)  # type: ignore[arg-type]
    if x <= 0 or math.isnan(x) or math.isinf(x):
        return "num", 0.0
    return "num", float(2.0 ** math.ceil(math.log2(x)))


def _series(m: ast.Metrics, groups: dict[tuple, dict[int, list]], first: int, end_ns: int,
            step_ns: int) -> list[Series]:
    names = [_label_name(f) for f in m.by]
    if m.func == "histogram_over_time":
        names.append("__bucket")
    out: list[Series] = []
    stamps = range(first, end_ns, step_ns)
    for labels, cells in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        base = tuple((name, None if fv is None else fv[1]) for name, fv in zip(names, labels))
        if m.func in ("rate", "count_over_time", "histogram_over_time"):
            scale = 1e9 / step_ns if m.func == "rate" else 1.0
            out.append(Series(base, [(t, cells.get(t, 0) * scale) for t in stamps]))
        elif m.func == "quantile_over_time":
            for q in m.quantiles:
                out.append(Series(base + (("p", q),),
                                  [(t, _quantile(cells[t], q)) for t in stamps if cells.get(t)]))
        else:
            fn = {"min_over_time": min, "max_over_time": max, "sum_over_time": sum,
                  "avg_over_time": lambda v: sum(v) / len(v)}[m.func]
            out.append(Series(base, [(t, float(fn(cells[t]))) for t in stamps if cells.get(t)]))
    return _top(out, *m.top) if m.top else out


def _top(series: list[Series], func: str, k: int) -> list[Series]:
    """``topk(k)`` / ``bottomk(k)``: at each timestamp only the k highest / lowest values stay
    (ties go to the series listed first); series left with no value are dropped."""
    sign = -1.0 if func == "topk" else 1.0
    by_stamp: dict[int, list[tuple[float, int]]] = {}
    for i, s in enumerate(series):
        for t, v in s.samples:
            by_stamp.setdefault(t, []).append((sign * v, i))
    kept: set[tuple[int, int]] = set()
    for t, ranked in by_stamp.items():
        kept.update((i, t) for _, i in sorted(ranked)[:k])
    out = []
    for i, s in enumerate(series):
        samples = [(t, v) for t, v in s.samples if (i, t) in kept]
        if samples:
            out.append(Series(s.labels, samples))
    return out


def instant(query: ast.Query, start_ns: int, end_ns: int, candidates: Candidates, get_traces: GetTraces,
            window_spans: WindowSpans | None = None, counts: Counts | None = None) -> list[tuple[tuple, float]]:
    """One value per series over all of ``[start_ns, end_ns)`` (Tempo's instant query):
    (labels, value) pairs. Computed as a range query whose single step is ``end_ns`` long,
    so every span of the window falls in its one bucket (timestamp 0) whatever the backend's
    bucket arithmetic; ``rate()`` is then per second of the window, not of that step."""
    m = query.metrics
    if m is None:
        raise TraceQLError("not a metrics query: end it with | rate(), | count_over_time() or "
                           "| quantile_over_time(duration, .99)")
    if end_ns <= start_ns or start_ns < 0:
        raise TraceQLError("metrics need 0 <= start < end")
    counted = query
    if m.func == "rate":
        counted = dataclasses.replace(query, metrics=dataclasses.replace(m, func="count_over_time"))
    out = []
    seconds = (end_ns - start_ns) / 1e9
    for s in metrics(counted, start_ns, end_ns, end_ns, candidates, get_traces, window_spans, counts):
        for t, v in s.samples:
            if t == 0:
                out.append((s.labels, v / seconds if m.func == "rate" else v))
    return out


# -- tags ------------------------------------------------------------------------------------------------

MAX_TAG_TRACES = 500


def _sample(cond: ast.Cond, start_ns: int, end_ns: int, candidates: Candidates, get_traces: GetTraces) -> Iterator[tuple[Span, TraceView]]:
    taken = 0
    for _, _, spans in _fetched(_by_trace_id(candidates, get_traces)(cond, start_ns, end_ns), get_traces):
        if spans is None:
            continue
        taken += 1
        if spans:
            view = TraceView(spans)
            for s in in_window(spans, start_ns, end_ns):
                if matches(cond, s, view):
                    yield s, view
        if taken >= MAX_TAG_TRACES:
            return


def tag_names(start_ns: int, end_ns: int, candidates: Candidates, get_traces: GetTraces) -> dict[str, set[str]]:
    """Attribute names per scope (``span``, ``resource``, ``event``, ``link``,
    ``instrumentation``) in the newest traces of the window."""
    out: dict[str, set[str]] = {"span": set(), "resource": {"service.name"}, "event": set(), "link": set(),
                                "instrumentation": set()}
    for span, _ in _sample(ast.TRUE, start_ns, end_ns, candidates, get_traces):
        out["span"].update(kv[0] for kv in span.attributes)
        out["resource"].update(kv[0] for kv in span.resource.attributes)
        for event in span.events:
            out["event"].update(kv[0] for kv in event.attributes)
        for link in span.links:
            out["link"].update(kv[0] for kv in link.attributes)
        out["instrumentation"].update(kv[0] for kv in span.scope.attributes)
    return out


def tag_values(fld: ast.Field, cond: ast.Cond, start_ns: int, end_ns: int, candidates: Candidates,
               get_traces: GetTraces, limit: int = 1000) -> list[tuple[str, object]]:
    """Distinct typed values of ``fld`` on spans satisfying ``cond`` in the newest traces."""
    values: dict[tuple[str, object], None] = {}
    for span, view in _sample(cond, start_ns, end_ns, candidates, get_traces):
        fv = field_value(fld, span, view)
        for one in (fv[1] if fv is not None and fv[0] == "many" else (fv,)):  # type: ignore[union-attr]
            if one is not None and one[0] in ("str", "num", "bool", "dur", "status", "kind"):
                values[one] = None
        if len(values) >= limit:
            break
    return sorted(values, key=lambda v: (v[0], str(v[1])))
