"""Analytics benchmark: Jaeger's ``/api/metrics/*`` and ``/api/dependencies`` answered from
the rollups written at ingest, on the sqlite backend, over HTTP.

Writes ``--spans`` spans (traces of 10 across 20 services x 10 operations, with errors,
every span kind and cross-service parents) spread evenly over the last 7 days, in time
order, with the writer's clock following the spans (so there is one day file per day, as
in production) and small shuffles inside each window of 5,000 spans (children often
arrive before their parents, as they do from real tracers). Then measures, over HTTP
against the query server, p50/p99 of:

* ``/api/metrics/{calls,errors,latencies}`` for one service, 1 h and 24 h back, with the
  UI's step (1 min) and ratePer (10 min);
* the Monitor tab's overview requests (every service at once) and the per-operation
  requests (``groupByOperation=true``) for 24 h;
* ``/api/dependencies`` for 7 days (the UI's default), from the edge rollup;
* once, with ``--with-scan``, the exact dependency scan over the same 7 days;
* the query language over Tempo's API (``/api/search``, ``/api/metrics/query_range``):
  ``{status=error}``, ``{span.http.status_code>=500} >> {name="db.query"}`` and
  ``{} | rate() by (resource.service.name)`` over 1 h and 24 h (section ``traceql`` of
  docs/benchmarks.md; ``--traceql-only`` skips the rollup requests and their section).

    .venv/bin/python bench/analytics.py --spans 10000000     # the issue's size
    .venv/bin/python bench/analytics.py --spans 200000 --no-doc   # a quick look
    .venv/bin/python bench/analytics.py --spans 2000000 --traceql-only
    .venv/bin/python bench/analytics.py --spans 1000000 --storage clickhouse   # TraceQL on ClickHouse
    .venv/bin/python bench/analytics.py --spans 10000000 --data-dir /tmp/a10m   # keep the data;
        # a second run with the same --data-dir (and --spans) skips the writing and reuses it
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_section  # noqa: E402

from spyglass.model import KeyValue, Resource, Span, SpanKind, Status, StatusCode  # noqa: E402
from spyglass.query import QueryService  # noqa: E402
from spyglass.query.http_api import build_app  # noqa: E402
from spyglass.query.tempo_api import build_tempo_app  # noqa: E402
from spyglass.server import HttpServer  # noqa: E402
from spyglass.storage.clickhouse import ClickHouseConfig, ClickHouseFactory  # noqa: E402
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory  # noqa: E402

S = 1_000_000_000
WEEK = 7 * 24 * 3600 * S
BATCH = 1_000
SERVICES = [Resource(f"service-{i}") for i in range(20)]
OPS = [f"operation-{i}" for i in range(10)]
KINDS = [SpanKind.CLIENT, SpanKind.SERVER, SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def generate(total: int, end_ns: int, seed: int = 1) -> Iterator[tuple[int, list[Span]]]:
    """Batches (with the write time in ns) of traces of 10 spans, in time order."""
    rng = random.Random(seed)
    start0 = end_ns - WEEK
    gap = WEEK // max(total, 1)
    window: list[Span] = []
    for i in range(0, total, 10):
        t0 = start0 + i * gap
        trace_id = (rng.getrandbits(64) << 64) | (i + 1)
        services = rng.sample(SERVICES, 4)
        spans: list[Span] = []
        for j in range(min(10, total - i)):
            parent = spans[rng.randrange(j)] if j else None
            kind = SpanKind.SERVER if j == 0 else rng.choice(KINDS)
            error = rng.random() < 0.03
            # servers carry an HTTP status (500 when failing); a fifth of clients are "db.query"
            attrs = [KeyValue("http.status_code", 500 if error else 200)] if kind is SpanKind.SERVER else []
            name = "db.query" if kind is SpanKind.CLIENT and rng.random() < 0.2 else rng.choice(OPS)
            spans.append(Span(
                trace_id, j + 1, name, t0 + j * 1000, int(10 ** rng.uniform(4, 9.5)),
                services[0] if j == 0 else rng.choice(services),
                parent_span_id=parent.span_id if parent else 0, kind=kind, attributes=attrs,
                status=Status(StatusCode.ERROR) if error else Status()))
        window.extend(spans)
        if len(window) >= 5_000:
            rng.shuffle(window)
            for k in range(0, len(window), BATCH):
                yield t0, window[k:k + BATCH]
            window = []
    rng.shuffle(window)
    for k in range(0, len(window), BATCH):
        yield end_ns, window[k:k + BATCH]


class Server:
    """The query HTTP server over the store, in an event loop thread."""

    def __init__(self, factory: SqliteFactory | ClickHouseFactory) -> None:
        metrics = factory.metrics_reader() if isinstance(factory, SqliteFactory) else None
        service = QueryService(factory.trace_reader(), factory.dependency_reader(), metrics=metrics)
        self.http = HttpServer("query", "127.0.0.1", 0, build_app(service))
        self.tempo = HttpServer("tempo", "127.0.0.1", 0, build_tempo_app(service))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.http.start(), self.loop).result(30)
        asyncio.run_coroutine_threadsafe(self.tempo.start(), self.loop).result(30)

    def get(self, path: str, tempo: bool = False) -> tuple[float, dict]:
        began = time.perf_counter()
        port = self.tempo.port if tempo else self.http.port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=600) as r:
            body = json.loads(r.read())
        return (time.perf_counter() - began) * 1000, body

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.http.stop(), self.loop).result(30)
        asyncio.run_coroutine_threadsafe(self.tempo.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def timed(server: Server, paths: list[str], runs: int, tempo: bool = False) -> tuple[float, float]:
    times = [server.get(paths[i % len(paths)], tempo)[0] for i in range(runs)]
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spans", type=int, default=2_000_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--with-scan", action="store_true", help="also time the exact dependency scan once")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--traceql-only", action="store_true", help="only the query-language requests (and their section)")
    ap.add_argument("--storage", choices=["sqlite", "clickhouse"], default="sqlite",
                    help="clickhouse: a ClickHouse 18.16 server started like the tests do, query language only "
                         "(section traceql-clickhouse)")
    ap.add_argument("--data-dir", help="keep the written data here; when it already holds this benchmark's "
                                       "data for the same --spans, reuse it instead of writing again")
    args = ap.parse_args()
    clickhouse = args.storage == "clickhouse"
    if clickhouse:
        args.traceql_only = True

    keep = args.data_dir is not None and not clickhouse
    tmp = Path(args.data_dir) if keep else Path(tempfile.mkdtemp(prefix="spyglass-bench-analytics-"))
    meta_path = tmp / "bench-meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    reuse = meta.get("spans") == args.spans
    if keep and not reuse and (tmp / "data").exists():
        sys.exit(f"{tmp}/data holds other data ({meta or 'unfinished'}): remove it or pick another --data-dir")
    end_ns = meta["end_ns"] if reuse else time.time_ns() // (60 * S) * 60 * S
    clock = Clock((end_ns - WEEK) / S)
    factory: SqliteFactory | ClickHouseFactory
    if clickhouse:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        import clickhouse_servers

        factory = ClickHouseFactory(ClickHouseConfig(addresses=clickhouse_servers.single_node().address,
                                                     database=clickhouse_servers.fresh_database(), retention="0"))
        (tmp / "data").mkdir(parents=True, exist_ok=True)
    else:
        factory = SqliteFactory(SqliteConfig(data_dir=str(tmp / "data"), retention="0"), clock=clock)
    try:
        if reuse:
            written, ingest = meta["written"], meta["ingest"]
            print(f"  reusing {written:,} spans in {tmp} (written at {ingest:,.0f} spans/s)", file=sys.stderr)
        else:
            writer = factory.span_writer()
            began = time.perf_counter()
            written = 0
            for at, batch in generate(args.spans, end_ns):
                clock.now = at / S + 2
                writer.write_spans(batch)
                written += len(batch)
                if written % 1_000_000 < BATCH:
                    print(f"  {written:,} spans, {written / (time.perf_counter() - began):,.0f}/s", file=sys.stderr)
            if isinstance(factory, SqliteFactory):
                factory.store.writer.flush()
            else:
                writer.flush()
                assert writer.sync()  # type: ignore[attr-defined]
            ingest = written / (time.perf_counter() - began)
            if keep:
                meta_path.write_text(json.dumps({"spans": args.spans, "end_ns": end_ns, "written": written,
                                                 "ingest": ingest}))
        clock.now = end_ns / S
        server = Server(factory)
        try:
            tql_rows = traceql_rows(server, end_ns, args.runs)
            end_ms = end_ns // 1_000_000
            rows: list[tuple[str, str]] = []
            svc = [f"service={s.service_name}" for s in SERVICES]
            for label, lookback in (() if args.traceql_only else (("1 h", 3_600_000), ("24 h", 86_400_000))):
                base = f"endTs={end_ms}&lookback={lookback}&step=60000&ratePer=600000&spanKind=server"
                for metric, extra in (("calls", ""), ("errors", ""), ("latencies", "&quantile=0.95")):
                    paths = [f"/api/metrics/{metric}?service={s.service_name}&{base}{extra}" for s in SERVICES]
                    p50, p99 = timed(server, paths, args.runs)
                    rows.append((f"/api/metrics/{metric}, one service, {label}", f"{p50:.1f} / {p99:.1f}"))
            if not args.traceql_only:
                base = f"endTs={end_ms}&lookback=86400000&step=60000&ratePer=600000&spanKind=server"
                p50, p99 = timed(server, [f"/api/metrics/latencies?{'&'.join(svc)}&{base}&quantile=0.95"], max(5, args.runs // 3))
                rows.append(("/api/metrics/latencies, all 20 services (overview), 24 h", f"{p50:.1f} / {p99:.1f}"))
                paths = [f"/api/metrics/latencies?service={s.service_name}&groupByOperation=true&{base}&quantile=0.95"
                         for s in SERVICES]
                p50, p99 = timed(server, paths, args.runs)
                rows.append(("/api/metrics/latencies, by operation, 24 h", f"{p50:.1f} / {p99:.1f}"))
                deps = f"/api/dependencies?endTs={end_ms}&lookback={7 * 86_400_000}"
                p50, p99 = timed(server, [deps], args.runs)
                edges = len(server.get(deps)[1]["data"])
                rows.append((f"/api/dependencies, 7 days ({edges} links)", f"{p50:.1f} / {p99:.1f}"))
            scan = ""
            if args.with_scan:
                began = time.perf_counter()
                factory.store.dependencies.get_dependencies(end_ns, WEEK)
                scan = f"{time.perf_counter() - began:.1f}"
        finally:
            server.close()
    finally:
        factory.close()
        if clickhouse:
            clickhouse_servers.stop_all()
        size = sum(p.stat().st_size for p in (tmp / "data").rglob("*") if p.is_file())
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)

    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    if scan:
        table += f"\n| exact dependency scan, same 7 days (one run), s | {scan} |"
    body = f"""## Analytics: RED metrics and dependencies from rollups, {written:,} spans ({machine()})

`flock /work/bench.lock .venv/bin/python bench/analytics.py --spans {args.spans}{' --with-scan' if args.with_scan else ''}{' --data-dir ' + args.data_dir if keep else ''}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at the end {os.getloadavg()[0]:.2f}). sqlite backend; spans in traces of 10 over 20 services x 10 operations, spread evenly over the last 7 days (one day file per day), written in time order with shuffles inside each 5,000 spans, batches of 1,000. Requests go over HTTP to the query server; {args.runs} runs each, rotating over the services. Ingest (spans, rollups and edges in one transaction): {ingest:,.0f} spans/s; data directory {size / written:.0f} bytes/span. Targets (issue 13, at 10M spans): metrics over 24 h p99 <= 500 ms, dependencies <= 1 s.

| request | p50 / p99 ms |
|---|---|
{table}
"""
    tql_table = "\n".join(f"| {name} | {value} |" for name, value in tql_rows)
    note = """The structural search asks one statement for traces with both a `db.query` span and a span whose `http.status_code` pair parses to at least 500 in the window (`evaluate.required`: both sides), newest first, and fetches those traces in batches (`tql_traces`); `rate()` is one `GROUP BY` over `span_index`.""" if clickhouse else """The structural search walks the `db.query` index rows newest first and fetches their traces in batches of up to 64 (one trace-index statement and one chunk statement per day file per batch); about one candidate trace in 24 holds a failing server above a query. `rate() by (resource.service.name)` reads the coarser rollup tier `red_service` (one row per service, kind and minute, about 100 rows a minute here) for the window's whole minutes, summed per step in SQL, and the span index for its ragged ends; the per-operation `red` rows would be about one per span with this generator's 1,100 (service, operation, kind) names. `{status=error}` walks the window newest first in time slices (one statement per day file per slice) and decodes the candidate spans' chunks to check their status."""
    store = "ClickHouse 18.16 (one server started like the tests', the query translated to SQL)" if clickhouse \
        else "The same sqlite store and data as the analytics section"
    tql_body = f"""## Query language (TraceQL) over Tempo's API{' on ClickHouse' if clickhouse else ''}, {written:,} spans ({machine()})

`flock /work/bench.lock .venv/bin/python bench/analytics.py --spans {args.spans}{' --storage clickhouse' if clickhouse else ''}{' --traceql-only' if args.traceql_only and not clickhouse else ''}{' --data-dir ' + args.data_dir if keep else ''}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, ingest {ingest:,.0f} spans/s). {store} (servers carry `http.status_code`, 500 on their 3 % errors; a fifth of client spans are `db.query`). Requests over HTTP to the Tempo API (`/api/search` with `limit=20`, `/api/metrics/query_range` with a 60 s step for 1 h and a 15 min step for 24 h), {args.runs} runs each; load average at the end {os.getloadavg()[0]:.2f} (other helpers' jobs share the 2 cores). Targets (issue 13, at 10M spans): trace searches p99 <= 300 ms, metrics over 24 h p99 <= 500 ms.

| query | p50 / p99 ms |
|---|---|
{tql_table}

{note}
"""
    if not args.traceql_only:
        print(body)
    print(tql_body)
    if not args.no_doc:
        if not args.traceql_only:
            write_section("analytics", body)
        write_section("traceql-clickhouse" if clickhouse else "traceql", tql_body)


def traceql_rows(server: Server, end_ns: int, runs: int) -> list[tuple[str, str]]:
    """p50/p99 of the issue's queries through Tempo's API."""
    rows = []
    end = end_ns // S
    for label, span, step in (("1 h", 3600, 60), ("24 h", 86_400, 900)):
        window = f"start={end - span}&end={end}"
        for q in ("{status=error}", '{span.http.status_code>=500} >> {name="db.query"}'):
            path = f"/api/search?q={urllib.parse.quote(q)}&{window}&limit=20"
            found = len(server.get(path, tempo=True)[1]["traces"])
            p50, p99 = timed(server, [path], runs, tempo=True)
            rows.append((f"`{q.replace('|', chr(92) + '|')}`, {label} ({found} traces)", f"{p50:.1f} / {p99:.1f}"))
        q = "{} | rate() by (resource.service.name)"
        path = f"/api/metrics/query_range?q={urllib.parse.quote(q)}&{window}&step={step}s"
        series = len(server.get(path, tempo=True)[1]["series"])
        p50, p99 = timed(server, [path], max(3, runs // 3), tempo=True)
        rows.append((f"`{q.replace('|', chr(92) + '|')}`, {label} ({series} series)", f"{p50:.1f} / {p99:.1f}"))
    return rows


if __name__ == "__main__":
    main()
