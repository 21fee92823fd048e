"""RED and dependency rollups written at ingest equal what a full scan of the spans computes,
on every backend with the metrics ability, across minute and UTC-day borders, with spans of
one trace arriving in different (shuffled) batches."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spyglass.analytics.dependencies import links_from_rollup
from spyglass.analytics.histogram import bucket_of
from spyglass.analytics.rollup import MINUTE_NS, PARENT_CHILD_KINDS
from spyglass.model import DependencyLink, Link, Resource, Span, SpanKind, Status, StatusCode
from spyglass.storage.api import StorageFactory
from spyglass.storage.api.metrics import MetricsCapable, RedQuery
from spyglass.storage.memory import MemoryFactory
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory
from spyglass.storage.sqlite.days import day_start

S = 1_000_000_000
DAY0 = "2024-03-01"
T0 = day_start(DAY0) * S + 86_400 * S - 20 * 60 * S  # 20 minutes before midnight UTC
SERVICES = ["front", "api", "db", "queue", "worker"]


class Clock:
    def __init__(self) -> None:
        self.now = T0 / S

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[StorageFactory, Clock]]:
    clock = Clock()
    if request.param == "memory":
        factory: StorageFactory = MemoryFactory()
    else:
        factory = SqliteFactory(SqliteConfig(data_dir=str(tmp_path / "data")), clock=clock)
    yield factory, clock
    factory.close()


def random_traces(rng: random.Random, count: int) -> list[list[Span]]:
    """Traces of 1-8 spans, starting around midnight (minute and day borders), with
    errors, every kind, durations from µs to seconds, some links and some orphans."""
    traces = []
    for t in range(1, count + 1):
        start = T0 + rng.randrange(0, 40 * 60 * S)
        spans: list[Span] = []
        for sid in range(1, rng.randint(1, 8) + 1):
            parent = spans[rng.randrange(len(spans))] if spans else None
            kind = rng.choice(list(SpanKind))
            links = []
            if traces and rng.random() < 0.1:
                other = rng.choice(traces)[0]
                links = [Link(other.trace_id, other.span_id)]
            spans.append(Span(
                t, sid, rng.choice(["GET", "POST", "query"]),
                (parent.start_time_ns if parent else start) + rng.randrange(0, 90 * S),
                int(10 ** rng.uniform(3, 10)), Resource(rng.choice(SERVICES)),
                parent_span_id=parent.span_id if parent else (999 if rng.random() < 0.05 else 0),
                kind=kind, links=links,
                status=Status(StatusCode.ERROR) if rng.random() < 0.2 else Status()))
        traces.append(spans)
    return traces


def write_shuffled(factory: StorageFactory, clock: Clock, traces: list[list[Span]], rng: random.Random,
                   after_batch: Callable[[], None] | None = None) -> list[Span]:
    """Write every span in random batches (children often before their parents), the
    writer's clock crossing midnight half-way (sqlite: two day files); ``after_batch`` runs
    after each batch (e.g. a flush, so every batch is its own commit)."""
    spans = [s for trace in traces for s in trace]
    rng.shuffle(spans)
    writer = factory.span_writer()
    for i in range(0, len(spans), 37):
        clock.now = (T0 + (i * 40 * 60 * S) // len(spans)) / S
        writer.write_spans(spans[i:i + 37])
        if after_batch is not None:
            after_batch()
    return spans


def scan_red(spans: list[Span]) -> Counter[tuple[str, str, int, int, int, str]]:
    out: Counter[tuple[str, str, int, int, int, str]] = Counter()
    for s in spans:
        key = (s.resource.service_name, s.name, int(s.kind), s.start_time_ns // MINUTE_NS, bucket_of(s.duration_ns))
        out[(*key, "calls")] += 1
        out[(*key, "errors")] += s.status.code is StatusCode.ERROR
    return +out


def scan_edges(spans: list[Span]) -> Counter[tuple[int, str, str, str]]:
    """Every parent/child and link pair of the whole data, by the child's minute."""
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    out: Counter[tuple[int, str, str, str]] = Counter()
    for s in spans:
        pairs = []
        if s.parent_span_id and (s.trace_id, s.parent_span_id) in by_id:
            p = by_id[(s.trace_id, s.parent_span_id)]
            messaging = p.kind == SpanKind.PRODUCER or s.kind == SpanKind.CONSUMER
            pairs.append((p, "messaging" if messaging else "call"))
        for link in s.links:
            if (link.trace_id, link.span_id) in by_id:
                pairs.append((by_id[(link.trace_id, link.span_id)], "link"))
        for p, kind in pairs:
            if p.resource.service_name != s.resource.service_name:
                out[(s.start_time_ns // MINUTE_NS, p.resource.service_name, s.resource.service_name, kind)] += 1
    return out


def metrics_of(factory: StorageFactory):  # type: ignore[no-untyped-def]
    assert isinstance(factory, MetricsCapable)
    return factory.metrics_reader()


def test_red_and_edges_equal_a_full_scan(backend: tuple[StorageFactory, Clock]) -> None:
    factory, clock = backend
    rng = random.Random(13)
    spans = write_shuffled(factory, clock, random_traces(rng, 300), rng)
    reader = metrics_of(factory)
    expected = scan_red(spans)
    lo, hi = T0 // MINUTE_NS - 5, T0 // MINUTE_NS + 200
    got: Counter[tuple[str, str, int, int, int, str]] = Counter()
    for kind in SpanKind:  # per kind, grouped by operation: the finest grain the reader gives
        for c in reader.read_red(RedQuery("", [], [int(kind)], lo, hi, group_by_operation=True)):
            got[(c.service, c.operation, int(kind), c.minute, c.bucket, "calls")] += c.calls
            got[(c.service, c.operation, int(kind), c.minute, c.bucket, "errors")] += c.errors
    assert +got == expected
    flat = reader.read_red(RedQuery("", [], [], lo, hi, buckets=False))  # what calls and errors read
    assert {c.bucket for c in flat} == {-1} and sum(c.calls for c in flat) == len(spans)
    assert sum(c.errors for c in flat) == sum(s.status.code is StatusCode.ERROR for s in spans)
    # A window across midnight, two services, two kinds, summed over operations.
    midnight = (T0 + 20 * 60 * S) // MINUTE_NS
    window = (midnight - 7, midnight + 3)
    q = RedQuery("", ["api", "db"], [int(SpanKind.SERVER), int(SpanKind.CLIENT)], *window)
    part: Counter[tuple[str, int, int]] = Counter()
    for (svc, _, kind, minute, bucket, what), n in expected.items():
        if svc in ("api", "db") and kind in (2, 3) and window[0] <= minute <= window[1] and what == "calls":
            part[(svc, minute, bucket)] += n
    assert sum(part.values()) > 10
    assert Counter({(c.service, c.minute, c.bucket): c.calls for c in reader.read_red(q)}) == part
    # Edges (parents usually written in a later batch than their children).
    edges = scan_edges(spans)
    kinds = {k[3] for k in edges}
    assert {"call", "messaging", "link"} <= kinds
    for start, end in ((lo, hi), window):
        want: Counter[tuple[str, str, str]] = Counter()
        for (minute, parent, child, kind), n in edges.items():
            if start <= minute <= end:
                want[(parent, child, kind)] += n
        assert Counter({(e.parent, e.child, e.kind): e.calls for e in reader.read_edges("", start, end)}) == want


def test_long_window_dependencies_use_the_rollup_and_match_the_scan(backend: tuple[StorageFactory, Clock]) -> None:
    """For a window holding whole traces, the rollup's answer is today's exact answer; the
    scan still answers short windows."""
    factory, clock = backend
    rng = random.Random(7)
    traces = random_traces(rng, 200)
    for trace in traces:
        for s in trace:
            s.links = []
    spans = write_shuffled(factory, clock, traces, rng)
    end, lookback = T0 + 3 * 3600 * S, 4 * 3600 * S
    deps = factory.dependency_reader().get_dependencies(end, lookback)
    counts = Counter()
    for (_, parent, child, kind), n in scan_edges(spans).items():
        if kind in PARENT_CHILD_KINDS:
            counts[(parent, child)] += n
    assert deps == [DependencyLink(p, c, n) for (p, c), n in sorted(counts.items())]
    assert deps == links_from_rollup(metrics_of(factory), end, lookback)
    scan = getattr(factory.dependency_reader(), "scan")
    assert scan.get_dependencies(end, lookback) == deps  # the exact definition agrees
    # A short window is answered by the scan (whole traces with a span in it).
    short = factory.dependency_reader().get_dependencies(T0 + 60 * S, 30 * S)
    assert short == scan.get_dependencies(T0 + 60 * S, 30 * S)


def test_sqlite_rollup_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    config = SqliteConfig(data_dir=str(tmp_path / "data"))
    rng = random.Random(3)
    first = SqliteFactory(config, clock=clock)
    spans = write_shuffled(first, clock, random_traces(rng, 50), rng)
    first.close()
    again = SqliteFactory(config, clock=clock)
    try:
        cells = again.metrics_reader().read_red(RedQuery("", [], [], 0, 1 << 40))
        assert sum(c.calls for c in cells) == len(spans)
        assert sum(c.errors for c in cells) == sum(s.status.code is StatusCode.ERROR for s in spans)
    finally:
        again.close()


def test_min_lookback_setting_reaches_the_backends(tmp_path: Path) -> None:
    """``--dependencies.rollup-min-lookback``: -1s keeps the exact scan for every window."""
    from spyglass.analytics.dependencies import RollupDependencyReader
    from spyglass.storage.registry import create_storage

    for name in ("memory", "sqlite"):
        for text, ns in (("-1s", -S), ("6h", 6 * 3600 * S)):
            f = create_storage(name, {"data_dir": str(tmp_path / name), "dependencies_rollup_min_lookback": text})
            try:
                reader = f.dependency_reader()
                assert isinstance(reader, RollupDependencyReader) and reader.min_lookback_ns == ns
            finally:
                f.close()
    with pytest.raises(ValueError, match="rollup-min-lookback"):
        create_storage("memory", {"dependencies_rollup_min_lookback": "soon"})


def test_memory_rollup_is_bounded_by_age_and_rows() -> None:
    from spyglass.storage.memory.rollup import MemoryRollup
    from spyglass.analytics.rollup import RollupRows

    rollup = MemoryRollup(retention_minutes=60, max_rows=50)
    for minute in range(200):  # 3 rows a minute; beyond 60 minutes or 50 rows, the oldest go
        rollup.add(RollupRows({("", "a", "op", 2, minute, b): [1, 0] for b in range(3)}, {}))
    cells = rollup.read_red(RedQuery("", [], [], 0, 1000))
    minutes = {c.minute for c in cells}
    assert len(cells) <= 50 and max(minutes) == 199 and min(minutes) >= 199 - 60
    assert minutes == set(range(min(minutes), 200))


CRASH = """
import os, sys
from spyglass.model import Resource, Span, SpanKind
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory
f = SqliteFactory(SqliteConfig(data_dir=sys.argv[1], commit_interval="1h"))
w = f.span_writer()
t = {t0}
w.write_spans([Span(1, 1, "a", t, 1000, Resource("front"), kind=SpanKind.SERVER),
               Span(1, 2, "b", t, 1000, Resource("back"), parent_span_id=1, kind=SpanKind.SERVER)])
f.store.writer.flush()  # committed: spans, RED rows and the edge
w.write_spans([Span(2, 1, "a", t, 1000, Resource("front"), kind=SpanKind.SERVER),
               Span(2, 2, "b", t, 1000, Resource("back"), parent_span_id=1, kind=SpanKind.SERVER)])
os._exit(0)  # a crash before the second commit: neither its spans nor its rollup rows survive
"""


def test_sqlite_rollup_and_spans_survive_or_vanish_together(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    t0 = time.time_ns()
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-c", CRASH.format(t0=t0), str(data)], check=True, timeout=60)
    f = SqliteFactory(SqliteConfig(data_dir=str(data)))
    try:
        assert f.trace_reader().get_trace(1) and f.trace_reader().get_trace(2) == []
        minute = t0 // MINUTE_NS
        cells = f.metrics_reader().read_red(RedQuery("", [], [], minute, minute))
        assert sorted((c.service, c.calls) for c in cells) == [("back", 1), ("front", 1)]
        assert f.metrics_reader().read_edges("", minute, minute) == [("front", "back", "call", 1, 0)]
    finally:
        f.close()


def _families(factory: StorageFactory) -> list[dict]:
    """Jaeger's three metrics for every service at once (the Monitor tab's overview), 1-minute
    step, 7- and 1-minute ratePer, over a window across midnight (read per service and minute)."""
    from spyglass.analytics import series

    out = []
    for metric, rate_per, quantile in (("latencies", 7, 0.95), ("latencies", 1, 0.5), ("calls", 7, 0),
                                       ("errors", 3, 0), ("latencies", 3, 0.99)):
        request = series.MetricsRequest([], T0 + 41 * 60 * S + 17 * S, 50 * 60 * S, 60 * S, rate_per * 60 * S,
                                        span_kinds=[int(SpanKind.SERVER), int(SpanKind.CLIENT)], quantile=quantile)
        request.services = list(SERVICES)
        out.append(series.query(metric, metrics_of(factory), request))
    return out


def _tier_answers(sqlite: SqliteFactory) -> tuple[Counter[tuple[str, int]], list, list[dict]]:
    """What reads the ``red_service`` tier: calls/errors of all operations per (service,
    minute), TraceQL counts over service and kind, with ragged and whole-minute windows, and
    the metrics of every service."""
    from spyglass.traceql import parse

    cells: Counter[tuple[str, int]] = Counter()
    for c in metrics_of(sqlite).read_red(RedQuery("", ["api", "db", "front"], [int(SpanKind.SERVER), int(SpanKind.CLIENT)],
                                                  T0 // MINUTE_NS - 5, T0 // MINUTE_NS + 80, buckets=False)):
        cells[(c.service, c.minute)] += c.calls * 1000 + c.errors
    reader = sqlite.trace_reader()
    series = []
    for text, start, end, step in (
            ("{ } | rate() by (resource.service.name)", T0 - 7 * S, T0 + 45 * 60 * S + 13 * S, 60 * S),
            ("{ } | count_over_time() by (resource.service.name, kind)", T0, T0 + 40 * 60 * S, 300 * S),
            ('{ resource.service.name != "db" && kind = server } | count_over_time()', T0 - 3 * S, T0 + 41 * 60 * S, 120 * S),
            ("{ kind = client || kind = consumer } | rate() by (kind)", T0 - 20 * 60 * S, T0 + 100 * 60 * S, 3600 * S)):
        series.append([(s.labels, s.samples) for s in reader.traceql_metrics(parse(text), start, end, step)])
    return cells, series, _families(sqlite)


def test_sqlite_service_tier_equals_a_full_scan(tmp_path: Path) -> None:
    """``red_service`` (per service, kind and minute) answers exactly what ``red`` and a scan
    do, across minute, hour and day borders; a file not marked complete is read from ``red``."""
    import sqlite3

    from spyglass.storage.sqlite import schema
    from spyglass.storage.sqlite.rollup import encode_hist

    clock, rng = Clock(), random.Random(21)
    traces = random_traces(rng, 400)
    memory = MemoryFactory()
    memory.span_writer().write_spans([s for t in traces for s in t])
    sqlite = SqliteFactory(SqliteConfig(data_dir=str(tmp_path / "data")), clock=clock)
    try:
        # every batch its own commit, so rows of one minute merge across commits (the
        # histogram blobs are summed by the upsert)
        spans = write_shuffled(sqlite, clock, traces, rng, after_batch=lambda: sqlite.store.writer.flush())
        files = sorted((tmp_path / "data").glob("*.db"))
        day_files = [p for p in files if p.name[:4].isdigit()]
        assert len(day_files) == 2
        tier_calls = 0
        for path in day_files:
            with sqlite3.connect(path) as conn:
                assert schema.has_service_tier(conn)
                tier_calls += conn.execute("SELECT sum(calls) FROM red_service").fetchone()[0]
        assert tier_calls == len(spans)

        expected: Counter[tuple[str, int]] = Counter()
        for s in spans:
            if s.resource.service_name in ("api", "db", "front") and s.kind in (SpanKind.SERVER, SpanKind.CLIENT):
                expected[(s.resource.service_name, s.start_time_ns // MINUTE_NS)] += \
                    1000 + (s.status.code is StatusCode.ERROR)
        cells, series, families = _tier_answers(sqlite)
        assert cells == expected
        assert families == _families(memory) and all(f["metrics"] for f in families)
        from spyglass.traceql import parse
        want = [[(s.labels, s.samples) for s in memory.trace_reader().traceql_metrics(parse(text), start, end, step)]
                for text, start, end, step in (
            ("{ } | rate() by (resource.service.name)", T0 - 7 * S, T0 + 45 * 60 * S + 13 * S, 60 * S),
            ("{ } | count_over_time() by (resource.service.name, kind)", T0, T0 + 40 * 60 * S, 300 * S),
            ('{ resource.service.name != "db" && kind = server } | count_over_time()', T0 - 3 * S, T0 + 41 * 60 * S, 120 * S),
            ("{ kind = client || kind = consumer } | rate() by (kind)", T0 - 20 * 60 * S, T0 + 100 * 60 * S, 3600 * S))]
        assert series == want and all(any(v for _, samples in s for _, v in samples) for s in series)

        # The tier is what answers: skewing it changes the answers ...
        for path in day_files:
            with sqlite3.connect(path) as conn:
                conn.execute("UPDATE red_service SET calls = calls + 1, hist = ?", (encode_hist({30: 5}),))
        skewed = _tier_answers(sqlite)
        assert skewed[0] != expected and skewed[1] != want
        assert all(a != b for a, b in zip(skewed[2], families))
        # ... and a file not marked complete (a file from before the tier) is read from ``red``.
        for path in day_files:
            with sqlite3.connect(path) as conn:
                conn.execute("DELETE FROM meta WHERE key = ?", (schema.SERVICE_TIER_KEY,))
        assert _tier_answers(sqlite) == (expected, want, families)
    finally:
        sqlite.close()
        memory.close()


def test_sqlite_service_tier_marks_only_files_it_covers(tmp_path: Path) -> None:
    """A day file that had ``red`` rows before the tier existed gets the table unmarked."""
    import sqlite3

    from spyglass.storage.sqlite import schema

    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
    conn.execute("CREATE TABLE red(name_id, minute, tenant, bucket, calls, errors)")
    conn.execute("INSERT INTO red VALUES (1, 2, '', 3, 4, 0)")
    schema.ensure_rollup(conn)
    assert not schema.has_service_tier(conn)
    schema.ensure_rollup(conn)  # idempotent, still unmarked
    assert not schema.has_service_tier(conn)
    fresh = sqlite3.connect(tmp_path / "new.db", isolation_level=None)
    fresh.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID")
    schema.ensure_rollup(fresh)
    assert schema.has_service_tier(fresh)
