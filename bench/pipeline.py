"""Pipeline benchmark: acknowledged and durable spans/s for the three ways a collector can
hold accepted spans (sqlite storage in every case):

* ``memory``: the in-memory queue (a crash loses the queue plus the commit interval);
* ``wal``: ``--collector.queue.durable`` (fsync'd before the acknowledgement);
* ``nats``: ``--collector.buffer nats`` -> nats-server (JetStream, file storage) -> one
  ``spyglass ingester``.

OTLP gRPC requests of ``--batch`` spans from ``--clients`` concurrent calls for
``--seconds``; "acked/s" counts spans answered OK, "stored/s" the time until storage
reported every one of them written (the ingester's or the collector's counter).

    .venv/bin/python bench/pipeline.py [--seconds 10] [--batch 1000] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
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

import grpc

from spyglass.codecs import otlp_proto
from spyglass.model import KeyValue, Resource, Span

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
FLAGS = ("collector.http-port", "collector.grpc-port", "collector.otlp-grpc-port", "collector.otlp-http-port",
         "collector.zipkin-port", "admin.port", "agent.sampling-port", "query.http-port", "query.grpc-port", "tempo-api.port",
         "agent.jaeger-compact-port", "agent.jaeger-binary-port", "agent.zipkin-compact-port")


def free_port(udp: bool = False) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(root: Path, command: str, *args: str) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {f: free_port(udp=f.startswith("agent.j") or f.startswith("agent.z")) for f in FLAGS}
    if command == "ingester":
        ports = {"admin.port": free_port()}
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


def payloads(batch: int, count: int) -> list[bytes]:
    r = Resource("bench", [KeyValue("host.name", "h1")])
    now = time.time_ns()
    return [otlp_proto.encode_export_request([
        Span((n << 32) | (i // 10) + 1, i + 1, f"op{i % 13}", now + i, 1000, r,
             attributes=[KeyValue("http.method", "GET"), KeyValue("n", i)])
        for i in range(batch)]) for n in range(count)]


async def load(port: int, bodies: list[bytes], seconds: float, clients: int, batch: int) -> int:
    acked = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        end = time.monotonic() + seconds

        async def client(k: int) -> None:
            nonlocal acked
            i = k
            while time.monotonic() < end:
                try:
                    await call(bodies[i % len(bodies)], timeout=30)
                    acked += batch
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.05)
                i += clients

        await asyncio.gather(*(client(k) for k in range(clients)))
    return acked


def run(mode: str, args: argparse.Namespace, bodies: list[bytes]) -> str:
    root = Path(tempfile.mkdtemp(prefix=f"spyglass-bench-{mode}-"))
    procs = []
    try:
        data = ["--data-dir", str(root / "data")]
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
        else:
            extra = ["--collector.queue.durable"] if mode == "wal" else []
            collector, ports = spawn(root, "collector", *data, *extra)
            procs.append(collector)
            counter = ports["admin.port"], "spyglass_spans_written_total"
        started = time.monotonic()
        acked = asyncio.run(load(ports["collector.otlp-grpc-port"], bodies, args.seconds, args.clients, args.batch))
        acked_seconds = time.monotonic() - started
        while metric(*counter) < acked and time.monotonic() - started < args.seconds + 120:
            time.sleep(0.05)
        stored_seconds = time.monotonic() - started
        return (f"| {mode} | {acked / acked_seconds:,.0f} | {metric(*counter) / stored_seconds:,.0f} |")
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
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--modes", default="memory,wal,nats")
    args = parser.parse_args()
    bodies = payloads(args.batch, 64)
    print(f"OTLP gRPC, {args.batch} spans per request, {args.clients} concurrent, {args.seconds:.0f} s, "
          f"sqlite storage, {os.cpu_count()} cores")
    print("| mode | acked spans/s | stored spans/s |\n| --- | --- | --- |")
    for mode in args.modes.split(","):
        print(run(mode, args, bodies), flush=True)


if __name__ == "__main__":
    main()
