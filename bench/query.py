"""Query benchmark: p50/p99 latency of Jaeger's HTTP query API over 1,000,000 stored spans.

For each backend, starts ``spyglass all-in-one --storage <backend>`` in a child process,
loads the spans through OTLP/gRPC (as a real client would), then times each request form
from this process over HTTP: trace by ID, search by service, by service + operation + tag +
duration, services, operations. The reference beside each figure is ``GET /api/services``
on the same server in the same run: the cost of one HTTP round trip through the API, so the
ratio shows what the storage work adds on top.

    .venv/bin/python bench/query.py [--spans N] [--backends memory,sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ServerProcess, machine, make_spans, write_section  # noqa: E402
from ingest import send_grpc  # noqa: E402

from spyglass.codecs import otlp_proto  # noqa: E402
from spyglass.model import format_trace_id  # noqa: E402

SAMPLES = 200


def get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        body = resp.read()
    return (time.perf_counter() - started) * 1000, body


def percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values), values[min(len(values) - 1, int(len(values) * 0.99))]


def load(server: ServerProcess, spans_total: int) -> tuple[float, list]:
    spans = make_spans(spans_total, services=5)
    payloads = [otlp_proto.encode_export_request(spans[i : i + 1000]) for i in range(0, spans_total, 1000)]
    started = time.perf_counter()
    asyncio.run(send_grpc(f"127.0.0.1:{server.ports['collector.otlp-grpc-port']}",
                          "/opentelemetry.proto.collector.trace.v1.TraceService/Export", payloads, concurrency=2))
    while server.metric_sum("spyglass_spans_written_total") < spans_total:
        time.sleep(0.05)
    return spans_total / (time.perf_counter() - started), spans


def run_backend(backend: str, spans_total: int) -> dict[str, tuple[float, float, int]]:
    with tempfile.TemporaryDirectory() as data:
        server = ServerProcess("--storage", backend, "--data-dir", data, "--memory.max-traces", "10000000",
                               "--collector.queue-size", "200000")
        try:
            rate, spans = load(server, spans_total)
            print(f"[{backend}] loaded {spans_total:,} spans at {rate:,.0f} spans/s", flush=True)
            base = f"http://127.0.0.1:{server.ports['query.http-port']}"
            rng = random.Random(3)
            trace_ids = [format_trace_id(s.trace_id) for s in rng.sample(spans, SAMPLES)]
            now_us = time.time_ns() // 1000
            window = f"&start={now_us - 2 * 3600 * 10**6}&end={now_us}"
            forms: dict[str, list[str]] = {
                "trace by ID": [f"{base}/api/traces/{t}" for t in trace_ids],
                "search: service (limit 20)": [
                    f"{base}/api/traces?service=service-{i % 5}&limit=20{window}" for i in range(SAMPLES)],
                "search: service+operation+tag+duration (limit 20)": [
                    f"{base}/api/traces?service=service-{i % 5}&operation=operation-{i % 20}"
                    f"&tags={urllib.parse.quote(json.dumps({'http.status_code': '500'}))}&minDuration=100ms&limit=20{window}"
                    for i in range(SAMPLES)],
                "services": [f"{base}/api/services"] * SAMPLES,
                "operations": [f"{base}/api/services/service-{i % 5}/operations" for i in range(SAMPLES)],
            }
            results = {}
            for name, urls in forms.items():
                get(urls[0])  # warm up
                times, found = [], 0
                for url in urls:
                    ms, body = get(url)
                    times.append(ms)
                    found += len(json.loads(body)["data"] or [])
                p50, p99 = percentiles(times)
                results[name] = (p50, p99, found // len(urls))
                print(f"[{backend}] {name:50s} p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  ({found / len(urls):.1f} results)",
                      flush=True)
            results["_load"] = (rate, 0.0, 0)
            results["_rss"] = (server.peak_rss_mb(), 0.0, 0)
        finally:
            server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--backends", default="memory,sqlite")
    args = parser.parse_args()
    from spyglass.storage.registry import BACKENDS

    backends = [b for b in args.backends.split(",") if b in BACKENDS]
    all_results = {b: run_backend(b, args.spans) for b in backends}
    lines = [
        "## Query (`bench/query.py`)",
        "",
        f"Command: `.venv/bin/python bench/query.py --spans {args.spans}` on {machine()}.",
        f"{args.spans:,} spans (traces of 10, 5 services, 20 operations, 8 attributes and a log per span) loaded",
        "through OTLP/gRPC into an all-in-one child process; each request form timed "
        f"{SAMPLES} times over HTTP from the benchmark process. Reference: `GET /api/services` on the same server.",
        "",
        "| backend | request | p50 ms | p99 ms | p99 / reference p99 | results per request |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for backend, results in all_results.items():
        ref = results["services"][1]
        for name, (p50, p99, found) in results.items():
            if not name.startswith("_"):
                lines.append(f"| {backend} | {name} | {p50:.2f} | {p99:.2f} | {p99 / ref:.1f} | {found} |")
    lines.append("")
    for backend, results in all_results.items():
        lines.append(f"- {backend}: loaded at {results['_load'][0]:,.0f} spans/s; server peak RSS "
                     f"{results['_rss'][0]:,.0f} MB.")
    lines.append("\nTargets (issue 3, memory backend): trace by ID p99 ≤ 10 ms, any search p99 ≤ 100 ms.")
    write_section("query", "\n".join(lines))


if __name__ == "__main__":
    main()
