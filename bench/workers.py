"""Collectors on every core: durable spans/s and server CPU µs/span of the all-in-one
(sqlite, the default storage) with ``--workers 1`` (in-process) and ``--workers 2``.

From outside, with real payloads: OTLP gRPC requests of ``--batch`` spans (the span shape
of ``_common.make_spans``: ~8 attributes, an event, 10-span traces), encoded once before
the clock starts, sent by ``--senders`` processes with ``--concurrency`` calls in flight
each, for ``--seconds``. "Stored" is ``spyglass_spans_written_total`` reaching what was
acknowledged (the sqlite commit follows within half ``--sqlite.commit-interval``).
Server CPU is user+system time of the server and all its worker processes (/proc),
from the first request to the last span stored, divided by the spans stored. Peak
resident memory (VmRSS every 0.5 s) of the parent, of the largest worker and of all.

Reference in the same run: decoding the same OTLP bodies in this process, with the
servers' GC settings (µs/span), the least any receiver pays per span; the ratio says what
storing costs on top of it. And two ceilings, with the same senders: bare receivers on
every core (our gRPC server stack, sharing the port as the workers do) that only receive,
or receive and decode into the model, and store nothing. No receiver built on these
libraries stores faster than the second, whatever its storage.

    flock /work/bench.lock .venv/bin/python bench/workers.py [--seconds 15] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from _common import ServerProcess, free_port, machine, make_spans, write_section
from spyglass.cmd.runner import tune_gc
from spyglass.codecs import otlp_proto
from spyglass.collector.receivers.otlp_grpc import SERVICE as OTLP_SERVICE

EXPORT = f"/{OTLP_SERVICE}/Export"
TICK = os.sysconf("SC_CLK_TCK")


def bodies(batch: int, count: int) -> list[bytes]:
    return [otlp_proto.encode_export_request(make_spans(batch, seed=n + 1)) for n in range(count)]


def family(pid: int) -> list[int]:
    """``pid`` and its children still running (the workers)."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                pids.append(int(entry))
    return pids


def cpu_of(pids: list[int]) -> float:
    """user+system seconds of ``pids`` (a server and its workers)."""
    total = 0.0
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    return total


class PeakMemory:
    """Peak resident memory (VmRSS, sampled every 0.5 s) of the server's parent process,
    of its largest worker and of them all together, so docs/scaling.md's per-process
    memory figures can be checked against the all-in-one with workers."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.parent = self.worker = self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            sizes = {p: _rss_mb(p) for p in family(self.pid)}
            self.parent = max(self.parent, sizes.get(self.pid, 0.0))
            self.worker = max([self.worker, *(mb for p, mb in sizes.items() if p != self.pid)])
            self.total = max(self.total, sum(sizes.values()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _rss_mb(pid: int) -> float:
    try:
        match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return 0.0
    return int(match.group(1)) / 1024 if match else 0.0


def _sender(port: int, payloads: list[bytes], seconds: float, concurrency: int, batch: int, start_at: float,
            out: mp.Queue) -> None:
    async def run() -> int:
        acked = 0
        # One connection per call in flight (a local subchannel pool: otherwise channels to
        # one target share a connection), so the kernel spreads them over the workers.
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(concurrency)]
        await asyncio.sleep(max(0.0, start_at - time.time()))
        end = time.monotonic() + seconds

        async def one(k: int) -> None:
            nonlocal acked
            call = channels[k].unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            i = k
            while time.monotonic() < end:
                try:
                    await call(payloads[i % len(payloads)], timeout=60)
                    acked += batch
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.05)
                i += concurrency

        await asyncio.gather(*(one(k) for k in range(concurrency)))
        for channel in channels:
            await channel.close()
        return acked

    out.put(asyncio.run(run()))


def drive(port: int, pids: Callable[[], list[int]], args: argparse.Namespace, payloads: list[bytes],
          stored: Callable[[], float] | None = None) -> dict[str, float]:
    """Send for ``args.seconds`` from ``args.senders`` processes to ``port``; then wait for
    ``stored()`` (when given) to reach what was acknowledged. Rates and the CPU of ``pids()``
    (sampled at the start and the end) per span stored, or per span acknowledged."""
    out: mp.Queue = mp.Queue()
    start_at = time.time() + 1.0
    senders = [mp.Process(target=_sender, args=(port, payloads, args.seconds, args.concurrency, args.batch,
                                                start_at, out)) for _ in range(args.senders)]
    for s in senders:
        s.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, t0 = cpu_of(pids()), time.monotonic()
    acked = sum(out.get(timeout=args.seconds + 120) for _ in senders)
    for s in senders:
        s.join()
    done = acked
    if stored is not None:
        while stored() < acked and time.monotonic() - t0 < args.seconds + 300:
            time.sleep(0.05)
        done = stored()
    cpu, elapsed = cpu_of(pids()) - cpu0, time.monotonic() - t0
    return {"acked": acked, "stored": done, "stored_per_s": done / elapsed,
            "cpu_us_per_span": cpu / max(done, 1) * 1e6, "cpu_cores": cpu / elapsed}


def measure(workers: int, args: argparse.Namespace, payloads: list[bytes]) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="spyglass-bench-workers-"))
    server = ServerProcess("--data-dir", str(data), "--workers", str(workers), *args.server_args)
    try:
        memory = PeakMemory(server.proc.pid)
        result = drive(server.ports["collector.otlp-grpc-port"], lambda: family(server.proc.pid), args, payloads,
                       stored=lambda: server.metric_sum("spyglass_spans_written_total"))
        memory.stop()
        return {**result, "rss_parent": memory.parent, "rss_worker": memory.worker, "rss_total": memory.total}
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def _bare_receiver(port: int, decode: bool, ready: Any) -> None:
    """Our gRPC server stack (``GrpcServer``, the collector's GC settings) with an OTLP
    ``Export`` that decodes the request into the model with the collector's decoder (inline,
    without the collector's thread hop), or with ``decode`` false does nothing at all, and
    stores nothing: the ceiling of a receiver built on these libraries, whatever its storage."""
    from spyglass.codecs.otlp_proto import decode_export_request_partial, export_response
    from spyglass.server.grpc_server import GrpcServer

    tune_gc()
    ok = export_response()

    async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if decode:
            decode_export_request_partial(request)
        return ok

    def register(server: grpc.aio.Server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(OTLP_SERVICE, {"Export": handler}),))

    async def serve() -> None:
        server = GrpcServer("bare-otlp", "127.0.0.1", port, [register])
        server.reuse_port = True
        await server.start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(serve())


def ceiling(decode: bool, args: argparse.Namespace, payloads: list[bytes]) -> dict[str, float]:
    """``_bare_receiver`` in one process per core, sharing one port as the workers do."""
    port = free_port()
    ready = [mp.Event() for _ in range(os.cpu_count() or 1)]
    receivers = [mp.Process(target=_bare_receiver, args=(port, decode, r), daemon=True) for r in ready]
    for r in receivers:
        r.start()
    try:
        for r in ready:
            if not r.wait(30):
                raise RuntimeError("a bare receiver did not start")
        return drive(port, lambda: [r.pid for r in receivers if r.pid], args, payloads)
    finally:
        for r in receivers:
            r.kill()
            r.join()


def decode_reference(payloads: list[bytes], batch: int) -> float:
    started = time.process_time()
    rounds = 0
    while time.process_time() - started < 2.0:
        for body in payloads[:8]:
            otlp_proto.decode_export_request(body)
        rounds += 1
    return (time.process_time() - started) / (rounds * 8 * batch) * 1e6


def writer_costs(batch: int, batches: int = 30, warm: int = 6) -> tuple[float, float, float]:
    """CPU µs/span, in this process, of the sqlite writer's two paths on the same spans:
    ``write_spans`` (in-process: encode, index, insert), and the parent's share with
    workers (decode the prepared batch, ``write_prepared``), with the workers' share
    (``Preparer.prepare``) beside it. Commits included. The first ``warm`` batches are
    written before the clock starts: they train the day file's zstd dictionary (after 1 MiB
    of chunks, ~0.15 s once per day file), which 30 timed batches would otherwise carry
    as ~5 µs/span that a running server does not pay."""
    from spyglass.storage.sqlite import SqliteConfig, SqliteFactory
    from spyglass.storage.sqlite.prepared import Preparer, PreparedSpans

    spans = [make_spans(batch, seed=100 + n) for n in range(batches)]
    warmup = [make_spans(batch, seed=10_000 + n) for n in range(warm)]
    out = []
    root = Path(tempfile.mkdtemp(prefix="spyglass-bench-writer-"))
    try:
        for name in ("plain", "prepared"):
            factory = SqliteFactory(SqliteConfig(data_dir=str(root / name)))
            writer = factory.span_writer()
            preparer = Preparer()
            for b in warmup:
                if name == "plain":
                    writer.write_spans(b)
                else:
                    writer.write_prepared([PreparedSpans(preparer.prepare(b))])  # type: ignore[attr-defined]
            writer.sync()  # type: ignore[attr-defined]
            payloads = [preparer.prepare(b) for b in spans] if name == "prepared" else []
            if name == "prepared":
                started = time.process_time()
                for b in spans:
                    preparer.prepare(b)
                out.append((time.process_time() - started) / (batch * batches) * 1e6)
            started = time.process_time()
            for n in range(batches):
                if name == "plain":
                    writer.write_spans(spans[n])
                else:
                    writer.write_prepared([PreparedSpans(payloads[n])])  # type: ignore[attr-defined]
            writer.sync()  # type: ignore[attr-defined]
            out.append((time.process_time() - started) / (batch * batches) * 1e6)
            factory.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    plain, prepare, prepared = out
    return plain, prepared, prepare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--write", action="store_true", help="record the table in docs/benchmarks.md")
    parser.add_argument("--writer-only", action="store_true", help="only the writer's two paths, no server")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the bare receivers (nothing stored)")
    parser.add_argument("server_args", nargs="*", help="extra all-in-one flags (after --)")
    args = parser.parse_args()
    payloads = bodies(args.batch, 24)
    tune_gc()  # the references run with the servers' GC settings
    load_before = os.getloadavg()
    decode_us = decode_reference(payloads, args.batch)
    plain_us, prepared_us, prepare_us = writer_costs(args.batch)
    writer_line = (f"sqlite writer alone, this process, CPU µs/span: in-process `write_spans` {plain_us:.1f}; "
                   f"with workers, the writer process's `write_prepared` {prepared_us:.1f} "
                   f"(the workers' `prepare` {prepare_us:.1f}, on their cores)")
    print(writer_line, flush=True)
    if args.writer_only:
        return
    rows = []
    for n in [int(x) for x in args.workers.split(",")]:
        r = measure(n, args, payloads)
        rows.append(f"| all-in-one `--workers {n}` | {r['acked'] / args.seconds:,.0f} | {r['stored_per_s']:,.0f} | "
                    f"{r['cpu_us_per_span']:.1f} | {r['cpu_cores']:.2f} | {r['cpu_us_per_span'] / decode_us:.1f}x | "
                    f"{r['rss_parent']:.0f} / {r['rss_worker']:.0f} / {r['rss_total']:.0f} |")
        print(rows[-1], flush=True)
    cores = os.cpu_count() or 1
    for decode, what in ([] if args.no_ceiling else [(False, "receive only"), (True, "receive + decode to the model")]):
        r = ceiling(decode, args, payloads)
        rows.append(f"| ceiling: {what}, nothing stored ({cores} processes) | {r['acked'] / args.seconds:,.0f} | – | "
                    f"{r['cpu_us_per_span']:.1f} | {r['cpu_cores']:.2f} | {r['cpu_us_per_span'] / decode_us:.1f}x | – |")
        print(rows[-1], flush=True)
    load_after = os.getloadavg()
    header = (f"OTLP gRPC, {args.batch} spans/request, {args.senders} sender processes x {args.concurrency} calls, "
              f"{args.seconds:.0f} s per run, all-in-one on sqlite, {machine()}; load average "
              f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
              f"Decode-only reference (OTLP protobuf -> model, this process): {decode_us:.1f} µs/span\n\n"
              f"{writer_line}\n\n"
              "| server | acked spans/s | stored spans/s | server CPU µs/span | server cores busy | vs decode-only "
              "| peak RSS MB: parent / largest worker / all |\n"
              "| --- | --- | --- | --- | --- | --- | --- |\n")
    table = header + "\n".join(rows) + "\n"
    print(table)
    if args.write:
        write_section("workers", "## Collectors on every core (`bench/workers.py`)\n\n"
                      "`flock /work/bench.lock .venv/bin/python bench/workers.py --write`\n\n" + table)


if __name__ == "__main__":
    main()
