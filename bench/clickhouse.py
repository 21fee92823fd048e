"""ClickHouse benchmark: spans through real collector processes into ClickHouse 18.16, on one
node and on a 2-shard cluster, then the storage-level queries and the bytes on disk.

Starts the servers the way the tests do (``tests/clickhouse_servers.py``: Debian's
clickhouse-server 18.16 and zookeeper on free ports, data in a temporary directory), then
for each topology:

* **ingest**: ``spyglass all-in-one --storage clickhouse`` in one child process, then two
  (each gets half the spans), then one with ``--workers 2`` (receiving processes that decode
  and build the insert columns; the parent inserts), fed pre-encoded Jaeger gRPC ``PostSpans`` batches of 1,000
  spans (``bench/_common.py:make_spans``: traces of 10, 5 services x 20 operations, starts
  over the last hour) from this process; the time runs until ClickHouse itself counts every
  span in ``span_index`` (not until the collector accepted them); the collectors' CPU time
  (their workers included) and clickhouse-server's (every node's) per span beside it, and
  the reference measured in the same run: what a worker does to each span (decode the
  request, build the columns) in this process, before and after the run, and the
  collector's CPU per span as a multiple of it (this machine's speed varies several-fold
  between days, so the multiple is what compares across runs);
* **bytes per span**: active parts' ``bytes_on_disk`` of every table / spans (18.16, LZ4); the
  same rows are then copied into chdb (the current engine, the ``current`` schema with ZSTD
  codecs and LowCardinality) and measured there after ``OPTIMIZE FINAL``;
* **queries** (the first ingest run's database, through ``ClickHouseFactory`` in this process,
  once ClickHouse has finished merging the ingest's parts, at most 5 minutes):
  trace by ID and every search form of ``bench/storage.py`` (20 traces, one-hour window),
  p50/p99 over ``--repeat`` runs, and dependencies for a 7-day window; on 2 shards also trace
  by ID through the ``Distributed`` tables, the reference for reading from the trace's shard.

    .venv/bin/python bench/clickhouse.py --spans 1000000
    .venv/bin/python bench/clickhouse.py --spans 200000 --no-doc     # a quick look
    .venv/bin/python bench/clickhouse.py --spans 10000000 --ingest 1x2 --topology 2-shards --no-chdb --no-doc
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import clickhouse_servers  # noqa: E402
from _common import ServerProcess, machine, make_spans, write_section  # noqa: E402
from ingest import _post_spans, send_grpc  # noqa: E402
from storage import Run, queries, timed  # noqa: E402

from spyglass.storage.clickhouse import ClickHouseConfig, ClickHouseFactory  # noqa: E402
from spyglass.storage.clickhouse import schema  # noqa: E402

S = 1_000_000_000
BATCH = 1_000
GEN_CHUNK = 100_000
METHOD = "/jaeger.api_v2.CollectorService/PostSpans"


def payloads(total: int, keep: list[int]) -> list[bytes]:
    """Pre-encoded PostSpans requests; the first trace ID of every 97th batch goes to ``keep``."""
    out = []
    for k in range((total + GEN_CHUNK - 1) // GEN_CHUNK):
        spans = make_spans(min(GEN_CHUNK, total - k * GEN_CHUNK), seed=k + 1)
        for i in range(0, len(spans), BATCH):
            if len(out) % 97 == 0:
                keep.append(spans[i].trace_id)
            out.append(_post_spans(spans[i:i + BATCH]))
    return out


def count(factory: ClickHouseFactory, table: str = "span_index") -> int:
    return int(factory.reader.query(f"SELECT count() FROM {factory.config.database}.{table}")[0][0])


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system) of a process, and of its children (collector workers)."""
    def one(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        children = []
    return one(pid), sum(one(c) for c in children)


def _wait_listening(port: int, timeout: float = 30) -> None:
    """Workers bind the receivers' ports after the parent's admin port answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def work_reference(bodies: list[bytes], batches: int = 40) -> float:
    """CPU µs/span, in this process, of a collector worker's work on the benchmark's spans:
    decode the ``PostSpans`` request into the model and build the insert columns, with the
    collector's GC thresholds; the best of 3 rounds. It tells a slow machine from a slow
    collector: on this VM the same code measured about 22 µs/span (decode 15, columns 7) on
    the evening of 2026-12-06 and 79-93 on the afternoon of 2026-12-07."""
    from spyglass.cmd.runner import GC_THRESHOLD0
    from spyglass.codecs.jaeger_proto import decode_post_spans
    from spyglass.storage.clickhouse.prepared import Preparer

    preparer = Preparer()
    thresholds = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD0, 50, 100)
    try:
        best = float("inf")
        for _ in range(3):
            started, spans = time.process_time(), 0
            for body in bodies[:batches]:
                decoded = decode_post_spans(body)
                preparer.prepare(decoded)
                spans += len(decoded)
            best = min(best, (time.process_time() - started) / spans * 1e6)
        return best
    finally:
        gc.set_threshold(*thresholds)


class Ingest(NamedTuple):
    rate: float  # spans/s
    collector_us: float  # the collectors' CPU µs/span, their worker processes included
    parent_us: float  # of which the collectors' own (parent) processes
    server_us: float  # clickhouse-server's CPU µs/span, every node's


def ingest(nodes: list[clickhouse_servers.ClickHouse], cluster: str, database: str, bodies: list[bytes], total: int,
           collectors: int, workers: int = 1) -> Ingest:
    """One ingest run of ``total`` spans into ``nodes``, timed until they are stored."""
    addresses = ",".join(n.address for n in nodes)
    server_pids = [n.process.proc.pid for n in nodes if n.process.proc is not None]
    extra = ["--storage", "clickhouse", "--clickhouse.addresses", addresses, "--clickhouse.database", database,
             "--clickhouse.retention", "0", "--workers", str(workers)]
    if cluster:
        extra += ["--clickhouse.cluster", cluster]
    servers = [ServerProcess(*extra) for _ in range(collectors)]
    watcher = ClickHouseFactory(ClickHouseConfig(addresses=addresses, database=database, cluster=cluster,
                                                 retention="0"))
    try:
        for s in servers:
            _wait_listening(s.ports["collector.grpc-port"])
        time.sleep(1)  # every worker bound (SO_REUSEPORT spreads connections over the bound ones)
        parts = [bodies[i::collectors] for i in range(collectors)]
        cpu0 = [_cpu_seconds(s.proc.pid) for s in servers]
        server0 = sum(_cpu_seconds(pid)[0] for pid in server_pids)
        started = time.perf_counter()

        async def send_all() -> None:
            # With workers: several connections per collector, since SO_REUSEPORT gives each
            # connection to one worker (one connection would keep the others idle), as many
            # agents and SDKs would; 4 per worker make it unlikely that one gets none.
            conns, calls = (4 * workers, 2) if workers > 1 else (1, 4)
            await asyncio.gather(*(send_grpc(f"127.0.0.1:{s.ports['collector.grpc-port']}", METHOD, p, calls, conns)
                                   for s, p in zip(servers, parts)))

        asyncio.run(send_all())
        deadline = time.monotonic() + 1800
        while count(watcher) < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {count(watcher):,} of {total:,} spans arrived")
            time.sleep(0.05)
        rate = total / (time.perf_counter() - started)
        cpu = [_cpu_seconds(s.proc.pid) for s in servers]
        server = sum(_cpu_seconds(pid)[0] for pid in server_pids) - server0
        parent = sum(own for own, _ in cpu) - sum(own for own, _ in cpu0)
        children = sum(kids for _, kids in cpu) - sum(kids for _, kids in cpu0)
        return Ingest(rate, (parent + children) / total * 1e6, parent / total * 1e6, server / total * 1e6)
    finally:
        watcher.close()
        for s in servers:
            s.proc.terminate()
            s.proc.wait(60)


def disk_bytes(nodes: list[clickhouse_servers.ClickHouse], database: str) -> int:
    """Active parts of the database on every node (system.parts is per node)."""
    from clickhouse_driver import Client

    total = 0
    for node in nodes:
        client = Client("127.0.0.1", port=node.tcp_port)
        try:
            total += int(client.execute("SELECT sum(bytes_on_disk) FROM system.parts WHERE database = %(db)s AND active",
                                        {"db": database})[0][0])
        finally:
            client.disconnect()
    return total


def settle(nodes: list[clickhouse_servers.ClickHouse], database: str, timeout: float = 300) -> float:
    """Wait (at most ``timeout``) until no node merges the database's parts: the queries are
    timed on the steady state a user queries, not on parts being merged right after a bulk
    ingest. Returns the seconds waited."""
    from clickhouse_driver import Client

    started = time.monotonic()
    clients = [Client("127.0.0.1", port=node.tcp_port) for node in nodes]
    try:
        while time.monotonic() - started < timeout and any(
                c.execute("SELECT count() FROM system.merges WHERE database = %(db)s", {"db": database})[0][0]
                for c in clients):
            time.sleep(1)
    finally:
        for c in clients:
            c.disconnect()
    return time.monotonic() - started


def current_engine_bytes(node: clickhouse_servers.ClickHouse, database: str, total: int, tmp: Path) -> float:
    """Copy the rows into chdb's current engine (the ``current`` schema) and measure its parts."""
    from chdb import session as chdb_session

    layout = schema.Layout(database="spyglass", variant="current", retention_seconds=0)
    sess = chdb_session.Session(str(tmp / "chdb"))
    try:
        for statement in schema.statements(layout, archive=False):
            sess.query(statement)
        for table in schema.TABLES:
            dump = tmp / f"{table}.native"
            with open(dump, "wb") as out:
                subprocess.run(["clickhouse-client", "--port", str(node.tcp_port), "--query",
                                f"SELECT * FROM {database}.{table} FORMAT Native"], stdout=out, check=True)
            sess.query(f"INSERT INTO spyglass.{table} SELECT * FROM file('{dump}', Native)")
            sess.query(f"OPTIMIZE TABLE spyglass.{table} FINAL")
            dump.unlink()
        rows = str(sess.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'spyglass' AND active",
                              "CSV")).strip()
        return int(rows) / total
    finally:
        sess.close()


def distributed_reference(run: Run, factory: ClickHouseFactory, trace_ids: list[int], repeat: int) -> None:
    """Trace by ID as it is read without the shard map (through the ``Distributed`` tables,
    every shard asked): the reference for the shard-direct line above, in the same run."""
    reader, rng = factory.reader, random.Random(7)
    shards, reader.shards = reader.shards, None
    try:
        p50, p99 = timed(lambda: reader.get_trace(rng.choice(trace_ids)), repeat)
    finally:
        reader.shards = shards
    run.results["trace by ID through the Distributed tables (reference) p50 / p99 ms"] = f"{p50:.2f} / {p99:.2f}"
    print(f"  {run.name}: trace by ID through the Distributed tables: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=100, help="runs of each query form")
    parser.add_argument("--no-cluster", action="store_true", help="one node only (--topology one-node)")
    parser.add_argument("--topology", choices=("both", "one-node", "2-shards"), default="both",
                        help="which servers to measure (one run each keeps a 10M-span run short)")
    parser.add_argument("--no-chdb", action="store_true",
                        help="skip copying the rows into chdb for the current engine's bytes per span")
    parser.add_argument("--ingest", default="1x1,2x1,1x2",
                        help="ingest runs, COLLECTORSxWORKERS each (--workers of every collector process); "
                             "the queries use the first run's database")
    parser.add_argument("--ingest-only", action="store_true",
                        help="only the ingest runs (no bytes on disk, no queries): a 10M run fits one lock hold")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    total = args.spans // BATCH * BATCH
    configs = [(int(c), int(w)) for c, w in (run.split("x") for run in args.ingest.split(","))]
    load = [f"{os.getloadavg()[0]:.2f}"]
    tmp = Path(tempfile.mkdtemp(prefix="spyglass-bench-ch-"))
    gc.freeze()
    trace_ids: list[int] = []
    print(f"encoding {total:,} spans", flush=True)
    bodies = payloads(total, trace_ids)
    now_ns = time.time_ns()
    runs = []
    try:
        topology = "one-node" if args.no_cluster else args.topology
        topologies = [("one node", "", [clickhouse_servers.single_node()])] if topology != "2-shards" else []
        if topology != "one-node":
            servers = clickhouse_servers.cluster()
            topologies.append(("2 shards", "two_shards", servers.nodes))
        for name, cluster, nodes in topologies:
            addresses = ",".join(n.address for n in nodes)
            run = Run(name, None)  # type: ignore[arg-type]
            for collectors, workers in configs:
                db = f"bench_{'shards' if cluster else 'single'}_{collectors}_{workers}"
                label = f"{collectors} collector{'s' if collectors > 1 else ''}" + (
                    f" --workers {workers}" if workers > 1 else "")
                print(f"{name}: ingest through {label}", flush=True)
                before = work_reference(bodies)
                got = ingest(nodes, cluster, db, bodies, total, collectors, workers)
                reference = (before + work_reference(bodies)) / 2
                run.results[f"decode + columns in this process, CPU µs/span (reference), {label}"] = f"{reference:.1f}"
                run.results[f"collector CPU / reference, {label}"] = f"{got.collector_us / reference:.2f}"
                run.results[f"ingest spans/s, {label}"] = f"{got.rate:,.0f}"
                run.results[f"collector CPU µs/span, {label}"] = f"{got.collector_us:.1f}"
                if workers > 1:
                    run.results[f"of which the parent process, {label}"] = f"{got.parent_us:.1f}"
                run.results[f"clickhouse-server CPU µs/span, {label}"] = f"{got.server_us:.1f}"
                print(f"  {got.rate:,.0f} spans/s, collector CPU {got.collector_us:.1f} µs/span "
                      f"({got.parent_us:.1f} in the parent), clickhouse-server {got.server_us:.1f}; "
                      f"reference {reference:.1f} µs/span ({before:.1f} before the run)", flush=True)
            if args.ingest_only:
                runs.append(run)
                continue
            db = f"bench_{'shards' if cluster else 'single'}_{configs[0][0]}_{configs[0][1]}"
            factory = ClickHouseFactory(ClickHouseConfig(addresses=addresses, database=db, cluster=cluster,
                                                         retention="0"))
            run.factory = factory
            run.results["bytes per span on disk (18.16)"] = f"{disk_bytes(nodes, db) / total:,.0f}"
            if not cluster and not args.no_chdb:
                per_span = current_engine_bytes(nodes[0], db, total, tmp)
                run.results["bytes per span on disk (current engine, chdb)"] = f"{per_span:,.0f}"
            waited = settle(nodes, db)
            print(f"  {name}: merges done {waited:.0f} s after the ingest", flush=True)
            queries(run, trace_ids, now_ns, args.repeat)
            run.results.pop("dependencies over every span (one run), s", None)
            if factory.shards is not None:
                distributed_reference(run, factory, trace_ids, args.repeat)
            deps = factory.dependency_reader()
            p50, p99 = timed(lambda: deps.get_dependencies(now_ns, 7 * 86_400 * S), max(10, args.repeat // 10))
            run.results["dependencies, 7 days p50 / p99 ms"] = f"{p50:.2f} / {p99:.2f}"
            print(f"  {name}: dependencies 7 days: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
            factory.close()
            runs.append(run)
    finally:
        clickhouse_servers.stop_all()

    keys = list(dict.fromkeys(k for r in runs for k in r.results))
    lines = ["| | " + " | ".join(r.name for r in runs) + " |", "|---" * (len(runs) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(r.results.get(k, "-") for r in runs) + " |" for k in keys]
    table = "\n".join(lines)
    print(table)
    if not args.no_doc:
        write_section("clickhouse", "\n".join([
            f"## ClickHouse: {total:,} spans ({machine()})",
            "",
            f"`flock /work/bench.lock .venv/bin/python bench/clickhouse.py --spans {args.spans}"
            f"{' --ingest ' + args.ingest if args.ingest != '1x1,2x1,1x2' else ''}"
            f"{' --no-cluster' if args.no_cluster else ''}"
            f"{' --topology ' + args.topology if args.topology != 'both' else ''}"
            f"{' --ingest-only' if args.ingest_only else ''}"
            f"{' --no-chdb' if args.no_chdb else ''}` ({time.strftime('%Y-%m-%d', time.gmtime())}). "
            "Debian's clickhouse-server 18.16 started by the benchmark (one node; two nodes as a 2-shard "
            "cluster with ZooKeeper), on the same 2 cores as the collectors and the sender. Ingest: "
            "pre-encoded Jaeger gRPC batches of 1,000 spans through `spyglass all-in-one --storage "
            "clickhouse` processes (in-process receivers; `--workers N`: N receiving processes that also "
            "build the insert columns, the parent only inserts), timed until ClickHouse counts every span; "
            "collector CPU is the collector processes' own (workers included) per span, clickhouse-server "
            "CPU every node's; the reference is a worker's work per span (decode, columns) in the "
            "benchmark's process, measured before and after each run on the same machine. "
            f"Load average {load[0]} at the start, {os.getloadavg()[0]:.2f} at the end. Queries: the reader in "
            "process once the ingest's merges are done, 20 traces in a one-hour window, "
            f"{args.repeat} runs each. Issue 10's targets (at 10M spans): >= 50,000 spans/s through one "
            "collector, <= 80 bytes/span on the current engine, trace by ID p99 <= 50 ms, every search p99 <= 300 ms.",
            "",
            table,
        ]))


if __name__ == "__main__":
    main()
