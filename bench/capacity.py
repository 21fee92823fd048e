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
import subprocess
import sys
import tempfile
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


def tracegen(server: ServerProcess, protocol: str, seconds: float, rate: float, report: str,
             workers: int = 1) -> subprocess.Popen[bytes]:
    batch = "70" if protocol == "jaeger-udp" else "1000"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=0.0, help="spans/s per tracegen; 0 = as fast as acknowledged")
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument("--workers", type=int, default=1, help="tracegen worker processes per server")
    args = parser.parse_args()
    steps = {
        **{f"memory-{p}": ([p], "memory") for p in PORT_FLAG},
        "sqlite-1": (["otlp-grpc"], "sqlite"),
        "sqlite-2": (["otlp-grpc", "otlp-grpc"], "sqlite"),
        "clickhouse-1": (["otlp-grpc"], "clickhouse"),
        "clickhouse-2": (["otlp-grpc", "otlp-grpc"], "clickhouse"),
        "clickhouse-2shards-1": (["otlp-grpc"], "clickhouse-2shards"),
        "clickhouse-2shards-2": (["otlp-grpc", "otlp-grpc"], "clickhouse-2shards"),
    }
    for name, (protocols, storage) in steps.items():
        if args.only and name not in args.only.split(","):
            continue
        rate = args.rate or (20_000.0 if protocols == ["jaeger-udp"] else 0.0)  # UDP has no backpressure
        print(json.dumps({"step": name, **measure(protocols, storage, args.seconds, rate, args.workers)}), flush=True)
    if any(n.startswith("clickhouse") for n in steps if not args.only or n in args.only.split(",")):
        import clickhouse_servers

        clickhouse_servers.stop_all()


if __name__ == "__main__":
    main()
