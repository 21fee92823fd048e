"""Drive a deployment: workers generate traces at a target rate and send them, the parent
prints sent / acknowledged / retried / refused per second, and optionally verifies.

``workers`` > 1 runs each worker in a process of its own (``spawn``: grpcio does not survive
``fork`` once used), since one Python process tops out at a few tens of thousands of spans
per second; with one worker everything runs in this process. Workers report to the parent
once per interval: counter deltas and the acknowledged traces (for ``--verify``).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from spyglass.model import format_span_id, format_trace_id
from spyglass.tracegen.generator import TraceGenerator, TraceShape
from spyglass.server.tls import ClientTlsConfig
from spyglass.tracegen.senders import Outcome, make_sender
from spyglass.tracegen.verify import Acked, Verifier

COUNTERS = ("sent", "acknowledged", "retried", "refused")


@dataclass(frozen=True)
class Options:
    protocol: str = "otlp-grpc"
    endpoint: str = "127.0.0.1"
    rate: float = 0.0  # spans/s over all workers; 0 = as fast as the server answers
    duration: float = 0.0  # seconds; 0 = until each worker sent ``traces``
    traces: int = 1  # per worker (Jaeger's -traces), when duration is 0
    workers: int = 1
    pause: float = 0.0  # seconds between one worker's traces (Jaeger's -pause)
    batch_spans: int = 100  # spans per request: whole traces are added until it is reached
    concurrency: int = 4  # requests in flight per worker
    shape: TraceShape = field(default_factory=TraceShape)
    seed: int | None = None
    verify_url: str = ""
    verify_timeout: float = 10.0
    verify_delay: float = 0.0  # first read no sooner than this after the acknowledgement
    tls: ClientTlsConfig | None = None  # --tls.*: to the endpoint and the --verify URL
    interval: float = 1.0  # report every

    def __post_init__(self) -> None:
        if self.workers < 1 or self.batch_spans < 1 or self.concurrency < 1:
            raise ValueError("workers, batch-spans and concurrency must be at least 1")
        if self.rate < 0 or self.duration < 0 or self.traces < 0 or self.pause < 0:
            raise ValueError("rate, duration, traces and pause must not be negative")
        if not self.duration and not self.traces:
            raise ValueError("give --duration or --traces (at least one trace per worker)")


class _Worker:
    """One worker's generator, sender, pacing and counters."""

    def __init__(self, options: Options, index: int, emit: Callable[[tuple[str, Any]], None]) -> None:
        self.o = options
        self.index = index
        self.emit = emit
        seed = None if options.seed is None else options.seed * 1000 + index
        self.generator = TraceGenerator(options.shape, seed=seed, worker=index)
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.acked: list[Acked] = []
        self.errors: list[str] = []

    async def run(self) -> None:
        o = self.o
        self.emit(("start", self.index))
        sender = None
        per_worker_rate = o.rate / o.workers
        slots = asyncio.Semaphore(o.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        flusher = asyncio.ensure_future(self._flush_every(o.interval))
        started = time.monotonic()
        made = traces = 0
        try:
            sender = make_sender(o.protocol, o.endpoint, o.tls)
            while True:
                if o.duration and time.monotonic() - started >= o.duration:
                    break
                if not o.duration and traces >= o.traces:
                    break
                batch = []
                while len(batch) < o.batch_spans and (o.duration or traces < o.traces):
                    batch.extend(self.generator.trace())
                    traces += 1
                    if o.pause:
                        break  # Jaeger's -pause: one trace, then the pause
                made += len(batch)
                await slots.acquire()
                task = asyncio.ensure_future(self._send(sender, batch, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if o.pause:
                    await asyncio.sleep(o.pause)
                if per_worker_rate:
                    wait = started + made / per_worker_rate - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
            while tasks:
                await asyncio.gather(*list(tasks))
        finally:
            flusher.cancel()
            if sender is not None:
                await sender.close()
            self._flush()
            self.emit(("done", {"worker": self.index, "errors": self.errors}))

    async def _send(self, sender: Any, batch: list[Any], slots: asyncio.Semaphore) -> None:
        try:
            outcome = await sender.send(batch)
        except Exception as exc:  # a client library's surprise: counted as refused, never a lost count
            outcome = Outcome(False, 0, f"{type(exc).__name__}: {exc}")
        finally:
            slots.release()
        n = len(batch)
        self.counts["sent"] += n
        self.counts["retried"] += outcome.retries * n
        if not outcome.acknowledged:
            self.counts["refused"] += n
            if len(self.errors) < 5 and outcome.error not in self.errors:
                self.errors.append(outcome.error)
            return
        if outcome.rejected:  # OTLP partial success: which spans is not said, so none is verified
            self.counts["refused"] += outcome.rejected
            self.counts["acknowledged"] += n - outcome.rejected
            if len(self.errors) < 5 and outcome.error not in self.errors:
                self.errors.append(outcome.error)
            return
        self.counts["acknowledged"] += n
        if self.o.verify_url:
            now = time.time()
            by_trace: dict[int, set[str]] = {}
            for span in batch:
                by_trace.setdefault(span.trace_id, set()).add(format_span_id(span.span_id))
            self.acked.extend(Acked(format_trace_id(t), frozenset(ids), now) for t, ids in by_trace.items())

    async def _flush_every(self, interval: float) -> None:
        """Counts every ``interval``; acknowledged traces every 50 ms, so the verifier starts
        reading soon after the acknowledgement and the delay it measures is the server's."""
        next_counts = time.monotonic() + interval
        while True:
            await asyncio.sleep(0.05)
            counts = time.monotonic() >= next_counts
            if counts:
                next_counts += interval
            self._flush(counts)

    def _flush(self, counts: bool = True) -> None:
        if counts:
            self.emit(("counts", dict(self.counts)))
            self.counts = dict.fromkeys(COUNTERS, 0)
        if self.acked:
            self.emit(("acked", self.acked))
            self.acked = []


def _worker_process(options: Options, index: int, queue: Any, parent: int) -> None:
    """Entry point of a worker process (it stops sending when tracegen is killed)."""
    from spyglass.cmd.runner import tune_gc
    from spyglass.server.parent import die_with_parent

    die_with_parent(parent)
    tune_gc()
    asyncio.run(_Worker(options, index, queue.put).run())


@dataclass
class Report:
    """The run's totals (``as_dict`` is what ``--report-file`` holds)."""

    options: Options
    elapsed: float = 0.0
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    per_second: list[dict[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    verify: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        rates = {f"{k}_per_second": round(v / self.elapsed, 1) if self.elapsed else 0.0 for k, v in self.totals.items()}
        options = asdict(self.options)
        return {"options": options, "elapsed_s": round(self.elapsed, 3), **self.totals, **rates,
                "errors": self.errors, "per_interval": self.per_second, "verify": self.verify}


async def run(options: Options, out: TextIO = sys.stdout) -> Report:
    """Run the load described by ``options``, printing one line per interval to ``out``."""
    report = Report(options)
    verifier = (Verifier(options.verify_url, options.verify_timeout, delay=options.verify_delay, tls=options.tls)
                if options.verify_url else None)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    finished = 0
    window = dict.fromkeys(COUNTERS, 0)

    def handle(message: tuple[str, Any]) -> None:
        nonlocal finished
        kind, payload = message
        if kind == "start":
            if not started_any:
                clock[0] = clock[1] = time.monotonic()  # spawned workers take a moment to start
                started_any.append(payload)
        elif kind == "counts":
            for k, v in payload.items():
                window[k] += v
                report.totals[k] += v
        elif kind == "acked" and verifier is not None:
            for trace in payload:
                verifier.add(trace)
        elif kind == "done":
            report.errors.extend(e for e in payload["errors"] if e not in report.errors)
            finished += 1
            if finished == options.workers:
                done.set()

    processes: list[Any] = []
    clock = [time.monotonic()] * 2  # [start, last report]
    started_any: list[int] = []
    rate = f"{options.rate:g} spans/s" if options.rate else "unlimited"
    print(f"tracegen: {options.protocol} to {options.endpoint}, {options.workers} worker(s), "
          f"{options.shape.spans_per_trace} spans per trace, rate {rate}", file=out, flush=True)
    if options.workers == 1:
        worker_task = asyncio.ensure_future(_Worker(options, 0, handle).run())
    else:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        processes = [context.Process(target=_worker_process, args=(options, i, queue, os.getpid()), daemon=True)
                     for i in range(options.workers)]
        for p in processes:
            p.start()

        def pump() -> None:
            ended = 0
            while ended < options.workers:
                try:
                    message = queue.get(timeout=1.0)
                except Exception:  # queue.Empty: check for a worker that died without "done"
                    if all(not p.is_alive() for p in processes):
                        for _ in range(options.workers - ended):
                            loop.call_soon_threadsafe(handle, ("done", {"worker": -1, "errors": ["a worker process died"]}))
                        return
                    continue
                ended += message[0] == "done"
                loop.call_soon_threadsafe(handle, message)

        threading.Thread(target=pump, daemon=True).start()
        worker_task = None
    while not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), options.interval)
        except asyncio.TimeoutError:
            pass
        if not started_any:
            continue
        now = time.monotonic()
        span = max(now - clock[1], 1e-9)
        line = {k: round(v / span, 1) for k, v in window.items()}
        report.per_second.append({"t": round(now - clock[0], 2), **line})
        pending = f"  verifying {verifier.pending}" if verifier else ""
        print(f"{now - clock[0]:7.1f}s  sent {line['sent']:>9,.0f}/s  acked {line['acknowledged']:>9,.0f}/s  "
              f"retried {line['retried']:>7,.0f}/s  refused {line['refused']:>7,.0f}/s{pending}", file=out, flush=True)
        window.update(dict.fromkeys(COUNTERS, 0))
        clock[1] = now
    report.elapsed = time.monotonic() - clock[0]
    if worker_task is not None:
        await worker_task
    for p in processes:
        p.join(5)
    t = report.totals
    print(f"tracegen: {report.elapsed:.1f}s: sent {t['sent']:,}, acknowledged {t['acknowledged']:,}, "
          f"retried {t['retried']:,}, refused {t['refused']:,} spans "
          f"({t['acknowledged'] / report.elapsed if report.elapsed else 0:,.0f} acknowledged/s)", file=out, flush=True)
    for error in report.errors:
        print(f"tracegen: refused: {error}", file=out, flush=True)
    if verifier is not None:
        print(f"tracegen: verifying {verifier.pending} trace(s) still in progress ...", file=out, flush=True)
        result = await verifier.drain()
        report.verify = result.as_dict()
        v = report.verify
        delay = (f"ingest-to-query delay p50 {v['delay_p50_s']:.3f}s p99 {v['delay_p99_s']:.3f}s"
                 if v["delay_p50_s"] is not None else "no trace read back")
        print(f"tracegen: verify: {v['checked']:,} acknowledged traces checked, {v['whole']:,} whole, "
              f"{v['partial']:,} partial, {v['missing']:,} missing ({v['spans_lost']:,} spans lost); {delay}",
              file=out, flush=True)
        for error in result.first_errors:
            print(f"tracegen: verify: {error}", file=out, flush=True)
    return report


def write_report(report: Report, path: str) -> None:
    with open(path, "w") as f:
        json.dump(report.as_dict(), f, indent=1, default=str)
