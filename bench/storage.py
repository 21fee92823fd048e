"""Storage benchmark: the sqlite backend next to the memory backend, same spans, same queries.

Generates spans shaped like ``_common.make_spans`` (traces of 10, ~8 attributes, one event,
5 services x 20 operations, starts spread over the last hour in random order), writes them
in batches of 1,000 (the span processor's batch size) from one thread, then measures:

* ingest spans/s (write calls only; generating spans is not timed; for sqlite the final
  commit and close are included),
* bytes per span on disk (every file in the data directory after close),
* p50/p99 latency of trace-by-ID and of each search form, with the UI's default limit of
  20 traces and a one-hour window, repeated with random services, operations and trace IDs.

    .venv/bin/python bench/storage.py --time-ordered    # 1M spans, sqlite and memory
    .venv/bin/python bench/storage.py --ten-million --time-ordered   # 10M, sqlite only (memory would not fit)
    .venv/bin/python bench/storage.py --spans 200000 --no-doc   # a quick look

The process uses the server's garbage-collector settings (``spyglass.cmd.runner``:
``gc.freeze()`` after start-up, thresholds 100000/50/100), and freezes again after ingest so
the memory store's objects do not slow every full collection during the queries.
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, make_spans, write_section  # noqa: E402

from spyglass.model import Span  # noqa: E402
from spyglass.storage.api import StorageFactory, TraceQuery  # noqa: E402
from spyglass.storage.memory import MemoryConfig, MemoryFactory  # noqa: E402
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory  # noqa: E402

BATCH = 1_000
GEN_CHUNK = 100_000
LIMIT = 20
S = 1_000_000_000


def generate(total: int, *, time_ordered: bool = False) -> Iterator[list[Span]]:
    """Batches of ``BATCH`` spans, made ``GEN_CHUNK`` at a time so 10M spans never sit in memory.

    ``time_ordered`` rewrites the start times so that spans arrive in about the order they
    started (as a collector sees them: each a few seconds after its start), spread over the
    same last hour, instead of ``make_spans``'s random order.
    """
    hour = 3600 * S
    base = time.time_ns() - hour
    for k in range((total + GEN_CHUNK - 1) // GEN_CHUNK):
        n = min(GEN_CHUNK, total - k * GEN_CHUNK)
        spans = make_spans(n, seed=k + 1)
        if time_ordered:
            for i, s in enumerate(spans):
                start = base + (k * GEN_CHUNK + i) * hour // total - s.start_time_ns % (5 * S)
                for e in s.events:
                    e.time_ns = start + (e.time_ns - s.start_time_ns)
                s.start_time_ns = start
        for i in range(0, n, BATCH):
            yield spans[i:i + BATCH]


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), pct(times, 99)


class Run:
    def __init__(self, name: str, factory: StorageFactory) -> None:
        self.name = name
        self.factory = factory
        self.results: dict[str, str] = {}


def ingest(run: Run, batches: Iterator[list[Span]], keep: list[int], every: int) -> int:
    writer = run.factory.span_writer()
    elapsed = 0.0
    n = 0
    for i, batch in enumerate(batches):
        if i % every == 0:
            keep.append(batch[0].trace_id)
        t = time.perf_counter()
        writer.write_spans(batch)
        elapsed += time.perf_counter() - t
        n += len(batch)
        if i % 1000 == 999:
            print(f"  {run.name}: {n:,} spans, {n / elapsed:,.0f} spans/s", flush=True)
    if isinstance(run.factory, SqliteFactory):
        t = time.perf_counter()
        run.factory.store.writer.flush()
        elapsed += time.perf_counter() - t
    run.results["ingest spans/s"] = f"{n / elapsed:,.0f}"
    return n


def queries(run: Run, trace_ids: list[int], now_ns: int, repeat: int) -> None:
    reader = run.factory.trace_reader()
    rng = random.Random(7)
    services = [f"service-{i}" for i in range(5)]
    window = {"start_time_min_ns": now_ns - 3600 * S, "start_time_max_ns": now_ns, "num_traces": LIMIT}

    def by_id() -> None:
        assert reader.get_trace(rng.choice(trace_ids))

    def q(**kw: object) -> Callable[[], None]:
        def run_query() -> None:
            args = {k: (v() if callable(v) else v) for k, v in kw.items()}
            reader.find_traces(TraceQuery(**args, **window))  # type: ignore[arg-type]
        return run_query

    def svc() -> str:
        return rng.choice(services)

    def op() -> str:
        return f"operation-{rng.randrange(20)}"

    forms: list[tuple[str, Callable[[], object]]] = [
        ("trace by ID", by_id),
        ("search: service", q(service_name=svc)),
        ("search: service + operation", q(service_name=svc, operation_name=op)),
        ("search: service + tag", q(service_name=svc, attributes=lambda: {"http.status_code": "500"})),
        ("search: service + operation + tag + duration",
         q(service_name=svc, operation_name=op, attributes=lambda: {"http.status_code": "404"},
           duration_min_ns=2 * S, duration_max_ns=4 * S)),
        ("search: service + rare tag (one span)",
         q(service_name=svc, attributes=lambda: {"user.id": str(rng.randrange(10**6))})),
        ("services", reader.get_services),
        ("operations", lambda: reader.get_operations(svc())),
    ]
    for name, fn in forms:
        fn()  # warm-up
        p50, p99 = timed(fn, repeat)
        run.results[f"{name} p50 / p99 ms"] = f"{p50:.2f} / {p99:.2f}"
        print(f"  {run.name}: {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
    deps = run.factory.dependency_reader()
    t = time.perf_counter()
    deps.get_dependencies(now_ns, 2 * 3600 * S)
    run.results["dependencies over every span (one run), s"] = f"{time.perf_counter() - t:.1f}"
    print(f"  {run.name}: dependencies: {run.results['dependencies over every span (one run), s']} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--ten-million", action="store_true", help="10M spans, sqlite only")
    parser.add_argument("--repeat", type=int, default=200, help="runs of each query form")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--dir", help="data directory for sqlite (default: a temporary one, removed after)")
    parser.add_argument("--time-ordered", action="store_true",
                        help="also ingest into a second sqlite store with spans arriving in start-time order")
    args = parser.parse_args()
    total = 10_000_000 if args.ten_million else args.spans
    with_memory = not (args.no_memory or args.ten_million)

    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    tmp = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="spyglass-bench-"))
    data = tmp / "data"
    if data.exists():
        shutil.rmtree(data)
    runs = [Run("sqlite", SqliteFactory(SqliteConfig(data_dir=str(data))))]
    if with_memory:
        runs.append(Run("memory", MemoryFactory(MemoryConfig(max_traces=total))))
    now_ns = time.time_ns()
    trace_ids: list[int] = []
    if with_memory:
        # Same span objects for both stores: generated once, kept in memory.
        batches = list(generate(total))
        gc.freeze()
        for run in runs:
            print(f"ingest {run.name}", flush=True)
            ingest(run, iter(batches), trace_ids if run is runs[0] else [], 97)
    else:
        print("ingest sqlite", flush=True)
        ingest(runs[0], generate(total), trace_ids, 97)
    sqlite_factory = runs[0].factory
    assert isinstance(sqlite_factory, SqliteFactory)
    sqlite_factory.store.writer.close()  # final commit, WAL checkpointed and removed
    size = du(data)
    runs[0].results["bytes per span on disk"] = f"{size / total:,.0f}"
    if with_memory:
        runs[1].results["bytes per span on disk"] = "-"
    if args.time_ordered:
        ordered = Run("sqlite, time-ordered", SqliteFactory(SqliteConfig(data_dir=str(tmp / "ordered"))))
        print("ingest sqlite, time-ordered arrivals", flush=True)
        ingest(ordered, generate(total, time_ordered=True), [], 97)
        ordered.factory.close()
        runs[0].results["ingest spans/s, arrivals in start order"] = ordered.results["ingest spans/s"]
        runs[0].results["bytes per span, arrivals in start order"] = f"{du(tmp / 'ordered') / total:,.0f}"
        shutil.rmtree(tmp / "ordered", ignore_errors=True)
    sqlite_factory = SqliteFactory(SqliteConfig(data_dir=str(data)))  # reopen: queries from a fresh process state
    runs[0].factory = sqlite_factory
    # The memory store's millions of index entries would make every full collection slow,
    # for both backends' queries alike; freeze them as the server freezes its start-up state.
    gc.collect()
    gc.freeze()
    for run in runs:
        print(f"queries {run.name}", flush=True)
        queries(run, trace_ids, now_ns, args.repeat)
    for run in runs:
        run.factory.close()
    if not args.dir:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = list(runs[0].results)
    header = "| | " + " | ".join(r.name for r in runs) + " |"
    lines = [header, "|---" * (len(runs) + 1) + "|"]
    for key in rows:
        lines.append(f"| {key} | " + " | ".join(r.results.get(key, "-") for r in runs) + " |")
    table = "\n".join(lines)
    print(table)
    if not args.no_doc:
        write_section("storage-10m" if args.ten_million else "storage", "\n".join([
            f"## Storage: {total:,} spans ({machine()})",
            "",
            f"`.venv/bin/python bench/storage.py{' --ten-million' if args.ten_million else ''}"
            f"{' --time-ordered' if args.time_ordered else ''}` "
            f"({time.strftime('%Y-%m-%d', time.gmtime())}). Spans shaped like `bench/_common.py:make_spans` "
            "(traces of 10, 5 services x 20 operations, starts in random order over the last hour), written "
            f"in batches of {BATCH:,} from one thread. Searches ask for {LIMIT} traces in a one-hour window; "
            f"each figure is over {args.repeat} runs with random services, operations and trace IDs. "
            "The *start order* rows ingest the same spans again into a fresh store with start times "
            "rewritten so spans arrive in about the order they started, as a collector sees them. "
            "Targets (issue 4, at 10M spans): ingest >= 50,000 spans/s, <= 300 bytes/span, "
            "trace by ID p99 <= 10 ms, search p99 <= 100 ms.",
            "",
            table,
        ]))


if __name__ == "__main__":
    main()
