"""Pipeline benchmark: acknowledged and durable spans/s for the three ways a collector can
hold accepted spans (sqlite storage in every case):

* ``memory``: the in-memory queue (a crash loses the queue plus the commit interval);
* ``wal``: ``--collector.queue.durable`` (fsync'd before the acknowledgement);
* ``nats``: ``--collector.buffer nats`` -> nats-server (JetStream, file storage) -> one
  ``spyglass ingester``.

The load is ``spyglass tracegen`` (OTLP gRPC, requests of ``--batch`` spans, ``--clients``
requests in flight per worker, ``--workers`` processes) for ``--seconds``, with ``--verify``
through a ``spyglass query`` on the same data directory: every acknowledged trace is read
back whole, after ``--verify-delay`` (by default once the run is over and stored, so the reads
do not slow what is measured). "acked/s" counts spans answered OK, "stored/s" the time until
storage reported every one of them written (the ingester's or the collector's counter); CPU
per span is each process's user+system time (/proc) over the spans stored, the figure that
does not depend on what else the shared machine runs. The ratio column is against the
in-memory queue of the same run.

    .venv/bin/python bench/pipeline.py [--seconds 10] [--batch 1000] [--clients 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = ("collector.http-port", "collector.grpc-port", "collector.otlp-grpc-port", "collector.otlp-http-port",
         "collector.zipkin-port", "admin.port", "agent.sampling-port", "query.http-port", "query.grpc-port", "tempo-api.port",
         "agent.jaeger-compact-port", "agent.jaeger-binary-port", "agent.zipkin-compact-port")
TICK = os.sysconf("SC_CLK_TCK")


def free_port(udp: bool = False) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def spawn(root: Path, command: str, *args: str) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {f: free_port(udp=f.startswith("agent.j") or f.startswith("agent.z")) for f in FLAGS}
    if command == "ingester":
        ports = {"admin.port": free_port()}
    elif command == "query":
        ports = {f: p for f, p in ports.items() if f.startswith("query.") or f == "admin.port"}
    else:  # the collector command takes no query flags
        ports = {f: p for f, p in ports.items() if not f.startswith(("query.", "tempo-api."))}
    argv = [sys.executable, "-m", "spyglass.cli", command, *[x for f, p in ports.items() for x in (f"--{f}", str(p))],
            *args]
    log = open(root / f"{command}.log", "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{ports['admin.port']}/", timeout=1)
            return proc, ports
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{command} did not start; see {root}")


def metric(admin: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


def tracegen(port: int, query: int, args: argparse.Namespace, report: Path) -> subprocess.Popen[bytes]:
    delay = args.verify_delay or f"{args.seconds * 3 + 10:g}s"
    argv = [sys.executable, "-m", "spyglass.cli", "tracegen", "--protocol", "otlp-grpc",
            "--endpoint", f"127.0.0.1:{port}", "--duration", f"{args.seconds:g}s", "--batch-spans", str(args.batch),
            "--concurrency", str(args.clients), "--workers", str(args.workers), "--services", "3",
            "--verify", f"http://127.0.0.1:{query}", "--verify-delay", delay, "--verify-timeout", "30s",
            "--report-file", str(report)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL)


def run(mode: str, args: argparse.Namespace) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix=f"spyglass-bench-{mode}-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data = ["--data-dir", str(root / "data")]
        roles: dict[str, int] = {}
        if mode == "nats":
            port = free_port()
            nats = subprocess.Popen([shutil.which("nats-server") or "/usr/sbin/nats-server", "-a", "127.0.0.1",
                                     "-p", str(port), "-js", "-sd", str(root / "js")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(nats)
            time.sleep(1)
            url = ["--nats.url", f"nats://127.0.0.1:{port}"]
            collector, ports = spawn(root, "collector", "--collector.buffer", "nats", *url, "--storage", "memory",
                                     "--data-dir", str(root / "c"))
            ingester, iports = spawn(root, "ingester", *url, *data)
            procs += [collector, ingester]
            counter = iports["admin.port"], "spyglass_ingester_spans_written_total"
            roles = {"collector": collector.pid, "ingester": ingester.pid, "nats-server": nats.pid}
        else:
            extra = ["--collector.queue.durable"] if mode == "wal" else []
            collector, ports = spawn(root, "collector", *data, *extra)
            procs.append(collector)
            counter = ports["admin.port"], "spyglass_spans_written_total"
            roles = {"collector": collector.pid}
        query, qports = spawn(root, "query", *data)
        procs.append(query)
        cpu0 = {r: cpu_seconds(pid) for r, pid in roles.items()}
        load0 = os.getloadavg()[0]
        started = time.monotonic()
        gen = tracegen(ports["collector.otlp-grpc-port"], qports["query.http-port"], args, root / "report.json")
        series: list[tuple[float, float]] = []  # (seconds since start, spans written)
        cpu: dict[str, float] = {}
        while gen.poll() is None:
            series.append((time.monotonic() - started, metric(*counter)))
            if not cpu and series[-1][0] > args.seconds and len(series) > 30 and series[-1][1] == series[-31][1] > 0:
                # Writes stopped 1.5 s ago, the verifying reads have not begun: the ingest's CPU.
                cpu = {r: cpu_seconds(pid) - cpu0[r] for r, pid in roles.items()}
            time.sleep(0.05)
        report = json.loads((root / "report.json").read_text())
        acked = report["acknowledged"]
        stored_at = next((t for t, n in series if n >= acked), series[-1][0] if series else 0.0)
        written = metric(*counter)
        verify = report["verify"] or {}
        return {
            "mode": mode, "acked_per_s": acked / report["elapsed_s"], "stored_per_s": acked / stored_at,
            "acked": acked, "written": written, "lost": verify.get("traces_lost"), "checked": verify.get("checked"),
            "cpu_us_per_span": {r: round(c / max(written, 1) * 1e6, 1) for r, c in cpu.items()},
            "load_average": round((load0 + os.getloadavg()[0]) / 2, 1),
        }
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="tracegen's --concurrency (per worker)")
    parser.add_argument("--workers", type=int, default=2, help="tracegen's --workers")
    parser.add_argument("--verify-delay", default="", help="tracegen's --verify-delay (default: 3 x seconds + 10 s)")
    parser.add_argument("--modes", default="memory,wal,nats")
    args = parser.parse_args()
    print(f"spyglass tracegen --verify, OTLP gRPC, {args.batch} spans per request, {args.workers} workers x "
          f"{args.clients} in flight, {args.seconds:g} s, sqlite storage, {os.cpu_count()} cores")
    print("| mode | acked spans/s | stored spans/s | stored vs memory | traces verified (lost) | CPU µs/span | load avg |\n"
          "| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    reference = None
    for mode in args.modes.split(","):
        r = run(mode, args)
        reference = reference or r["stored_per_s"]
        cpu = ", ".join(f"{k} {v}" for k, v in r["cpu_us_per_span"].items())
        print(f"| {mode} | {r['acked_per_s']:,.0f} | {r['stored_per_s']:,.0f} | {r['stored_per_s'] / reference:.2f} | "
              f"{r['checked']:,} ({r['lost']}) | {cpu} | {r['load_average']} |", flush=True)
        if r["lost"]:
            raise SystemExit(f"{mode}: tracegen --verify found {r['lost']} acknowledged traces lost")


if __name__ == "__main__":
    main()
