"""The query language over the day files: span conditions become SQL over ``spans``/``names``.

A day's ``names`` table gives each span's service, name and kind by ``name_id``, and the
``spans`` index row holds its start and duration. So for every name ID of every day the
condition is partially evaluated in Python (``partial``): comparisons on ``name``,
``kind`` and ``resource.service.name`` become true or false, comparisons on ``duration``
become SQL on ``s.duration``, and everything else (attributes, status) is *unknown*. Name IDs
whose condition is false are never read; the others are walked newest first in time slices
(``Scan.rows``), each with its SQL filter.

When no unknown part is left the index row alone proves the match. Otherwise the row's chunk
(the trace's spans of one write batch) is decoded once per scan and the span is checked in
Python, before its trace is fetched. Rows are read a slice at a time, so no connection is
held while the engine fetches traces from the same files.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from spyglass.analytics.rollup import MINUTE_NS
from spyglass.model import Resource, Span, SpanKind
from spyglass.storage.api.deadline import check_deadline
from spyglass.storage.sqlite import schema
from spyglass.storage.sqlite.days import DayDirectory
from spyglass.traceql import ast
from spyglass.traceql.evaluate import compare, fields_of, matches

# What an index row plus the names table tell exactly.
ROW_FIELDS = frozenset({ast.Intrinsic("name"), ast.Intrinsic("kind"), ast.Intrinsic("duration"),
                        ast.Attribute("resource", "service.name")})
# What the ``red_service`` tier tells apart (no operation, no duration).
SERVICE_FIELDS = frozenset({ast.Intrinsic("kind"), ast.Attribute("resource", "service.name")})
_SQL_OPS = {"=": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
_SLICE_SQL = (
    "SELECT s.start, s.chunk, s.seq, s.duration, c.trace_hi, c.trace_key, s.name_id FROM spans s "
    "JOIN chunks c ON c.id = s.chunk "
    "WHERE s.name_id IN (SELECT value FROM json_each(?1)) AND s.start BETWEEN ?2 AND ?3 AND ({cond})"
)
_CHUNK_SQL = "SELECT trace_hi, trace_key, data FROM chunks WHERE id = ?"
_FIRST_SLICE_NS = MINUTE_NS
_SLICE_ROWS = 2048  # a slice doubles below this many rows and halves above 4x as many
_CHUNK_CACHE = 256

Partial = tuple["bool | str", bool]  # (True / False / SQL text, exact)


def partial(cond: ast.Cond, service: str, name: str, kind: int) -> Partial:
    """``cond`` for spans of one (service, name, kind): true, false or SQL over ``s.duration``,
    and whether that is exact (no part was unknown, which then counts as true)."""
    if isinstance(cond, ast.Const):
        return cond.value, True
    if isinstance(cond, ast.BoolOp):
        a, ax = partial(cond.left, service, name, kind)
        if cond.op == "&&":
            if a is False:
                return False, ax
            b, bx = partial(cond.right, service, name, kind)
            if b is False:
                return False, bx
            if a is True:
                return b, ax and bx
            if b is True:
                return a, ax and bx
            return f"({a} AND {b})", ax and bx
        if a is True and ax:
            return True, True
        b, bx = partial(cond.right, service, name, kind)
        if b is True and bx:
            return True, True
        if a is False:
            return b, ax and bx
        if b is False:
            return a, ax and bx
        if a is True or b is True:
            return True, False
        return f"({a} OR {b})", ax and bx
    f, op, lit = cond.field, cond.op, cond.value
    if f == ast.Intrinsic("name"):
        return compare(("str", name), op, lit), True
    if f == ast.Attribute("resource", "service.name"):
        return compare(("str", service), op, lit), True
    if f == ast.Intrinsic("kind"):
        return compare(("kind", SpanKind(kind).name.lower() if kind in SpanKind._value2member_map_ else ""), op, lit), True
    if f == ast.Intrinsic("duration") and op in _SQL_OPS:
        return f"s.duration {_SQL_OPS[op]} {int(lit.value)}", True  # type: ignore[call-overload]
    return True, False


Decode = Callable[[str, bytes, int], list[Span]]


class Scan:
    """One walk over the spans of a window that may satisfy a condition, newest first."""

    def __init__(self, days: DayDirectory, decode: Decode, cond: ast.Cond, start_ns: int, end_ns: int) -> None:
        self.days = days
        self.decode = decode
        self.cond = cond
        self.lo = start_ns or schema.INT64_MIN
        self.hi = end_ns or schema.INT64_MAX
        self._chunks: OrderedDict[tuple[str, int], list[Span]] = OrderedDict()

    def _plans(self) -> list[tuple[str, int, str, bool, tuple[str, str, int]]]:
        """(day, name ID, SQL condition, exact, (service, name, kind)) of everything to walk."""
        plans = []
        for day in reversed(self.days.days()):
            with self.days.reading(day) as conn:
                if conn is None or not self.days.starts_within(conn, self.lo, self.hi):
                    continue
                names = self.days.names(day, conn)
                with names.lock:
                    entries = list(names.by_id.items())
            for nid, (service, name, kind) in entries:
                sql, exact = partial(self.cond, service, name, kind)
                if sql is False:
                    continue
                plans.append((day, nid, "1" if sql is True else sql, exact, (service, name, kind)))
        return plans

    def _span_hours(self, days: set[str]) -> tuple[int, int] | None:
        """The first and last hour of ``days``' spans inside the window (``hours`` table)."""
        first, last = None, None
        for day in days:
            with self.days.reading(day) as conn:
                if conn is None:
                    continue
                low, high = conn.execute("SELECT min(hour), max(hour) FROM hours WHERE hour BETWEEN ? AND ?",
                                         (self.lo // schema.HOUR_NS, self.hi // schema.HOUR_NS)).fetchone()
            if low is not None:
                first = low if first is None else min(first, low)
                last = high if last is None else max(last, high)
        return None if first is None else (first, last)

    def rows(self) -> Iterator[tuple[int, int, Span | None, tuple[str, str, int], bool, str, int, int]]:
        """(start, trace ID, duration, name entry, exact, day, chunk, seq) newest first.

        Walked in time slices from the window's end: per slice one statement per (day, SQL
        condition) over all its name IDs (an index range each), rows sorted here. A slice
        starts at a minute and doubles while it yields few rows (halves when it yields
        many), so a search that stops after its first rows asks a few statements, not one
        per name ID (thousands over a day: the cost that made such searches slow)."""
        plans = self._plans()
        if not plans:
            return
        index_of = {(day, nid): i for i, (day, nid, _, _, _) in enumerate(plans)}
        groups: dict[tuple[str, str], list[int]] = {}
        for day, nid, sql, _, _ in plans:
            groups.setdefault((day, sql), []).append(nid)
        statements = [(day, _SLICE_SQL.format(cond=sql), "[" + ",".join(map(str, nids)) + "]")
                      for (day, sql), nids in groups.items()]
        hours = self._span_hours({day for day, _ in groups})
        if hours is None:
            return
        lo = max(self.lo, hours[0] * schema.HOUR_NS)
        hi = min(self.hi, (hours[1] + 1) * schema.HOUR_NS - 1)
        width = _FIRST_SLICE_NS
        while hi >= lo:
            low = max(lo, hi - width + 1)
            rows: list[tuple[int, int, int, int, int, int, int]] = []
            for day, text, ids in statements:
                check_deadline()
                with self.days.reading(day) as conn:
                    if conn is None:
                        continue
                    rows.extend((start, index_of[(day, nid)], chunk, seq, duration, th, key)
                                for start, chunk, seq, duration, th, key, nid in conn.execute(text, (ids, low, hi)))
            rows.sort(reverse=True)
            for start, index, chunk, seq, duration, th, key in rows:
                day, _, _, exact, entry = plans[index]
                yield start, schema.trace_id_of(th, key), duration, entry, exact, day, chunk, seq
            hi = low - 1
            if len(rows) < _SLICE_ROWS:
                width *= 2
            elif len(rows) > 4 * _SLICE_ROWS:
                width = max(width // 2, 1)

    def counts(self, step_ns: int, by: tuple[ast.Field, ...], rollup: bool = False) -> Iterator[tuple[tuple, int, int]] | None:
        """Span counts per (labels, bucket) summed in SQL, when every name ID's condition is
        exact and ``by`` uses only the names table; None otherwise.

        With ``rollup`` (the store writes the RED rollup with its spans) and a condition on
        names only (no duration) and a step of whole minutes, the window's whole minutes are
        summed from ``red`` (per name and minute), or from ``red_service`` when the
        condition and labels use only the service and kind, and only its ragged ends from
        ``spans``."""
        if not all(f in ROW_FIELDS and f != ast.Intrinsic("duration") for f in by):
            return None
        plans = self._plans()
        if not all(exact for _, _, _, exact, _ in plans):
            return None
        if rollup and step_ns % MINUTE_NS == 0 and all(sql == "1" for _, _, sql, _, _ in plans):
            first = -(-self.lo // MINUTE_NS)  # the window's first and last whole minutes
            last = (self.hi + 1) // MINUTE_NS - 1
            if first <= last:
                return self._rolled(plans, step_ns, by, first, last)
        return self._counts(plans, step_ns, by)

    def _rolled(self, plans: list, step_ns: int, by: tuple[ast.Field, ...], first: int,
                last: int) -> Iterator[tuple[tuple, int, int]]:
        lo, hi = self.lo, self.hi
        try:
            self.hi = first * MINUTE_NS - 1
            yield from self._counts(plans, step_ns, by)
            self.lo, self.hi = (last + 1) * MINUTE_NS, hi
            yield from self._counts(plans, step_ns, by)
        finally:
            self.lo, self.hi = lo, hi
        groups: dict[str, list[int]] = {}
        entries: dict[tuple[str, int], tuple[str, str, int]] = {}
        for day, nid, _, _, entry in plans:
            groups.setdefault(day, []).append(nid)
            entries[(day, nid)] = entry
        # a condition and labels over service and kind only are answered per (service,
        # kind) by the coarser tier, summed per step in SQL (about a tenth of the rows)
        coarse = fields_of(self.cond) <= SERVICE_FIELDS and set(by) <= SERVICE_FIELDS
        for day, nids in groups.items():
            check_deadline()
            with self.days.reading(day) as conn:
                if conn is None:
                    continue
                if coarse and schema.has_service_tier(conn):
                    wanted = {(entries[(day, nid)][0], entries[(day, nid)][2]) for nid in nids}
                    summed = conn.execute(
                        "SELECT service, kind, minute * ?1 / ?2 * ?2 AS b, sum(calls) FROM red_service "
                        "WHERE minute BETWEEN ?3 AND ?4 GROUP BY service, kind, b",
                        (MINUTE_NS, step_ns, first, last)).fetchall()
                    rows = []
                else:
                    summed = []
                    rows = conn.execute(
                        "SELECT name_id, minute, sum(calls) FROM red WHERE name_id IN (SELECT value FROM json_each(?1)) "
                        "AND minute BETWEEN ?2 AND ?3 GROUP BY name_id, minute",
                        ("[" + ",".join(map(str, nids)) + "]", first, last)).fetchall()
            for service, kind, bucket, n in summed:
                if (service, kind) in wanted:
                    yield tuple(_row_label(f, service, "", kind) for f in by), bucket, n
            for nid, minute, n in rows:
                service, name, kind = entries[(day, nid)]
                yield (tuple(_row_label(f, service, name, kind) for f in by),
                       minute * MINUTE_NS // step_ns * step_ns, n)

    def _counts(self, plans: list, step_ns: int, by: tuple[ast.Field, ...]) -> Iterator[tuple[tuple, int, int]]:
        # one statement per (day, SQL condition): the name IDs sharing a condition (all of
        # them for ``{ }``) are read as one IN list, each still an index range
        groups: dict[tuple[str, str], list[int]] = {}
        entries: dict[tuple[str, int], tuple[str, str, int]] = {}
        for day, nid, sql, _, entry in plans:
            groups.setdefault((day, sql), []).append(nid)
            entries[(day, nid)] = entry
        for (day, sql), nids in groups.items():
            check_deadline()
            with self.days.reading(day) as conn:
                if conn is None:
                    continue
                rows = conn.execute(
                    f"SELECT s.name_id, (s.start / ?4) * ?4 AS b, count(*) FROM spans s "
                    f"WHERE s.name_id IN (SELECT value FROM json_each(?1)) AND s.start BETWEEN ?2 AND ?3 "
                    f"AND ({sql}) GROUP BY s.name_id, b",
                    ("[" + ",".join(map(str, nids)) + "]", self.lo, self.hi, step_ns)).fetchall()
            for nid, bucket, n in rows:
                service, name, kind = entries[(day, nid)]
                yield tuple(_row_label(f, service, name, kind) for f in by), bucket, n

    def chunk_span(self, day: str, chunk: int, seq: int) -> Span | None:
        spans = self._chunks.get((day, chunk))
        if spans is None:
            spans = []
            with self.days.reading(day) as conn:
                if conn is not None:
                    row = conn.execute(_CHUNK_SQL, (chunk,)).fetchone()
                    if row is not None:
                        spans = self.decode(day, row[2], schema.trace_id_of(row[0], row[1]))
            self._chunks[(day, chunk)] = spans
            if len(self._chunks) > _CHUNK_CACHE:
                self._chunks.popitem(last=False)
        return spans[seq] if seq < len(spans) else None

    def candidates(self) -> Iterator[tuple[int, int]]:
        cond = self.cond
        for start, trace_id, _, _, exact, day, chunk, seq in self.rows():
            if not exact:
                span = self.chunk_span(day, chunk, seq)
                if span is None or not matches(cond, span, None):
                    continue
            yield start, trace_id

    def spans(self, fields: frozenset[ast.Field]) -> Iterator[tuple[Span, bool]]:
        stub_ok = fields <= ROW_FIELDS
        resources: dict[str, Resource] = {}
        for start, trace_id, duration, (service, name, kind), exact, day, chunk, seq in self.rows():
            if exact and stub_ok:
                resource = resources.get(service)
                if resource is None:
                    resource = resources[service] = Resource(service)
                yield Span(trace_id, 0, name, start, duration, resource, kind=SpanKind(kind)), True
                continue
            span = self.chunk_span(day, chunk, seq)
            if span is not None:
                yield span, False




def _row_label(f: ast.Field, service: str, name: str, kind: int) -> tuple[str, object]:
    if f == ast.Intrinsic("name"):
        return "str", name
    if f == ast.Intrinsic("kind"):
        return "kind", SpanKind(kind).name.lower() if kind in SpanKind._value2member_map_ else ""
    return "str", service
