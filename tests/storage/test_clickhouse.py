"""The clickhouse backend beyond the shared storage suite, on real 18.16 servers the tests
start: start-up checks, schema versions and the printed DDL, a server that goes away and
comes back (buffered writes, bounded reads), retention by dropped partitions, the archive
tables, the dependency rollup across batches, and a cross-check of search against the
memory backend on random data.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import clickhouse_servers
from spyglass.config import Settings
from spyglass.model import KeyValue, Resource, Span, SpanKind
from spyglass.storage.api import StorageWriteError, TraceQuery
from spyglass.storage.clickhouse import ClickHouseConfig, ClickHouseFactory, ClickHouseUnavailable
from spyglass.storage.clickhouse import schema
from spyglass.storage.clickhouse.connection import Connector
from spyglass.storage.clickhouse.reader import CommonTags, tag_rows_sql
from spyglass.storage.registry import create_storage
from clickhouse_checks import check_against_memory
from support import free_port, wait_for

S = 1_000_000_000
T0 = 1_700_000_000 * S


def span(trace: int, sid: int, *, svc: str = "api", op: str = "GET /", start: int = T0, parent: int = 0,
         attrs: list[KeyValue] | None = None) -> Span:
    return Span(trace, sid, op, start, S, Resource(svc, []), parent_span_id=parent, kind=SpanKind.SERVER,
                attributes=attrs or [])


def config(**kw: object) -> ClickHouseConfig:
    # Retention off unless a test sets it: spans expire by their start time, and these are from 2023.
    base: dict[str, object] = {"addresses": clickhouse_servers.single_node().address,
                               "database": clickhouse_servers.fresh_database(), "retention": "0"}
    base.update(kw)
    return ClickHouseConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def factory() -> Iterator[ClickHouseFactory]:
    f = ClickHouseFactory(config())
    yield f
    f.close()


def test_start_up_fails_clearly_and_quickly_when_no_server_answers() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ClickHouseUnavailable, match=f"127.0.0.1:{port}.*(refused|Connection)"):
        ClickHouseFactory(ClickHouseConfig(addresses=f"127.0.0.1:{port}", timeout="2s"))
    assert time.monotonic() - started < 10


def test_a_command_does_not_start_while_clickhouse_is_down(tmp_path: Path) -> None:
    import asyncio

    from conftest import ALL_PORTS_ZERO
    from spyglass.cmd.all_in_one import AllInOne, StartupError

    port = free_port()
    for roles in ({"collector": True, "query": False}, {"collector": False, "query": True}):
        settings = Settings.from_env({}, **ALL_PORTS_ZERO, storage="clickhouse",
                                     clickhouse_addresses=f"127.0.0.1:{port}", clickhouse_timeout="2s")
        app = AllInOne(settings, **roles)
        with pytest.raises(StartupError, match=f"storage: clickhouse at 127.0.0.1:{port}: .*refused"):
            asyncio.run(app.start())


def test_settings_reach_the_backend_through_the_registry() -> None:
    db = clickhouse_servers.fresh_database()
    settings = Settings.from_env({}, storage="clickhouse", clickhouse_addresses=clickhouse_servers.single_node().address,
                                 clickhouse_database=db, clickhouse_retention="24h", clickhouse_batch_size=5)
    from spyglass.cmd.all_in_one import storage_options

    f = create_storage("clickhouse", storage_options(settings))
    try:
        assert isinstance(f, ClickHouseFactory)
        assert (f.config.database, f.config.retention_seconds, f.config.batch_size) == (db, 86_400, 5)
        assert f.layout is None  # the command opens it before listening (prepare_writes / check)
        f.prepare_writes()
        assert f.layout is not None and f.layout.variant == "base" and f.server_version.startswith("18.16")
        assert f.check().healthy
    finally:
        f.close()


def test_config_is_validated() -> None:
    for bad in ({"addresses": "host:notaport"}, {"addresses": ""}, {"database": "a;drop"},
                {"replication": True}, {"retention": "-1h"}, {"batch_size": 0}, {"flush_interval": "0s"},
                {"batch_size": 10, "buffer_size": 5}):
        with pytest.raises(ValueError):
            ClickHouseConfig(**bad).validate()  # type: ignore[arg-type]
    assert ClickHouseConfig(addresses="a:1, b").hosts == [("a", 1), ("b", 9000)]


def test_schema_version_is_recorded_and_a_newer_one_refused(factory: ClickHouseFactory) -> None:
    client = factory.connector.client(database=factory.config.database)
    try:
        assert client.execute("SELECT version, variant FROM schema_version") == [(schema.VERSION, "base")]
        client.execute("INSERT INTO schema_version (version, variant, created) VALUES",
                       [(schema.VERSION + 1, "base", __import__("datetime").datetime(2030, 1, 1))])
    finally:
        client.disconnect()
    with pytest.raises(schema.SchemaError, match="newer|knows up to"):
        ClickHouseFactory(config(database=factory.config.database))


def test_a_version_1_database_is_read_as_it_is_and_marked_the_current_version() -> None:
    """Version 1 stored sqlite chunks as payloads; this release still reads those rows
    (beside its own), and records its version so an older release refuses the database."""
    from spyglass.model import Event
    from spyglass.storage.sqlite.rows import encode_chunk

    cfg = config()
    f = ClickHouseFactory(cfg)
    old = Span(5, 1, "old", T0, S, Resource("api", [KeyValue("host", "a")]), kind=SpanKind.SERVER,
               attributes=[KeyValue("n", 1)], events=[Event(T0 + 5, "e", [KeyValue("k", "v")])])
    client = f.connector.client(database=cfg.database)
    try:
        client.execute("TRUNCATE TABLE schema_version")
        client.execute("INSERT INTO schema_version (version, variant, created) VALUES",
                       [(1, "base", __import__("datetime").datetime(2024, 1, 1))])
        client.execute("INSERT INTO spans (trace_hi, trace_lo, span_id, start_ns, service, payload) VALUES",
                       [(0, 5, 1, T0, "api", encode_chunk((old,)))])
        client.execute("INSERT INTO trace_ranges (trace_hi, trace_lo, start_min, start_max) VALUES", [(0, 5, T0, T0)])
    finally:
        client.disconnect()
    f.close()
    f = ClickHouseFactory(cfg)
    try:
        new = Span(5, 2, "new", T0 + S, S, Resource("api", []), parent_span_id=1,
                   events=[Event(T0 + S + 7, "e2", [])])
        f.span_writer().write_spans([new])
        got = sorted(f.trace_reader().get_trace(5), key=lambda s: s.span_id)
        assert got == [old, new]
        client = f.connector.client(database=cfg.database)
        try:
            assert client.execute("SELECT max(version) FROM schema_version") == [(schema.VERSION,)]
        finally:
            client.disconnect()
    finally:
        f.close()


def test_the_printed_ddl_creates_a_schema_spyglass_accepts_without_creating_it() -> None:
    from spyglass.cmd import clickhouse_schema

    cfg = config(create_schema=False)
    with pytest.raises(ClickHouseUnavailable, match="clickhouse-schema"):
        ClickHouseFactory(cfg)  # nothing created yet: the error says how to create it
    out = io.StringIO()
    settings = Settings.from_env({}, clickhouse_addresses=cfg.addresses, clickhouse_database=cfg.database)
    assert clickhouse_schema.run(settings, out=out) == 0
    client = Connector(cfg).client()
    try:
        for line in out.getvalue().splitlines():
            if line and not line.startswith("--"):
                client.execute(line.rstrip(";"))
    finally:
        client.disconnect()
    f = ClickHouseFactory(cfg)
    try:
        f.span_writer().write_spans([span(1, 1)])
        assert len(f.trace_reader().get_trace(1)) == 1
    finally:
        f.close()


def test_archive_tables_are_separate(factory: ClickHouseFactory) -> None:
    factory.archive_writer().write_spans([span(1, 1, svc="kept")])
    factory.span_writer().write_spans([span(2, 1)])
    assert [s.resource.service_name for s in factory.archive_reader().get_trace(1)] == ["kept"]
    assert factory.trace_reader().get_trace(1) == []
    assert factory.archive_reader().get_trace(2) == []


def test_retention_drops_whole_expired_days_on_servers_without_ttl() -> None:
    f = ClickHouseFactory(config(retention="24h"))
    try:
        now = time.time()
        old, recent = int((now - 3 * 86_400) * S), int((now - 3600) * S)
        f.span_writer().write_spans([span(1, 1, start=old), span(1, 2, parent=1, svc="db", start=old),
                                     span(2, 1, start=recent)])
        assert len(f.trace_reader().get_trace(1)) == 2
        dropped = f.writer.drop_expired(now)
        assert {d.split("/")[0] for d in dropped} == set(schema.TABLES)
        assert f.trace_reader().get_trace(1) == []
        assert f.trace_reader().find_trace_ids(TraceQuery(service_name="api")) == [2]
        assert f.dependency_reader().get_dependencies(int(now * S), 7 * 86_400 * S) == []
    finally:
        f.close()


def test_dependencies_pair_children_with_parents_written_in_later_batches(factory: ClickHouseFactory) -> None:
    w = factory.span_writer()
    w.write_spans([span(1, 2, svc="back", parent=1), span(1, 3, svc="db", parent=2)])  # children first
    w.write_spans([span(1, 1, svc="front")])
    w.write_spans([span(2, 1, svc="front"), span(2, 2, svc="back", parent=1)])
    deps = factory.dependency_reader().get_dependencies(T0 + 60 * S, 3600 * S)
    assert [(d.parent, d.child, d.call_count) for d in deps] == [("back", "db", 1), ("front", "back", 2)]


def test_a_server_that_goes_away_buffers_writes_bounds_reads_and_loses_nothing(tmp_path: Path) -> None:
    server = clickhouse_servers.private_node(tmp_path / "server")
    f = ClickHouseFactory(ClickHouseConfig(addresses=server.address, database="spy", timeout="2s", retention="0",
                                           batch_size=10, buffer_size=40, flush_interval="100ms"))
    try:
        w, r = f.span_writer(), f.trace_reader()
        w.write_spans([span(1, 1)])
        assert len(r.get_trace(1)) == 1
        server.stop()
        stored = [span(1, 2, parent=1)] + [span(3, i) for i in range(1, 40)]  # 40 spans: the buffer holds them
        for i in range(0, 40, 10):
            w.write_spans(stored[i:i + 10])
        with pytest.raises(StorageWriteError, match="buffer full"):
            w.write_spans([span(4, 1)])  # the 41st span: refused, and counted by the processor
        assert f.writer.dropped == 1
        metrics = CollectorRegistry()
        metrics.register(f.metrics_collector())  # what /metrics shows
        assert metrics.get_sample_value("spyglass_clickhouse_spans_dropped_total", {"store": "primary"}) == 1
        assert metrics.get_sample_value("spyglass_clickhouse_buffered_spans", {"store": "primary"}) == 40
        assert metrics.get_sample_value("spyglass_clickhouse_insert_failures_total", {"store": "primary"}) >= 1
        health = f.check()  # the processor and /health are told: new spans get a retryable refusal
        assert not health.healthy and "buffer full" in health.reason
        started = time.monotonic()
        with pytest.raises(ClickHouseUnavailable, match=server.address):
            r.find_trace_ids(TraceQuery(service_name="api"))
        assert time.monotonic() - started < 10
        server.start()
        wait_for(lambda: not f.writer._pending_spans, timeout=30)
        assert f.check().healthy
        assert sorted(s.span_id for s in r.get_trace(1)) == [1, 2]
        assert len(r.get_trace(3)) == 39 and r.get_trace(4) == []
        assert metrics.get_sample_value("spyglass_clickhouse_buffered_spans", {"store": "primary"}) == 0
    finally:
        f.close()


def test_search_returns_what_the_memory_backend_returns_on_random_data(factory: ClickHouseFactory) -> None:
    assert factory.reader.tag_index  # every tag search with a service starts from tag_index
    check_against_memory(factory)


def test_search_with_common_tags_past_the_cap_returns_what_the_memory_backend_returns(
        factory: ClickHouseFactory) -> None:
    """A tag with more tag_index rows than the cap is searched without the index; one with
    fewer still narrows the search: both, in one query too, answer as memory does."""
    factory.reader.tag_candidates_cap = 4
    check_against_memory(factory, seed=11)


def _rare_tag_spans() -> list[Span]:
    common = [KeyValue("http.method", "GET")]
    spans = [span(t, 1, start=T0 + t * S, attrs=common) for t in range(1, 40)]
    spans.append(span(40, 1, start=T0 + 40 * S, attrs=common + [KeyValue("user", "rare")]))
    spans.append(span(40, 2, svc="db", op="query", start=T0 + 41 * S, parent=1, attrs=[KeyValue("user", "rare")]))
    return spans


def test_a_rare_tag_is_searched_from_tag_index(factory: ClickHouseFactory) -> None:
    factory.span_writer().write_spans(_rare_tag_spans())
    reader = factory.trace_reader()
    rare = TraceQuery(service_name="api", attributes={"user": "rare"}, num_traces=20)
    assert reader.find_trace_ids(rare) == [40]
    assert reader.find_trace_ids(TraceQuery(service_name="api", operation_name="nope", attributes={"user": "rare"})) == []
    assert reader.find_trace_ids(TraceQuery(service_name="api", attributes={"user": "rare", "http.method": "GET"})) == [40]
    assert reader.find_trace_ids(TraceQuery(service_name="api", attributes={"user": "rare"},
                                            start_time_min_ns=T0 + 41 * S)) == []  # db's span is later, not api's
    assert len(reader.find_trace_ids(TraceQuery(service_name="api", attributes={"http.method": "GET"},
                                                num_traces=100))) == 40
    client = factory.connector.client(database=factory.config.database)
    try:  # a primary-key range: the server refuses the statement otherwise
        params = {"service": "api", "k0": "user", "v0": "rare", "lo_s": 0, "hi_s": 2**32 - 1, "cap": 10}
        assert client.execute(tag_rows_sql("", 1), params, settings={"force_primary_key": 1}) == [(T0 // S + 40, "GET /")]
        client.execute("TRUNCATE TABLE tag_index")
    finally:
        client.disconnect()
    assert reader.find_trace_ids(rare) == []  # the index was what answered
    reader.tag_candidates_cap = 0  # every tag "common": span_index alone
    assert reader.find_trace_ids(rare) == [40]


def test_a_common_tag_is_remembered_so_the_same_search_skips_its_tag_index_lookup(
        factory: ClickHouseFactory) -> None:
    factory.span_writer().write_spans(_rare_tag_spans())
    reader = factory.trace_reader()
    reader.tag_candidates_cap = 10  # http.method=GET (40 spans) is common, user=rare is not
    tables: list[str] = []
    query = reader.query

    def recording(sql: str, *args: object, **kwargs: object) -> object:
        tables.append(sql.split(" FROM ", 1)[1].split()[0].rsplit(".", 1)[-1])
        return query(sql, *args, **kwargs)

    reader.query = recording  # type: ignore[method-assign]

    def lookups(q: TraceQuery) -> int:
        tables.clear()
        assert reader.find_trace_ids(q) == ([40] if "user" in q.attributes else list(range(40, 0, -1)))
        return tables.count("tag_index")

    hour = {"start_time_min_ns": T0, "start_time_max_ns": T0 + 3600 * S, "num_traces": 100}
    common = TraceQuery(service_name="api", attributes={"http.method": "GET"}, **hour)  # type: ignore[arg-type]
    assert lookups(common) == 1
    assert lookups(common) == 0  # remembered: the same answer without the lookup
    both = TraceQuery(service_name="api", attributes={"http.method": "GET", "user": "rare"}, **hour)  # type: ignore[arg-type]
    assert lookups(both) == 1  # the rare tag is looked up every time, and still narrows
    assert lookups(both) == 1
    shorter = TraceQuery(service_name="api", attributes={"http.method": "GET"}, start_time_min_ns=T0,
                         start_time_max_ns=T0 + 600 * S, num_traces=100)
    assert lookups(shorter) == 1  # common in an hour says nothing about ten minutes
    reader.common_tags = CommonTags(seconds=0.05)
    assert lookups(common) == 1
    time.sleep(0.1)
    assert lookups(common) == 1  # expired: looked up again


def test_common_tags_stay_bounded() -> None:
    remembered = CommonTags(entries=3)
    for n in range(10):
        remembered.remember("api", [("n", str(n))], 60)
        assert len(remembered._found) <= 3
    assert remembered.known("api", [("n", "9")], 60) and remembered.known("api", [("n", "9")], 120)
    assert not remembered.known("api", [("n", "9")], 59) and not remembered.known("api", [("n", "0")], 60)


def test_a_rare_tag_whose_ranges_would_make_too_long_a_statement_is_searched_without_them(
        factory: ClickHouseFactory) -> None:
    """90 spans with 3,000-character operation names: 90 (operation, second) ranges would be a
    statement over the server's 256 KiB limit, so the search reads the window as before."""
    spans = [span(t, 1, op=f"{t:03d}" + "x" * 3000, start=T0 + t * S, attrs=[KeyValue("user", "many")])
             for t in range(1, 91)]
    factory.span_writer().write_spans(spans)
    got = factory.trace_reader().find_trace_ids(TraceQuery(service_name="api", attributes={"user": "many"},
                                                           num_traces=100))
    assert got == list(range(90, 0, -1))


def _as_version_2(cfg: ClickHouseConfig) -> None:
    """Make the database what a version 2 release left: no tag_index, version 2 recorded."""
    client = Connector(cfg).client(database=cfg.database)
    try:
        for prefix in ("", "archive_"):
            client.execute(f"DROP TABLE {prefix}tag_index_mv")
            client.execute(f"DROP TABLE {prefix}tag_index")
        client.execute("TRUNCATE TABLE schema_version")
        client.execute("INSERT INTO schema_version (version, variant, created) VALUES",
                       [(2, "base", __import__("datetime").datetime(2026, 1, 1))])
    finally:
        client.disconnect()


def _versions(cfg: ClickHouseConfig) -> list[int]:
    client = Connector(cfg).client(database=cfg.database)
    try:
        return sorted(row[0] for row in client.execute("SELECT version FROM schema_version"))
    finally:
        client.disconnect()


def test_a_version_2_database_gets_its_stored_spans_indexed_when_opened() -> None:
    cfg = config()
    f = ClickHouseFactory(cfg)
    f.span_writer().write_spans(_rare_tag_spans())
    f.archive_writer().write_spans([span(77, 1, attrs=[KeyValue("user", "kept")])])
    f.close()
    _as_version_2(cfg)
    rare = TraceQuery(service_name="api", attributes={"user": "rare"})
    unmigrated = ClickHouseFactory(config(database=cfg.database, create_schema=False))
    try:  # an operator's schema is not changed: searched without the index, still right
        assert not unmigrated.reader.tag_index
        assert unmigrated.trace_reader().find_trace_ids(rare) == [40]
        assert _versions(cfg) == [2]
    finally:
        unmigrated.close()
    f = ClickHouseFactory(cfg)
    try:
        assert f.reader.tag_index and _versions(cfg) == [2, schema.VERSION]
        assert f.trace_reader().find_trace_ids(rare) == [40]
        assert f.archive_reader().find_trace_ids(TraceQuery(service_name="api", attributes={"user": "kept"})) == [77]
        client = f.connector.client(database=cfg.database)
        try:  # the answers came from the filled index
            for table, value, second in (("tag_index", "rare", T0 // S + 40), ("archive_tag_index", "kept", T0 // S)):
                assert client.execute(f"SELECT DISTINCT start_s, operation FROM {table} "
                                      f"WHERE pair = cityHash64('api', 'user', '{value}')") == [(second, "GET /")]
        finally:
            client.disconnect()
    finally:
        f.close()


def test_the_query_api_answers_a_clear_error_while_the_server_is_down(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    import urllib.error
    import urllib.request

    from conftest import RunningAllInOne

    server = clickhouse_servers.private_node(tmp_path / "server")
    aio = RunningAllInOne(storage="clickhouse", clickhouse_addresses=server.address, clickhouse_timeout="2s",
                          clickhouse_retention="0")
    try:
        url = aio.url("query_http", "/api/services")
        assert urllib.request.urlopen(url, timeout=10).status == 200
        server.stop()
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url, timeout=30)
        assert err.value.code == 503 and server.address in err.value.read().decode()
        assert time.monotonic() - started < 15
        assert not [r for r in caplog.records if r.exc_info], "a storage outage is not a handler bug: no traceback"
        server.start()

        def answers() -> bool:
            try:
                return urllib.request.urlopen(url, timeout=10).status == 200
            except urllib.error.HTTPError:
                return False

        wait_for(answers, timeout=30)
    finally:
        aio.close()


def test_a_second_process_reads_what_the_first_writes(factory: ClickHouseFactory) -> None:
    other = ClickHouseFactory(config(database=factory.config.database, flush_interval="100ms"))
    try:
        factory.span_writer().write_spans([span(1, 1, svc="one")])
        other.span_writer().write_spans([span(2, 1, svc="two")])
        # Each reads the other's spans once the writer's flush interval has passed.
        wait_for(lambda: factory.trace_reader().get_trace(2), timeout=10)
        wait_for(lambda: other.trace_reader().get_trace(1), timeout=10)
        assert other.trace_reader().get_services() == ["one", "two"]
    finally:
        other.close()


def test_clickhouse_schema_command_prints_the_ddl_for_a_version(capsys: pytest.CaptureFixture[str]) -> None:
    from spyglass.cli import main

    assert main(["clickhouse-schema", "--server-version", "24.8", "--clickhouse.cluster", "traces",
                 "--clickhouse.replication", "--clickhouse.database", "tr"]) == 0
    out = capsys.readouterr().out
    assert "CREATE DATABASE IF NOT EXISTS tr ON CLUSTER traces;" in out
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/tr/spans', '{replica}')" in out
    assert "Distributed(traces, tr, spans_local, cityHash64(trace_hi, trace_lo))" in out
    assert "TTL" in out and "CODEC(ZSTD(9))" in out
    assert main(["clickhouse-schema", "--server-version", "18.16.1"]) == 0
    old = capsys.readouterr().out
    assert "TTL" not in old and "CODEC" not in old and "LowCardinality" not in old and "ON CLUSTER" not in old
    assert main(["clickhouse-schema", "--clickhouse.addresses", f"127.0.0.1:{free_port()}",
                 "--clickhouse.timeout", "2s"]) == 2
    assert "clickhouse at 127.0.0.1" in capsys.readouterr().err
