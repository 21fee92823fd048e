"""Tracer benchmark: Spyglass's tracer vs the OpenTelemetry SDK vs jaeger-client, in one run.

For each library, on this process's main thread:

* µs per span for start + 2 tags + 1 log + finish, sampled and unsampled (and a bare
  start + finish, unsampled): the mean over bursts of 1,000 spans, with the reporter
  drained between bursts (ours: ``RemoteReporter`` with a discarding sender; OTel:
  ``BatchSpanProcessor`` with a discarding exporter; jaeger-client: its in-memory
  reporter); and the same while 50,000 spans pile up undrained, which shows the garbage
  collector's cost of a large buffer;
* bytes of Python memory per finished span waiting in the reporter's buffer
  (``tracemalloc``; the buffer holds 20,000 spans);
* the caller-thread cost with a UDP reporter really sending (Thrift compact to a local
  UDP socket): µs per span spent in the application thread while the reporter's thread
  encodes and sends, then the total including the final flush. The OTel SDK sends
  through ``spyglass.client.otel.SpyglassSpanExporter`` (the SDK's own Jaeger exporter
  is retired). All three use a 100,000-span queue, so the figures measure work, not drops.

    .venv/bin/python bench/tracer.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import socket
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_section  # noqa: E402

import jaeger_client  # noqa: E402
from jaeger_client.reporter import InMemoryReporter as JaegerInMemory  # noqa: E402
from jaeger_client.sampler import ConstSampler as JaegerConst  # noqa: E402
from opentelemetry.sdk.resources import Resource as OtelResource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON  # noqa: E402

from spyglass.client import Config, ConstSampler, RemoteReporter, Tracer  # noqa: E402
from spyglass.client.otel import SpyglassSpanExporter  # noqa: E402
from spyglass.client.reporting.senders import Sender, UDPSender  # noqa: E402

QUEUE = 100_000


class DiscardSender(Sender):
    def send(self, spans: Sequence) -> int:
        return 0


class DiscardExporter(SpanExporter):
    def export(self, spans) -> SpanExportResult:  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS


# -- workloads (the same calls through each API) --------------------------------------------
def ot_full(tracer) -> None:  # type: ignore[no-untyped-def]
    s = tracer.start_span("GET /orders")
    s.set_tag("http.method", "GET")
    s.set_tag("http.status_code", 200)
    s.log_kv({"event": "cache miss", "key": "k1"})
    s.finish()


def ot_bare(tracer) -> None:  # type: ignore[no-untyped-def]
    tracer.start_span("GET /orders").finish()


def otel_full(tracer) -> None:  # type: ignore[no-untyped-def]
    s = tracer.start_span("GET /orders")
    s.set_attribute("http.method", "GET")
    s.set_attribute("http.status_code", 200)
    s.add_event("cache miss", {"key": "k1"})
    s.end()


def otel_bare(tracer) -> None:  # type: ignore[no-untyped-def]
    tracer.start_span("GET /orders").end()


# -- tracers --------------------------------------------------------------------------------
class Lib:
    """One library set up with a sampled or unsampled tracer and an idle reporter."""

    def __init__(self, name: str, sampled: bool) -> None:
        self.name = name
        if name == "spyglass":
            self.reporter = RemoteReporter(DiscardSender(), queue_size=QUEUE * 2, batch_size=10**9, flush_interval=3600)
            self.tracer = Tracer("bench", self.reporter, ConstSampler(sampled))
            self.full, self.bare = ot_full, ot_bare
        elif name == "otel-sdk":
            self.provider = TracerProvider(sampler=ALWAYS_ON if sampled else ALWAYS_OFF,
                                           resource=OtelResource.create({"service.name": "bench"}))
            self.processor = BatchSpanProcessor(DiscardExporter(), max_queue_size=QUEUE * 2,
                                                max_export_batch_size=QUEUE * 2, schedule_delay_millis=3_600_000)
            self.provider.add_span_processor(self.processor)
            self.tracer = self.provider.get_tracer("bench")
            self.full, self.bare = otel_full, otel_bare
        else:
            self.reporter = JaegerInMemory()
            self.tracer = jaeger_client.Tracer("bench", self.reporter, JaegerConst(sampled))
            self.full, self.bare = ot_full, ot_bare

    def drain(self) -> None:
        if self.name == "spyglass":
            self.reporter.flush()
        elif self.name == "otel-sdk":
            self.processor.force_flush()
        else:
            self.reporter.spans.clear()

    def close(self) -> None:
        if self.name == "otel-sdk":
            self.provider.shutdown()
        else:
            self.tracer.close()


def per_span_us(lib: Lib, work: Callable, bursts: int, burst: int) -> float:
    """Mean µs per span over ``bursts`` bursts of ``burst`` spans; the reporter is drained
    (untimed) between bursts, as each library's reporter drains itself in normal operation
    (ours every 10 spans or 1 s, the SDK's BatchSpanProcessor every 512 spans or 5 s)."""
    tracer = lib.tracer
    for _ in range(burst):  # warm-up
        work(tracer)
    times = []
    for _ in range(bursts):
        lib.drain()
        start = time.perf_counter()
        for _ in range(burst):
            work(tracer)
        times.append((time.perf_counter() - start) / burst * 1e6)
    lib.drain()
    return sum(times) / len(times)


def buffered_us(lib: Lib, work: Callable, n: int) -> float:
    """µs per span while ``n`` finished spans pile up in an idle reporter: shows what the
    garbage collector's passes over a large buffer cost (every library pays it)."""
    lib.drain()
    gc.collect()
    tracer = lib.tracer
    start = time.perf_counter()
    for _ in range(n):
        work(tracer)
    elapsed = time.perf_counter() - start
    lib.drain()
    return elapsed / n * 1e6


def bytes_per_buffered_span(name: str, n: int) -> float:
    lib = Lib(name, True)
    for _ in range(100):
        lib.full(lib.tracer)
    lib.drain()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        lib.full(lib.tracer)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    lib.drain()
    lib.close()
    return held / n


# -- UDP reporter running -----------------------------------------------------------------------
def udp_sink() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # nobody reads: the kernel drops what does not fit, sends still succeed
    return sock


def wait_future(fut) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while fut is not None and not fut.done() and time.monotonic() < deadline:
        time.sleep(0.01)


def udp_run(name: str, n: int) -> tuple[float, float, str]:
    sink = udp_sink()
    port = sink.getsockname()[1]
    note = ""
    if name == "spyglass":
        tracer = Config({"sampler": {"type": "const", "param": 1}, "reporter_queue_size": QUEUE,
                         "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": port}},
                        service_name="bench", environ={}).new_tracer()
        work = ot_full
    elif name == "otel-sdk":
        provider = TracerProvider(resource=OtelResource.create({"service.name": "bench"}))
        provider.add_span_processor(BatchSpanProcessor(SpyglassSpanExporter(UDPSender("127.0.0.1", port)),
                                                       max_queue_size=QUEUE))
        tracer = provider.get_tracer("bench")
        work = otel_full
    else:
        tracer = jaeger_client.Config({"sampler": {"type": "const", "param": 1}, "reporter_queue_size": QUEUE,
                                       "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": port},
                                       "logging": False, "metrics": False}, service_name="bench").new_tracer()
        work = ot_full
    gc.collect()
    start = time.perf_counter()
    for _ in range(n):
        work(tracer)
    caller = time.perf_counter() - start
    if name == "spyglass":
        tracer.close()
        note = f"dropped {tracer.reporter.dropped}, failed {tracer.reporter.failed}"
    elif name == "otel-sdk":
        provider.shutdown()
    else:
        wait_future(tracer.close())
    total = time.perf_counter() - start
    sink.close()
    return caller / n * 1e6, total / n * 1e6, note


LIBS = ("spyglass", "otel-sdk", "jaeger-client")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    bursts, burst, mem_n, udp_n, pile = (10, 1_000, 5_000, 5_000, 10_000) if args.quick else (50, 1_000, 20_000, 20_000, 50_000)

    rows = {}
    for name in LIBS:
        sampled, unsampled = Lib(name, True), Lib(name, False)
        rows[name] = {
            "sampled": per_span_us(sampled, sampled.full, bursts, burst),
            "unsampled": per_span_us(unsampled, unsampled.full, bursts, burst),
            "bare": per_span_us(unsampled, unsampled.bare, bursts, burst),
            "piled": buffered_us(sampled, sampled.full, pile),
        }
        sampled.close()
        unsampled.close()
        rows[name]["memory"] = bytes_per_buffered_span(name, mem_n)
        print(name, {k: round(v, 2) for k, v in rows[name].items()}, flush=True)
    for name in LIBS:
        caller, total, note = udp_run(name, udp_n)
        rows[name].update(udp_caller=caller, udp_total=total, udp_note=note)
        print(name, "udp", round(caller, 2), round(total, 2), note, flush=True)

    ours, otel = rows["spyglass"], rows["otel-sdk"]
    lines = [
        "## Tracer: start + finish cost, memory, UDP reporter",
        "",
        f"`.venv/bin/python bench/tracer.py` ({machine()}; opentelemetry-sdk {version('opentelemetry-sdk')}, "
        f"jaeger-client {version('jaeger-client')}). µs per span: mean over {bursts} bursts of {burst:,} spans, "
        "the reporter drained between bursts (untimed), as reporters drain themselves in normal operation. "
        "\"full\" = start, 2 tags, 1 log, finish; \"bare\" = start, finish. \"piled up\": sampled full spans "
        f"while {pile:,} of them accumulate in an idle reporter, which adds the garbage collector's passes over "
        "the growing buffer (every library pays it; a draining reporter does not). Memory: Python bytes held "
        f"per finished span waiting in the reporter ({mem_n:,} buffered). UDP: {udp_n:,} sampled full spans "
        "with the reporter sending Thrift compact to a local UDP socket; \"caller\" is time in the application "
        "thread, \"total\" adds the final flush.",
        "",
        "| library | sampled full µs | unsampled full µs | unsampled bare µs | sampled, piled up µs | bytes / buffered span | UDP caller µs | UDP total µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in LIBS:
        r = rows[name]
        lines.append(f"| {name} | {r['sampled']:.2f} | {r['unsampled']:.2f} | {r['bare']:.2f} | {r['piled']:.2f} | "
                     f"{r['memory']:.0f} | {r['udp_caller']:.2f} | {r['udp_total']:.2f} |")
    speedup = otel["sampled"] / ours["sampled"]
    lines += [
        "",
        f"Targets: sampled ≤ 3 µs: **{ours['sampled']:.2f}** ({'met' if ours['sampled'] <= 3 else 'missed'}); "
        f"unsampled ≤ 1 µs: **{ours['unsampled']:.2f}** ({'met' if ours['unsampled'] <= 1 else 'missed'}); "
        f"≥ 5× faster than the OTel SDK: **{speedup:.1f}×** ({'met' if speedup >= 5 else 'missed'}); "
        f"≤ 1 KB per buffered span: **{ours['memory']:.0f} B** ({'met' if ours['memory'] <= 1024 else 'missed'}).",
        f"Spyglass UDP run: {ours['udp_note']}.",
    ]
    write_section("tracer", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
