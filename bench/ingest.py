"""Ingest benchmark: accepted spans/s through real sockets for every format and batch size.

Starts ``spyglass all-in-one --storage memory`` in a child process, sends pre-encoded
payloads from this process as fast as the server takes them (a few concurrent requests for
HTTP and gRPC), and measures the time until the server's ``spyglass_spans_written_total``
has grown by every span sent. The reference beside each figure is the codec's own decode
rate for the same payload, measured in this run: the ratio shows what the sockets, the queue
and the storage writer cost on top of decoding. A separate run sends UDP Thrift compact at a
fixed 20,000 spans/s and reports socket drops. Peak RSS is the server's VmHWM.

    .venv/bin/python bench/ingest.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import grpc

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import ServerProcess, machine, make_spans, write_section  # noqa: E402

from spyglass.codecs import (  # noqa: E402
    jaeger_proto,
    jaeger_thrift,
    otlp_json,
    otlp_proto,
    zipkin_json_v1,
    zipkin_json_v2,
    zipkin_proto,
    zipkin_thrift,
)
from spyglass.model import Span  # noqa: E402

UDP_LIMIT = 65_000


@dataclass
class Format:
    name: str
    transport: str  # udp | http | grpc
    port_flag: str
    encode: Callable[[list[Span]], bytes]
    decode: Callable[[bytes], list[Span]]
    path: str = ""
    content_type: str = ""
    method: str = ""


FORMATS = [
    Format("Jaeger Thrift compact (UDP emitBatch)", "udp", "agent.jaeger-compact-port",
           lambda s: jaeger_thrift.encode_agent_message(s, "compact"),
           lambda b: jaeger_thrift.decode_agent_message(b, "compact")),
    Format("Jaeger Thrift binary (UDP emitBatch)", "udp", "agent.jaeger-binary-port",
           lambda s: jaeger_thrift.encode_agent_message(s, "binary"),
           lambda b: jaeger_thrift.decode_agent_message(b, "binary")),
    Format("Jaeger Thrift binary (HTTP /api/traces)", "http", "collector.http-port",
           lambda s: jaeger_thrift.encode_batch(s, "binary"),
           lambda b: jaeger_thrift.decode_batch(b, "binary"), "/api/traces", "application/x-thrift"),
    Format("Jaeger protobuf (gRPC PostSpans)", "grpc", "collector.grpc-port",
           lambda s: _post_spans(s), jaeger_proto.decode_post_spans,
           method="/jaeger.api_v2.CollectorService/PostSpans"),
    Format("OTLP protobuf (gRPC)", "grpc", "collector.otlp-grpc-port",
           otlp_proto.encode_export_request, otlp_proto.decode_export_request,
           method="/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
    Format("OTLP protobuf (HTTP)", "http", "collector.otlp-http-port",
           otlp_proto.encode_export_request, otlp_proto.decode_export_request, "/v1/traces", "application/x-protobuf"),
    Format("OTLP JSON (HTTP)", "http", "collector.otlp-http-port",
           otlp_json.encode_json, otlp_json.decode_export_request, "/v1/traces", "application/json"),
    Format("Zipkin v2 JSON", "http", "collector.zipkin-port",
           zipkin_json_v2.encode_zipkin_json_v2, zipkin_json_v2.decode_zipkin_json_v2, "/api/v2/spans", "application/json"),
    Format("Zipkin v2 proto3", "http", "collector.zipkin-port",
           zipkin_proto.encode_zipkin_proto, zipkin_proto.decode_zipkin_proto, "/api/v2/spans", "application/x-protobuf"),
    Format("Zipkin v1 JSON", "http", "collector.zipkin-port",
           zipkin_json_v1.encode_zipkin_json_v1, zipkin_json_v1.decode_zipkin_json_v1, "/api/v1/spans", "application/json"),
    Format("Zipkin v1 Thrift", "http", "collector.zipkin-port",
           zipkin_thrift.encode_zipkin_thrift, zipkin_thrift.decode_zipkin_thrift, "/api/v1/spans", "application/x-thrift"),
]


def _post_spans(spans: list[Span]) -> bytes:
    from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2

    req = collector_pb2.PostSpansRequest()
    req.batch.CopyFrom(jaeger_proto.batch_from_spans(spans))
    return req.SerializeToString()


def decode_rate(fmt: Format, payloads: list[bytes], batch: int) -> float:
    sample = payloads[: max(1, 20_000 // batch)]
    started = time.perf_counter()
    for p in sample:
        fmt.decode(p)
    return len(sample) * batch / (time.perf_counter() - started)


async def send_http(url: str, payloads: list[bytes], content_type: str, concurrency: int = 4) -> None:
    queue = list(reversed(payloads))
    async with aiohttp.ClientSession() as session:
        async def worker() -> None:
            while queue:
                body = queue.pop()
                while True:
                    async with session.post(url, data=body, headers={"Content-Type": content_type}) as resp:
                        await resp.read()
                        if resp.status in (429, 503):
                            await asyncio.sleep(0.01)
                            continue
                        if resp.status >= 300:
                            raise RuntimeError(f"{url}: HTTP {resp.status}")
                        break
        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def send_grpc(target: str, method: str, payloads: list[bytes], concurrency: int = 4,
                    connections: int = 1) -> None:
    """Send every payload, ``concurrency`` calls at a time on each of ``connections`` TCP
    connections, all taking from one queue (a connection whose server answers sooner takes
    more). A refused call (RESOURCE_EXHAUSTED: the collector's queue is full) is retried
    after a backoff doubling from 10 ms to 320 ms, as clients do: a fixed 10 ms kept the
    sender (~40% of a core in a 10M ClickHouse run) and the collector re-sending and
    refusing 400 KB requests while storage was the bottleneck, CPU the storage needed.
    Each channel gets its own subchannel pool: gRPC otherwise shares one connection
    between channels to the same target, and a collector's ``--workers`` (SO_REUSEPORT)
    spread connections, not calls."""
    queue = list(reversed(payloads))
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(connections)]
    try:
        async def worker(channel: grpc.aio.Channel) -> None:
            call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
            while queue:
                body = queue.pop()
                backoff = 0.01
                while True:
                    try:
                        await call(body, timeout=60)
                        break
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                            raise
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 0.32)
        await asyncio.gather(*(worker(c) for c in channels for _ in range(concurrency)))
    finally:
        for channel in channels:
            await channel.close()


def send_udp(port: int, payloads: list[bytes], spans_per_second: float = 0.0, batch: int = 1) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    interval = batch / spans_per_second if spans_per_second else 0.0
    started = time.perf_counter()
    for i, p in enumerate(payloads):
        if interval:
            delay = started + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        sock.sendto(p, ("127.0.0.1", port))
    sock.close()


def run_one(server: ServerProcess, fmt: Format, batch: int, total: int) -> dict[str, object]:
    spans = make_spans(total, services=1)
    payloads = [fmt.encode(spans[i : i + batch]) for i in range(0, total, batch)]
    if fmt.transport == "udp" and max(len(p) for p in payloads) > UDP_LIMIT:
        return {"rate": None, "note": "batch exceeds a 65,000-byte UDP packet"}
    reference = decode_rate(fmt, payloads, batch)
    before_written = server.metric_sum("spyglass_spans_written_total")
    before_received = server.metric_sum("spyglass_spans_received_total")
    port = server.ports[fmt.port_flag]
    started = time.perf_counter()
    if fmt.transport == "udp":
        send_udp(port, payloads)
    elif fmt.transport == "http":
        asyncio.run(send_http(f"http://127.0.0.1:{port}{fmt.path}", payloads, fmt.content_type))
    else:
        asyncio.run(send_grpc(f"127.0.0.1:{port}", fmt.method, payloads))
    deadline = time.monotonic() + 120
    last, last_change = -1.0, time.perf_counter()
    while True:
        written = server.metric_sum("spyglass_spans_written_total") - before_written
        if written != last:
            last, last_change = written, time.perf_counter()
        if written >= total or time.monotonic() > deadline:
            break
        if fmt.transport == "udp" and time.perf_counter() - last_change > 0.5:
            break  # lost packets never arrive: stop once nothing has moved for 0.5 s
        time.sleep(0.01)
    elapsed = last_change - started if written < total else time.perf_counter() - started
    received = server.metric_sum("spyglass_spans_received_total") - before_received
    return {
        "rate": written / elapsed,
        "reference": reference,
        "lost": total - received,
        "bytes": sum(len(p) for p in payloads) / total,
    }


def udp_fixed_rate(server: ServerProcess, rate: int, seconds: float, batch: int = 10) -> tuple[int, int]:
    total = int(rate * seconds)
    spans = make_spans(total, services=1, seed=7)
    payloads = [jaeger_thrift.encode_agent_message(spans[i : i + batch], "compact") for i in range(0, total, batch)]
    before = server.metric_sum("spyglass_spans_received_total")
    send_udp(server.ports["agent.jaeger-compact-port"], payloads, rate, batch)
    time.sleep(1.0)
    received = int(server.metric_sum("spyglass_spans_received_total") - before)
    return total, total - received


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer spans, for a smoke run")
    parser.add_argument("--udp-only", action="store_true",
                        help="only the steady 20,000 spans/s UDP run, on a fresh server (prints, writes nothing)")
    args = parser.parse_args()
    if args.udp_only:
        server = ServerProcess("--storage", "memory")
        try:
            sent, dropped = udp_fixed_rate(server, 20_000, 5)
            print(f"UDP Thrift compact at 20,000 spans/s on a fresh server: {sent} sent, {dropped} dropped")
        finally:
            server.stop()
        return
    scale = 0.2 if args.quick else 1.0
    from spyglass.cmd.runner import tune_gc

    tune_gc()  # the same GC settings the server runs with, for the decode-only reference
    server = ServerProcess("--storage", "memory", "--memory.max-traces", "2000000",
                           "--collector.queue-size", "200000")
    rows = []
    try:
        for fmt in FORMATS:
            for batch in (10, 100, 1000):
                total = int((20_000 if batch == 10 else 50_000) * scale) // batch * batch
                result = run_one(server, fmt, batch, total)
                rows.append((fmt.name, batch, result))
                rate = result["rate"]
                print(f"{fmt.name:42s} batch {batch:5d}: "
                      + (f"{rate:9,.0f} spans/s  (codec decode alone {result['reference']:9,.0f}/s, "
                         f"ratio {rate / result['reference']:.2f}; lost {result['lost']:.0f}; "
                         f"{result['bytes']:.0f} B/span)" if rate else str(result["note"])), flush=True)
        sent, dropped = udp_fixed_rate(server, 20_000, 5 * scale if scale < 1 else 5)
        print(f"UDP Thrift compact at 20,000 spans/s: {sent} sent, {dropped} dropped")
        rss = server.peak_rss_mb()
        print(f"server peak RSS: {rss:.0f} MB")
    finally:
        server.stop()
    lines = [
        "## Ingest (`bench/ingest.py`)",
        "",
        f"Command: `.venv/bin/python bench/ingest.py{' --quick' if args.quick else ''}` on {machine()}.",
        "All-in-one on memory storage in a child process; the sender runs in the benchmark process",
        "(one core each). Rate = spans written to storage per second of wall time, send to last write.",
        "Reference = the same codec decoding the same payloads in-process (no sockets, no queue).",
        "",
        "| format | batch | spans/s | decode-only spans/s | ratio | lost | bytes/span |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, batch, r in rows:
        if r["rate"] is None:
            lines.append(f"| {name} | {batch} | – | – | – | – | {r['note']} |")
        else:
            lines.append(f"| {name} | {batch} | {r['rate']:,.0f} | {r['reference']:,.0f} | "
                         f"{r['rate'] / r['reference']:.2f} | {r['lost']:.0f} | {r['bytes']:.0f} |")
    lines += ["", f"UDP Thrift compact at a steady 20,000 spans/s for 5 s (batches of 10), run after the table, "
                  f"when the memory store already holds every span above: {sent:,} sent, **{dropped} dropped**. "
                  "`bench/ingest.py --udp-only` runs the same on a fresh server.", "",
              f"Server peak RSS: {rss:.0f} MB (the memory store holding every span of the run)."]
    write_section("ingest", "\n".join(lines))


if __name__ == "__main__":
    main()
