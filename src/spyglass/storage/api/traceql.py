"""The optional query-language ability: TraceQL searches, metrics and tag listings.

A backend implements three hooks and inherits the rest (``spyglass.traceql.engine`` decides
what matches, so every backend answers the same):

* ``tql_candidates(cond, start, end)``: ``(bound, trace_id)`` pairs with ``bound`` never
  increasing, such that every trace holding a span that starts in ``[start, end]`` (0 =
  unbounded) and satisfies ``cond`` appears, with ``bound`` at least the latest such start.
  Extra traces are fine (they are checked); missing ones are a bug.
* ``tql_narrowed_candidates(cond, start, end, also)``: optionally, ``tql_candidates`` that may
  leave out traces lacking, for some condition of ``also``, an in-window span satisfying it
  (the other sides of a structural query: fewer traces to fetch and check).
* ``tql_trace(trace_id)``: all spans of a trace; ``tql_traces(trace_ids)`` those of several
  (by default one ``tql_trace`` each; a backend that can fetch many at once overrides it).
* ``tql_counts(cond, start, end, step, by)``: optionally, counts summed in the backend
  (``rate()`` and ``count_over_time()`` over index columns).
* ``tql_window_spans(cond, start, end, fields)``: optionally, the spans starting in
  ``[start, end]`` that may satisfy ``cond``, each with ``True`` when the backend proved it
  does (then the span may be partial: only ``fields``, name, kind, duration, start and
  service need be filled); None when the backend cannot list spans cheaply.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable

from spyglass.model import Span
from spyglass.traceql import ast, engine
from spyglass.traceql.evaluate import TraceMatch


class TraceQLReader(abc.ABC):
    @abc.abstractmethod
    def tql_candidates(self, cond: ast.Cond, start_ns: int, end_ns: int) -> Iterable[tuple[int, int]]: ...

    @abc.abstractmethod
    def tql_trace(self, trace_id: int) -> list[Span]: ...

    def tql_traces(self, trace_ids: list[int]) -> dict[int, list[Span]]:
        return {t: self.tql_trace(t) for t in trace_ids}

    def tql_narrowed_candidates(self, cond: ast.Cond, start_ns: int, end_ns: int,
                                also: tuple[ast.Cond, ...] = ()) -> Iterable[tuple[int, int]]:
        return self.tql_candidates(cond, start_ns, end_ns)

    def tql_window_spans(self, cond: ast.Cond, start_ns: int, end_ns: int,
                         fields: frozenset[ast.Field]) -> Iterable[tuple[Span, bool]] | None:
        return None

    def tql_counts(self, cond: ast.Cond, start_ns: int, end_ns: int, step_ns: int,
                   by: tuple[ast.Field, ...]) -> Iterable[tuple[tuple, int, int]] | None:
        """Optionally, span counts per (labels, step bucket) summed by the backend, when it
        can decide ``cond`` and the ``by`` fields exactly from its index; labels are typed
        field values as ``evaluate.field_value`` gives them. None: the engine counts."""
        return None

    def find_traces_traceql(self, query: ast.Query, start_ns: int = 0, end_ns: int = 0,
                            limit: int = 20) -> list[TraceMatch]:
        """Traces matching ``query`` among spans starting in ``[start_ns, end_ns]``, newest first."""
        return engine.search(query, start_ns, end_ns, limit, self.tql_narrowed_candidates, self.tql_traces)

    def traceql_metrics(self, query: ast.Query, start_ns: int, end_ns: int, step_ns: int) -> list[engine.Series]:
        return engine.metrics(query, start_ns, end_ns, step_ns, self.tql_narrowed_candidates, self.tql_traces,
                              self.tql_window_spans, self.tql_counts)

    def traceql_instant(self, query: ast.Query, start_ns: int, end_ns: int) -> list[tuple[tuple, float]]:
        """One (labels, value) per series over the whole window (Tempo's instant query)."""
        return engine.instant(query, start_ns, end_ns, self.tql_narrowed_candidates, self.tql_traces,
                              self.tql_window_spans, self.tql_counts)

    def traceql_tag_names(self, start_ns: int = 0, end_ns: int = 0) -> dict[str, set[str]]:
        return engine.tag_names(start_ns, end_ns, self.tql_narrowed_candidates, self.tql_traces)

    def traceql_tag_values(self, fld: ast.Field, cond: ast.Cond = ast.TRUE, start_ns: int = 0,
                           end_ns: int = 0) -> list[tuple[str, object]]:
        return engine.tag_values(fld, cond, start_ns, end_ns, self.tql_narrowed_candidates, self.tql_traces)
