"""Measure the figures the capacity model (src/spyglass/capacity.py, docs/scaling.md) uses:
CPU per span of a collector for each format, of the sqlite writer, memory per process, disk
per span, with ``spyglass tracegen`` as the load, and the same with two processes at once.

CPU time (user + system, /proc/PID/stat) per span is the figure that carries over to other
machines; spans/s on this shared 2-core machine depends on what else runs. Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, ServerProcess  # noqa: E402

PORT_FLAG = {
    "otlp-grpc": "collector.otlp-grpc-port", "otlp-http": "collector.otlp-http-port",
    "jaeger-grpc": "collector.grpc-port", "jaeger-http": "collector.http-port",
    "jaeger-udp": "agent.jaeger-compact-port", "zipkin": "collector.zipkin-port",
}
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


BATCH_SPANS = 1000  # spans per request (--batch-spans)


def tracegen(server: ServerProcess, protocol: str, seconds: float, rate: float, report: str,
             workers: int = 1) -> subprocess.Popen[bytes]:
    batch = "70" if protocol == "jaeger-udp" else str(BATCH_SPANS)
    args = [sys.executable, "-m", "spyglass.cli", "tracegen", "--protocol", protocol,
            "--endpoint", f"127.0.0.1:{server.ports[PORT_FLAG[protocol]]}", "--duration", f"{seconds}s",
            "--rate", str(rate), "--batch-spans", batch, "--workers", str(workers), "--services", "3", "--report-file", report]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL)


def measure(protocols: list[str], storage: str, seconds: float, rate: float, workers: int = 1) -> dict[str, object]:
    """One server per protocol in ``protocols`` (each its own data dir), loaded at once."""
    with tempfile.TemporaryDirectory(prefix="spyglass-capacity-") as tmp:
        clickhouse = None
        nodes: list = []
        extra: list[str] = []
        if storage.startswith("clickhouse"):
            sys.path.insert(0, str(ROOT / "tests"))
            import clickhouse_servers

            if storage == "clickhouse-2shards":  # two servers and ZooKeeper, tables ON CLUSTER two_shards
                cluster = clickhouse_servers.cluster()
                nodes = cluster.nodes
                extra = ["--clickhouse.addresses", cluster.addresses, "--clickhouse.cluster", "two_shards",
                         "--clickhouse.database", clickhouse_servers.fresh_database()]
            else:
                clickhouse = clickhouse_servers._start_clickhouse(Path(tmp) / "clickhouse")
                nodes = [clickhouse]
                extra = ["--clickhouse.addresses", clickhouse.address]
            storage_flag = "clickhouse"
        else:
            storage_flag = storage
        servers = [ServerProcess("--storage", storage_flag, "--data-dir", f"{tmp}/{i}", *extra) for i in range(len(protocols))]
        try:
            ch_cpu0 = sum(cpu_seconds(n.process.proc.pid) for n in nodes)
            cpu0 = [cpu_seconds(s.proc.pid) for s in servers]
            started = time.monotonic()
            gens = [tracegen(s, p, seconds, rate, f"{tmp}/report-{i}.json", workers) for i, (s, p) in enumerate(zip(servers, protocols))]
            for g in gens:
                g.wait(seconds + 120)
            reports = [json.loads(Path(f"{tmp}/report-{i}.json").read_text()) for i in range(len(gens))]
            acked = sum(r["acknowledged"] for r in reports)
            deadline = time.monotonic() + 60
            while sum(s.metric_sum("spyglass_spans_written_total") for s in servers) < acked and time.monotonic() < deadline:
                time.sleep(0.2)
            stored_at = time.monotonic() - started
            written = sum(s.metric_sum("spyglass_spans_written_total") for s in servers)
            cpu = sum(cpu_seconds(s.proc.pid) - c for s, c in zip(servers, cpu0))
            busy = max(r["elapsed_s"] for r in reports)
            rss = max(s.peak_rss_mb() for s in servers)
            ch_cpu = sum(cpu_seconds(n.process.proc.pid) for n in nodes) - ch_cpu0
        finally:
            for s in servers:
                s.stop()
            if nodes:
                time.sleep(5)  # let merges settle before the size is read
            if clickhouse:
                clickhouse.stop()
        data = Path(tmp) / "clickhouse" / "data" / "data" / "spyglass" if clickhouse else Path(tmp)
        disk = sum(f.stat().st_size for f in data.rglob("*") if f.is_file() and "report" not in f.name)
        return {
            "protocols": protocols, "storage": storage, "processes": len(servers),
            "acked": acked, "acked_per_s": round(sum(r["acknowledged_per_second"] for r in reports)),
            "written": int(written), "stored_per_s": round(written / stored_at),
            "server_cpu_us_per_span": round(cpu / max(written, 1) * 1e6, 1),
            "peak_rss_mb": round(rss), "bytes_per_span": round(disk / max(written, 1)),
            "clickhouse_server_cpu_us_per_span": round(ch_cpu / max(written, 1) * 1e6, 1) if nodes else None,
            "server_cores_busy": round(cpu / busy / len(servers), 2), "tracegen_workers": workers,
            "load_average": round(os.getloadavg()[0], 1),
        }


# -- topologies: N collectors (all-in-one, or collector + NATS + ingesters) on 1 or 2 shards -----
def _rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


class Sampler(threading.Thread):
    """Every 0.5 s, the resident memory of each named process; keeps each one's largest."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak: dict[str, float] = {name: 0.0 for name in pids}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for name, pid in self.pids.items():
                try:
                    self.peak[name] = max(self.peak[name], _rss_mb(pid))
                except OSError:
                    pass
            self.done.wait(0.5)


def measure_topology(buffer: bool, collectors: int, shards: int, seconds: float, rate: float,
                     ingesters: int = 0, ingester_flags: tuple[str, ...] = ()) -> dict[str, object]:
    """``collectors`` processes loaded by one tracegen each at ``rate``/``collectors`` spans/s:
    all-in-ones inserting into ClickHouse, or (``buffer``) collectors publishing to one
    nats-server with ``ingesters`` ingesters inserting. CPU per span of every role (its
    idle CPU over 3 s before the load subtracted), peak RSS under load, rates, load average."""
    sys.path.insert(0, str(ROOT / "tests"))
    import clickhouse_servers
    from pipeline_procs import NatsServer

    with tempfile.TemporaryDirectory(prefix="spyglass-topology-") as tmp:
        infra: dict[str, int] = {}
        started_here = []
        if shards == 2:
            cluster = clickhouse_servers.cluster()
            storage = ["--storage", "clickhouse", "--clickhouse.addresses", cluster.addresses,
                       "--clickhouse.cluster", "two_shards", "--clickhouse.database", clickhouse_servers.fresh_database()]
            for i, node in enumerate(cluster.nodes):
                infra[f"clickhouse-server-{i + 1}"] = node.process.proc.pid
            infra["zookeeper"] = cluster.zookeeper.proc.pid
        else:
            node = clickhouse_servers._start_clickhouse(Path(tmp) / "clickhouse")
            started_here.append(node)
            storage = ["--storage", "clickhouse", "--clickhouse.addresses", node.address,
                       "--clickhouse.database", clickhouse_servers.fresh_database()]
            infra["clickhouse-server-1"] = node.process.proc.pid
        storage += ["--clickhouse.retention", "0"]
        nats = None
        procs: dict[str, ServerProcess] = {}
        try:
            if buffer:
                nats = NatsServer(Path(tmp))
                nats.start()
                infra["nats-server"] = nats.proc.pid
                url = ["--nats.url", nats.url, "--nats.stream", "capacity"]
                for i in range(collectors):
                    procs[f"collector-{i + 1}"] = ServerProcess("--collector.buffer", "nats", *url, "--data-dir",
                                                                f"{tmp}/c{i}", command="collector")
                for i in range(ingesters or min(collectors, 2)):
                    procs[f"ingester-{i + 1}"] = ServerProcess(*url, *storage, "--data-dir", f"{tmp}/i{i}",
                                                               *ingester_flags, command="ingester")
            else:
                for i in range(collectors):
                    procs[f"collector-{i + 1}"] = ServerProcess(*storage, "--data-dir", f"{tmp}/c{i}")
            pids = {**infra, **{name: p.proc.pid for name, p in procs.items()}}
            counter = "spyglass_ingester_spans_written_total" if buffer else "spyglass_spans_written_total"
            writers = [p for name, p in procs.items() if name.startswith("ingester" if buffer else "collector")]

            idle0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(3.0)
            idle = {name: (cpu_seconds(pid) - idle0[name]) / 3.0 for name, pid in pids.items()}  # CPU s per s
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            sampler = Sampler(pids)
            sampler.start()
            load0 = os.getloadavg()[0]
            started = time.monotonic()
            senders = [p for name, p in procs.items() if name.startswith("collector")]
            gens = [tracegen(s, "otlp-grpc", seconds, rate / len(senders), f"{tmp}/report-{i}.json")
                    for i, s in enumerate(senders)]
            for g in gens:
                g.wait(seconds + 120)
            reports = [json.loads(Path(f"{tmp}/report-{i}.json").read_text()) for i in range(len(gens))]
            acked = sum(r["acknowledged"] for r in reports)
            deadline = time.monotonic() + 120
            while sum(w.metric_sum(counter) for w in writers) < acked and time.monotonic() < deadline:
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            written = sum(w.metric_sum(counter) for w in writers)
            # Inserts: an ingester's is one per fetch (its write histogram's count); an
            # all-in-one inserts what arrived each flush interval (1 s), at most --clickhouse.batch-size.
            inserts = (sum(w.metric_sum("spyglass_ingester_write_seconds_count") for w in writers) if buffer
                       else None)
            cpu = {name: cpu_seconds(pid) - cpu0[name] - idle[name] * elapsed for name, pid in pids.items()}
            sampler.done.set()
            load1 = os.getloadavg()[0]
        finally:
            for p in procs.values():
                p.stop()
            if nats is not None:
                nats.close()
            for n in started_here:
                n.stop()

    def per_span(prefix: str) -> float:
        return round(sum(v for k, v in cpu.items() if k.startswith(prefix)) / max(written, 1) * 1e6, 1)

    def rss(prefix: str) -> list[int]:
        return [round(v) for k, v in sampler.peak.items() if k.startswith(prefix)]

    roles = ("collector", "ingester", "nats-server", "clickhouse-server", "zookeeper")
    return {
        "collectors": collectors, "ingesters": len([n for n in procs if n.startswith("ingester")]),
        "buffer": "nats" if buffer else "none", "shards": shards,
        "acked": acked, "written": int(written), "acked_per_s": round(sum(r["acknowledged_per_second"] for r in reports)),
        "stored_per_s": round(written / elapsed),
        "rows_per_insert": round(written / inserts) if inserts else
        round(min(10_000, sum(r["acknowledged_per_second"] for r in reports) / collectors)),
        "cpu_us_per_span": {r: per_span(r) for r in roles if any(k.startswith(r) for k in cpu)},
        "idle_cpu_percent": {k: round(v * 100, 1) for k, v in idle.items()},
        "peak_rss_mb": {r: rss(r) for r in roles if rss(r)},
        "load_average": [round(load0, 1), round(load1, 1)],
    }


def measure_insert_sizes(sizes: list[int], spans_total: int = 100_000) -> list[dict[str, object]]:
    """clickhouse-server CPU per span for inserts of each size: the same tracegen spans written
    through ``ClickHouseWriter`` ``size`` at a time, each followed by ``sync()`` (one insert
    of ``size`` rows per table), into a fresh database of one 18.16 node."""
    sys.path.insert(0, str(ROOT / "tests"))
    import clickhouse_servers
    from spyglass.storage.clickhouse import ClickHouseConfig
    from spyglass.storage.clickhouse.factory import ClickHouseFactory
    from spyglass.tracegen.generator import TraceGenerator, TraceShape

    gen = TraceGenerator(TraceShape(services=3), seed=7)
    spans: list = []
    while len(spans) < spans_total:
        spans.extend(gen.trace())
    out = []
    with tempfile.TemporaryDirectory(prefix="spyglass-insert-size-") as tmp:
        node = clickhouse_servers._start_clickhouse(Path(tmp) / "clickhouse")
        try:
            for size in sizes:
                factory = ClickHouseFactory(ClickHouseConfig(addresses=node.address, database=f"size{size}",
                                                             retention="0", batch_size=size, flush_interval="1h"))
                writer = factory.span_writer()
                time.sleep(1.0)
                server0, own0, load0 = cpu_seconds(node.process.proc.pid), time.process_time(), os.getloadavg()[0]
                started = time.monotonic()
                for i in range(0, len(spans), size):
                    writer.write_spans(spans[i:i + size])
                    if not writer.sync():
                        raise RuntimeError("insert failed")
                wall = time.monotonic() - started
                server = cpu_seconds(node.process.proc.pid) - server0
                own = time.process_time() - own0
                time.sleep(3.0)  # the merges the inserts caused
                merged = cpu_seconds(node.process.proc.pid) - server0
                factory.close()
                out.append({"rows_per_insert": size, "spans": len(spans),
                            "server_cpu_us_per_span": round(server / len(spans) * 1e6, 1),
                            "server_cpu_with_merges_us_per_span": round(merged / len(spans) * 1e6, 1),
                            "writer_cpu_us_per_span": round(own / len(spans) * 1e6, 1),
                            "spans_per_s": round(len(spans) / wall), "load_average": round(load0, 1)})
        finally:
            node.stop()
    return out


TOPOLOGIES = {
    "aio-ch1-1": (False, 1, 1), "aio-ch1-2": (False, 2, 1), "aio-ch1-4": (False, 4, 1),
    "aio-ch2s-1": (False, 1, 2), "aio-ch2s-2": (False, 2, 2), "aio-ch2s-4": (False, 4, 2),
    "nats-ch1-1": (True, 1, 1), "nats-ch1-2": (True, 2, 1), "nats-ch1-4": (True, 4, 1),
    "nats-ch2s-2": (True, 2, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=0.0, help="spans/s per tracegen; 0 = as fast as acknowledged")
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument("--workers", type=int, default=1, help="tracegen worker processes per server")
    parser.add_argument("--ingester-batch", type=int, default=0,
                        help="ingesters' --clickhouse.batch-size (1: an insert per fetch, as before fetches were combined)")
    parser.add_argument("--batch-spans", type=int, default=1000, help="spans per tracegen request (not UDP)")
    args = parser.parse_args()
    global BATCH_SPANS
    BATCH_SPANS = args.batch_spans
    steps = {
        **{f"memory-{p}": ([p], "memory") for p in PORT_FLAG},
        "sqlite-1": (["otlp-grpc"], "sqlite"),
        "sqlite-2": (["otlp-grpc", "otlp-grpc"], "sqlite"),
        "clickhouse-1": (["otlp-grpc"], "clickhouse"),
        "clickhouse-2": (["otlp-grpc", "otlp-grpc"], "clickhouse"),
        "clickhouse-2shards-1": (["otlp-grpc"], "clickhouse-2shards"),
        "clickhouse-2shards-2": (["otlp-grpc", "otlp-grpc"], "clickhouse-2shards"),
    }
    if "insert-size" in args.only.split(","):
        for row in measure_insert_sizes([500, 2000, 10_000, 500, 2000, 10_000]):
            print(json.dumps({"step": "insert-size", **row}), flush=True)
    for name, (buffered, collectors, shards) in TOPOLOGIES.items():
        if args.only and name in args.only.split(","):
            flags = ("--clickhouse.batch-size", str(args.ingester_batch)) if args.ingester_batch else ()
            print(json.dumps({"step": name, "ingester_flags": flags,
                              **measure_topology(buffered, collectors, shards, args.seconds, args.rate or 8000.0,
                                                 ingester_flags=flags)}), flush=True)
    for name, (protocols, storage) in steps.items():
        if args.only and name not in args.only.split(","):
            continue
        rate = args.rate or (20_000.0 if protocols == ["jaeger-udp"] else 0.0)  # UDP has no backpressure
        print(json.dumps({"step": name, **measure(protocols, storage, args.seconds, rate, args.workers)}), flush=True)
    if any(n.startswith("clickhouse") or n in TOPOLOGIES for n in [*steps, *TOPOLOGIES]
           if not args.only or n in args.only.split(",")):
        import clickhouse_servers

        clickhouse_servers.stop_all()


if __name__ == "__main__":
    main()
