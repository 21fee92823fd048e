"""Shared pieces of the benchmarks: a realistic span generator, a server process on free
ports, Prometheus scraping, and writing one section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from spyglass.model import Event, KeyValue, Resource, Span, SpanKind

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


def make_spans(n: int, *, trace_size: int = 10, seed: int = 1, services: int = 5) -> list[Span]:
    """``n`` spans in traces of ``trace_size``: ~8 mixed attributes, one event with 2 fields,
    a parent, and a resource with 3 attributes (the shape python-speed-limits.md measured)."""
    rng = random.Random(seed)
    resources = [
        Resource(f"service-{i}", [KeyValue("hostname", f"host-{i}"), KeyValue("ip", f"10.0.0.{i}"),
                                  KeyValue("jaeger.version", "Python-4.8.0")])
        for i in range(services)
    ]
    now = time.time_ns()
    spans = []
    for i in range(n):
        t = i // trace_size
        root = t * trace_size + 1
        sid = i + 1
        start = now - rng.randrange(3_600_000_000_000)
        spans.append(Span(
            trace_id=(rng.getrandbits(64) << 64) | (t + 1),
            span_id=sid,
            name=f"operation-{rng.randrange(20)}",
            start_time_ns=start,
            duration_ns=rng.randrange(1_000, 5_000_000_000),
            resource=resources[t % services],
            parent_span_id=0 if sid == root else root,
            kind=SpanKind.SERVER if sid == root else SpanKind.CLIENT,
            attributes=[
                KeyValue("http.method", "GET"), KeyValue("http.url", f"https://example.com/api/{i}"),
                KeyValue("http.status_code", rng.choice([200, 200, 404, 500])), KeyValue("component", "requests"),
                KeyValue("retry", rng.random() < 0.1), KeyValue("ratio", rng.random()),
                KeyValue("peer.service", "db"), KeyValue("user.id", rng.randrange(10**6)),
            ],
            events=[Event(start + 1000, "", [KeyValue("event", "cache miss"), KeyValue("key", f"k{i}")])],
            flags=1,
        ))
    # keep trace IDs identical within a trace
    for i, span in enumerate(spans):
        span.trace_id = spans[(i // trace_size) * trace_size].trace_id
    return spans


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT_FLAGS = {
    "collector.http-port": socket.SOCK_STREAM,
    "collector.grpc-port": socket.SOCK_STREAM,
    "collector.otlp-grpc-port": socket.SOCK_STREAM,
    "collector.otlp-http-port": socket.SOCK_STREAM,
    "collector.zipkin-port": socket.SOCK_STREAM,
    "admin.port": socket.SOCK_STREAM,
    "agent.sampling-port": socket.SOCK_STREAM,
    "query.http-port": socket.SOCK_STREAM,
    "query.grpc-port": socket.SOCK_STREAM,
    "tempo-api.port": socket.SOCK_STREAM,
    "agent.jaeger-compact-port": socket.SOCK_DGRAM,
    "agent.jaeger-binary-port": socket.SOCK_DGRAM,
    "agent.zipkin-compact-port": socket.SOCK_DGRAM,
}


class ServerProcess:
    """``spyglass all-in-one`` (or ``command``: collector, ingester) in a child process on free ports.

    An all-in-one receives in-process unless ``extra`` says ``--workers``: the benchmarks that
    start one read its own process's CPU per span or request (workers would be other
    processes), and their recorded figures were measured in-process. ``bench/workers.py``
    and ``bench/clickhouse.py`` pass ``--workers`` themselves."""

    def __init__(self, *extra: str, command: str = "all-in-one") -> None:
        if command == "all-in-one" and "--workers" not in extra:
            extra = (*extra, "--workers", "1")
        self.ports = {flag: free_port(kind) for flag, kind in PORT_FLAGS.items()}
        if command == "ingester":
            self.ports = {"admin.port": self.ports["admin.port"]}
        elif command == "collector":  # each command takes the flags of its own listeners only
            self.ports = {f: p for f, p in self.ports.items() if not f.startswith("query.")}
        args = [sys.executable, "-m", "spyglass.cli", command, "--log-level", "warning", *extra]
        for flag, port in self.ports.items():
            args += [f"--{flag}", str(port)]
        self.proc = subprocess.Popen(args, cwd=ROOT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.metrics()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.1)

    def metrics(self) -> dict[str, float]:
        """Prometheus samples, keyed by their full text name (labels included)."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.ports['admin.port']}/metrics", timeout=10).read()
        out: dict[str, float] = {}
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def metric_sum(self, prefix: str) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith(prefix))

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    DOC.parent.mkdir(exist_ok=True)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n\nFigures measured on this project's 2-core machine; each section says the command that produced it.\n"
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)
