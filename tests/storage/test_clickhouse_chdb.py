"""The clickhouse schema and queries on the current ClickHouse engine, through chdb (in process).

The 18.16 servers the other tests start get the ``base`` variant of the schema; servers
users run today get the ``current`` one (TTL, ZSTD codecs, LowCardinality, a bloom-filter
index). Here that DDL is run on chdb's engine, rows are inserted as the writer builds them,
and the reader's own SQL (search, trace by ID, services, operations, dependencies) is run
with its parameters and compared with the memory backend's answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chdb import session as chdb_session
from clickhouse_driver.util.escape import escape_param

from spyglass.model import Event, KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.storage.api import Operation, TraceQuery
from spyglass.storage.clickhouse import dependencies, payload, reader, schema, widening
from spyglass.storage.clickhouse.rows import SpanColumns, join_id, split_id
from spyglass.storage.memory import MemoryFactory
from clickhouse_checks import HI, widening_queries, widening_spans

S = 1_000_000_000
T0 = 1_700_000_000 * S
DB = "spyglass"
T = f"{DB}."


class Engine:
    """A chdb session that runs SQL with the driver's parameter escaping."""

    def __init__(self, path: Path) -> None:
        self.session = chdb_session.Session(str(path))

    def run(self, sql: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        if params:
            sql = sql % {k: escape_param(v, None) for k, v in params.items()}
        result = self.session.query(sql, "JSONCompact")
        text = str(result)
        return json.loads(text)["data"] if text.strip() else []

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(tmp_path / "chdb")
    yield e
    e.close()


def _literal(value: Any) -> str:
    if isinstance(value, bytes):
        return f"unhex('{value.hex()}')"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return str(escape_param(value, None))


def _insert(engine: Engine, table: str, names: tuple[str, ...], columns: list[list[Any]]) -> None:
    rows = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in zip(*columns))
    engine.run(f"INSERT INTO {T}{table} ({', '.join(names)}) VALUES {rows}")


def _spans() -> list[Span]:
    out = []
    for t in range(1, 21):
        front = Resource("front", [KeyValue("region", "eu" if t % 2 else "us")])
        back = Resource("back", [])
        out.append(Span(t, 1, "GET /", T0 + t * S, 3 * S, front, kind=SpanKind.SERVER,
                        attributes=[KeyValue("http.status_code", 500 if t % 5 == 0 else 200)]))
        out.append(Span(t, 2, "query", T0 + t * S + 1, S, back, parent_span_id=1, kind=SpanKind.CLIENT,
                        status=Status(StatusCode.ERROR, "bad") if t % 3 == 0 else Status(),
                        events=[Event(T0, "retry", [KeyValue("user", f"u{t}")])]))
    return out


def _stored(spans: list[Span]) -> tuple[MemoryFactory, SpanColumns]:
    """The spans in the memory backend (the expected answers) and as the writer's columns."""
    memory = MemoryFactory()
    memory.span_writer().write_spans(spans)
    cols = SpanColumns()
    cols.add(spans)
    return memory, cols


def test_current_schema_and_queries_run_on_the_current_engine(engine: Engine) -> None:
    version = engine.run("SELECT version()")[0][0]
    # The rows are dated 2023 and current servers drop expired rows as they are inserted:
    # a retention of ten years keeps the TTL in the DDL without expiring them.
    layout = schema.Layout(database=DB, variant=schema.variant_for(schema.parse_version(version)),
                           retention_seconds=10 * 365 * 86_400)
    assert layout.variant == "current", version
    for statement in schema.statements(layout):
        engine.run(statement)
    ddl = engine.run(f"SELECT create_table_query FROM system.tables WHERE database = '{DB}' AND name = 'span_index'")[0][0]
    assert "TTL" in ddl and "bloom_filter" in ddl and "ZSTD" in ddl and "LowCardinality" in ddl

    spans = _spans()
    memory, cols = _stored(spans)
    _insert(engine, "spans", SpanColumns.SPANS, cols.spans)
    _insert(engine, "span_index", SpanColumns.INDEX, cols.index)
    _insert(engine, "trace_ranges", SpanColumns.RANGES, cols.range_columns())
    ops = sorted({("2023-11-14", s.resource.service_name, s.name, s.kind.jaeger_name) for s in spans})
    _insert(engine, "operations", ("day", "service", "operation", "kind"), [list(c) for c in zip(*ops)])
    calls = dependencies.DependencyRollup().add(spans)
    _insert(engine, "dependencies", ("bucket", "parent", "child", "calls"), dependencies.columns(calls))

    mem = memory.trace_reader()
    for q in (TraceQuery(service_name="front"), TraceQuery(service_name="front", num_traces=3),
              TraceQuery(service_name="back", operation_name="query", attributes={"error": "true"}),
              TraceQuery(attributes={"user": "u7"}), TraceQuery(service_name="front", attributes={"region": "eu",
                                                                                                   "http.status_code": "500"}),
              TraceQuery(service_name="back", attributes={"span.kind": "client", "event": "retry"},
                         start_time_min_ns=T0 + 5 * S, start_time_max_ns=T0 + 12 * S, duration_max_ns=2 * S)):
        sql, params = reader.search_sql(T, q)
        got = [join_id(int(hi), int(lo)) for hi, lo, _ in engine.run(sql, params)]
        assert got == mem.find_trace_ids(q), q
        assert got or not mem.find_trace_ids(q)

    hi, lo = split_id(7)
    (count, first, last), = engine.run(reader.range_sql(T), {"hi": hi, "lo": lo})
    assert int(count) == 1
    rows = engine.run(reader.trace_sql(T).replace(" payload", " hex(payload)"),
                      {"hi": hi, "lo": lo, "start": int(first), "end": int(last)})
    trace = payload.decode(7, [(int(i), int(t), bytes.fromhex(p)) for i, t, p in rows])
    assert sorted(trace, key=lambda s: s.span_id) == sorted(mem.get_trace(7), key=lambda s: s.span_id)
    rows = engine.run(reader.traces_sql(T).replace(" payload", " hex(payload)"), {"ids": (split_id(3), split_id(4))})
    assert sorted(join_id(int(h), int(l)) for h, l, *_ in rows) == [3, 3, 4, 4]

    assert [r[0] for r in engine.run(reader.services_sql(T))] == mem.get_services()
    got_ops = [Operation(n, k) for n, k in engine.run(reader.operations_sql(T, True), {"service": "back", "kind": "client"})]
    assert got_ops == mem.get_operations("back", "client")
    deps = engine.run(dependencies.DEPENDENCIES_SQL.format(table=f"{T}dependencies"),
                      dependencies.window(T0 + 60 * S, 3600 * S))
    expected = memory.dependency_reader().get_dependencies(T0 + 60 * S, 3600 * S)
    assert [(p, c, int(n)) for p, c, n in deps] == [(d.parent, d.child, d.call_count) for d in expected]


def test_retention_is_a_ttl_on_the_current_engine(engine: Engine) -> None:
    import time

    layout = schema.Layout(database=DB, variant="current", retention_seconds=72 * 3600)
    for statement in schema.statements(layout):
        engine.run(statement)
    now = int(time.time()) * S
    cols = SpanColumns()
    cols.add([Span(1, 1, "old", now - 4 * 86_400 * S, S, Resource("svc")),
              Span(2, 1, "new", now - 3600 * S, S, Resource("svc"))])
    for table, names, columns in (("spans", SpanColumns.SPANS, cols.spans), ("span_index", SpanColumns.INDEX, cols.index),
                                  ("archive_spans", SpanColumns.SPANS, cols.spans)):
        _insert(engine, table, names, columns)
        engine.run(f"OPTIMIZE TABLE {T}{table} FINAL")
    assert engine.run(f"SELECT trace_lo FROM {T}spans") == [[2]]
    assert engine.run(f"SELECT operation FROM {T}span_index") == [["new"]]
    assert sorted(r[0] for r in engine.run(f"SELECT trace_lo FROM {T}archive_spans")) == [1, 2]  # no retention


def test_a_tag_search_is_answered_by_the_bloom_filter_index(engine: Engine) -> None:
    """On the current engine the search statement's ``has(tag_values, ...)`` is what the
    bloom-filter index answers: ``force_data_skipping_indices`` makes the engine refuse the
    statement if the index is not used, and the granules without the value are skipped."""
    for statement in schema.statements(schema.Layout(database=DB, variant="current"), archive=False):
        engine.run(statement)
    spans = [Span(t, 1, "op", T0 + t * S, S, Resource("svc"),
                  attributes=[KeyValue("user", "rare" if t == 77_777 else f"u{t}")]) for t in range(1, 100_001)]
    cols = SpanColumns()
    cols.add(spans)
    _insert(engine, "span_index", SpanColumns.INDEX, cols.index)
    sql, params = reader.search_sql(T, TraceQuery(service_name="svc", attributes={"user": "rare"}))
    forced = f"{sql} SETTINGS force_data_skipping_indices = 'tag_values_bloom'"
    assert engine.run(forced, params) == [[0, 77_777, T0 + 77_777 * S]]
    plan = [row[0].strip() for row in engine.run(f"EXPLAIN indexes = 1 {sql}", params)]
    granules = plan[plan.index("Name: tag_values_bloom"):]
    read, total = next(line for line in granules if line.startswith("Granules:")).split()[1].split("/")
    assert 1 <= int(read) < int(total) // 4, plan
    with pytest.raises(Exception, match="(?i)index"):
        engine.run(f"SELECT count() FROM {T}span_index WHERE duration_ns > 0 "
                   "SETTINGS force_data_skipping_indices = 'tag_values_bloom'")


class _ChdbReader(reader.ClickHouseReader):
    """The reader's own search (``find_trace_ids``, narrowing by ``tag_index`` included) with
    its statements sent to chdb instead of a server."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(None, DB)  # type: ignore[arg-type]  # no server: ``query`` goes to chdb
        self.engine = engine
        self.tag_index = True

    def query(self, sql: str, params: dict[str, Any] | None = None, *, as_bytes: bool = False) -> Any:
        return [tuple(_number(v) for v in row) for row in self.engine.run(sql, params)]


def _number(value: Any) -> Any:
    """JSONCompact's 64-bit integers arrive as strings; names stay strings."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def test_the_base_schemas_tag_index_works_on_the_current_engine(engine: Engine) -> None:
    """A database created on an old server keeps its ``base`` schema when the server is
    upgraded: its materialized view fills ``tag_index`` and the narrowed search answers there too."""
    for statement in schema.statements(schema.Layout(database=DB, variant="base"), archive=False):
        engine.run(statement)
    memory, cols = _stored(_spans())
    _insert(engine, "span_index", SpanColumns.INDEX, cols.index)
    assert engine.run(f"SELECT DISTINCT start_s, operation FROM {T}tag_index "
                      "WHERE pair = cityHash64('back', 'user', 'u7')") == [[T0 // S + 7, "query"]]
    search = _ChdbReader(engine)
    mem = memory.trace_reader()
    checked = 0
    for cap in (1000, 3):
        search.tag_candidates_cap = cap
        for q in (TraceQuery(service_name="back", attributes={"user": "u7"}),
                  TraceQuery(service_name="back", operation_name="query", attributes={"error": "true"}),
                  TraceQuery(service_name="front", attributes={"region": "eu", "http.status_code": "500"}),
                  TraceQuery(service_name="back", attributes={"span.kind": "client", "event": "retry"},
                             start_time_min_ns=T0 + 5 * S, start_time_max_ns=T0 + 12 * S, duration_max_ns=2 * S),
                  TraceQuery(service_name="front", attributes={"user": "u7"})):
            expected = mem.find_trace_ids(q)
            assert search.find_trace_ids(q) == expected, (cap, q)
            checked += bool(expected)
    assert checked >= 8


def test_widening_search_answers_what_one_statement_answers(engine: Engine) -> None:
    """``widening.py`` over the reader's search statement on the current engine (with its
    bloom-filter index): slice by slice, the same traces in the same order as the whole window."""
    for statement in schema.statements(schema.Layout(database=DB, variant="current"), archive=False):
        engine.run(statement)
    cols = SpanColumns()
    cols.add(widening_spans())
    _insert(engine, "span_index", SpanColumns.INDEX, cols.index)

    def run(sql: str, params: dict[str, Any]) -> list[tuple[int, int, int]]:
        return [(int(hi), int(lo), int(t)) for hi, lo, t in engine.run(sql, params)]

    widened = 0
    for q in widening_queries():
        sql, params = reader.search_sql(T, q)
        ranges = widening.slices(params["lo"], params["hi"], HI)
        got = widening.newest_first(lambda start, end: run(sql, {**params, "lo": start, "hi": end}),
                                    params["limit"], ranges)
        assert got == [(hi, lo) for hi, lo, _ in run(sql, params)], q
        widened += len(ranges) > 1
    assert widened > 100
