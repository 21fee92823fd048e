"""The parent side of ``--workers N``: reserves the ports, starts N worker processes,
answers their batches through the one sink, restarts the ones that die, and exposes
everyone's metrics on the parent's admin port.

Why one writer: sqlite is one file with one writer (an ``flock``), and the write-ahead log
and adaptive sampling's aggregator want every span too. So in ``forward`` mode (every
buffer but NATS) workers only decode; each request's spans come here in the buffer's
encoding, go through the parent's sink (validation, the bounded queue or the durable
log, tail sampling) and the worker answers its client with the sink's answer. With
multi-tenancy the parent also holds the tenants' ingest-rate buckets, so a tenant's rate
holds over every worker, and a request's credential comes with it for the tail-sampling
peers. With
``--collector.buffer nats`` (``direct``), each worker publishes to JetStream itself: the
ingesters are the writers; the parent still keeps the tenants' buckets, and a worker asks
it for each request's tokens (``workers.limits``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from spyglass.collector.buffer.encoding import BatchDecodeError, decode_batch
from spyglass.collector.processor import ServerBusy, StorageUnhealthy
from spyglass.collector.workers.channel import ChannelClosed, frame, read_frame
from spyglass.config import Settings
from spyglass.storage.api.health import HEALTHY, Health
from spyglass.storage.clickhouse.prepared import decode as decode_prepared
from spyglass.security.forwarding import bind_authorization, unbind_authorization
from spyglass.tenancy.gate import RateLimited, TenancyGate

log = logging.getLogger("spyglass")

# The receivers the workers run: listener name -> (setting, UDP?)
INGEST_PORTS = {
    "agent_jaeger_compact": ("agent_jaeger_compact_port", True),
    "agent_jaeger_binary": ("agent_jaeger_binary_port", True),
    "agent_zipkin_compact": ("agent_zipkin_compact_port", True),
    "collector_http": ("collector_http_port", False),
    "collector_grpc": ("collector_grpc_port", False),
    "otlp_grpc": ("collector_otlp_grpc_port", False),
    "otlp_http": ("collector_otlp_http_port", False),
    "zipkin_http": ("collector_zipkin_port", False),
}
START_TIMEOUT = 60.0
MAX_BACKOFF = 10.0
ROOM_POLL_SECONDS = 0.01  # how often the sink's room is looked at, to tell the workers when it changes


class WorkerStartError(Exception):
    """A worker could not start; ``str()`` is one line for the operator."""


def resolve_workers(settings: Settings, command: str, cores: int | None = None) -> int:
    """How many receiving processes: ``--workers``, or by default one per core for
    ``spyglass collector`` and the cores but one for the all-in-one (its parent writes and
    serves queries), but at least 2 on a machine with 2 cores: in-process, decoding and
    writing share one interpreter lock, and on 2 cores two workers store about twice the
    spans per second (``bench/workers.py``). 1 means in-process, as before. Adaptive
    sampling needs the one aggregator *and* the one strategy store its followers read, so
    it runs in-process: by default quietly, with an explicit ``--workers`` above 1 it is an
    error (exit 2). ``cores``: the cores this process may run on (detected when None)."""
    explicit = settings.collector_workers
    adaptive = settings.sampling_type == "adaptive"
    if explicit > 1 and adaptive:
        raise ValueError(f"--workers {explicit}: adaptive sampling (--sampling.type adaptive) computes probabilities "
                         "from every span in one process; use --workers 1 (or leave --workers unset)")
    if explicit:
        return explicit
    if adaptive:
        return 1
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if command == "all-in-one":
        return max(min(cores, 2), cores - 1)
    return max(1, cores)


def pool_mode(s: Settings) -> str:
    """``direct``: workers publish to NATS; ``prepared``: sqlite or clickhouse, workers
    validate and prepare the writer's rows (``storage.sqlite.prepared``,
    ``storage.clickhouse.prepared``), the parent only inserts them;
    ``forward``: the parent's sink gets the spans themselves (other backends, tail
    sampling, which needs the spans in the parent)."""
    if s.collector_buffer == "nats":
        return "direct"
    if s.storage in ("sqlite", "clickhouse") and not s.sampling_tail_policies and not s.multi_tenancy_enabled:
        return "prepared"  # (the prepared rows carry no tenant: with tenancy, spans travel whole)
    return "forward"


@dataclass(eq=False)
class _Slot:
    """One worker position: restarted in place when its process dies."""

    index: int
    proc: subprocess.Popen[bytes] | None = None
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    ready: asyncio.Future[dict[str, int]] | None = None
    snapshot: list[Metric] = field(default_factory=list)
    healthy: bool = True
    reason: str = ""
    alive: bool = False
    started_at: float = 0.0
    restarted: bool = False  # the running process is a restart (a quick death then is a crash loop)


class WorkerPool:
    """``count`` worker processes on the ports of ``settings`` (0: chosen here first)."""

    def __init__(self, settings: Settings, count: int, *, sink: Any, registry: CollectorRegistry,
                 tenancy: TenancyGate | None = None) -> None:
        self.settings = settings
        self.count = count
        self.mode = pool_mode(settings)
        self.sink = sink
        # With multi-tenancy the workers forward spans and this gate's buckets limit each
        # tenant's rate over all of them (one bucket per worker would give a tenant N times it).
        self.tenancy = tenancy
        self.ports: dict[str, int] = {}
        self._reserved: list[socket.socket] = []
        self._slots = [_Slot(i) for i in range(count)]
        self._stopping = False
        self._started = False  # every worker was ready once: from then on, a dead one is restarted
        self._retired: list[Metric] = []  # counters of workers that died, so totals never fall
        self._tasks: set[asyncio.Task[Any]] = set()
        self._room = True  # what the workers were last told of the sink's room (``_watch_room``)
        self._room_task: asyncio.Task[None] | None = None
        self.restarts = Counter("spyglass_collector_worker_restarts", "Worker processes restarted after they died",
                                registry=registry)
        self.requests = Counter("spyglass_collector_worker_requests", "Requests a worker handed to the parent, "
                                "per worker (how evenly the kernel spreads connections)", ["worker"], registry=registry)
        Gauge("spyglass_collector_workers", "Worker processes running", registry=registry).set_function(
            lambda: sum(1 for s in self._slots if s.alive))

    # -- ports ------------------------------------------------------------------------------
    def reserve_ports(self) -> None:
        """Bind every receiver port here first, with SO_REUSEPORT: a port in use by another
        program fails now with the flag's name, and port 0 becomes one number that every
        worker then binds. TCP sockets stay bound (not listening, so they take no
        connections) to keep the number ours; UDP ones are closed (a bound UDP socket would
        get its share of the datagrams)."""
        from spyglass.cmd.all_in_one import LISTENER_FLAGS

        host = self.settings.listen_host
        for name, (attr, udp) in INGEST_PORTS.items():
            port = getattr(self.settings, attr)
            try:
                family = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)[0][0]
            except socket.gaierror as exc:
                raise WorkerStartError(f"--listen-host: cannot resolve {host!r}: {exc.strerror}") from None
            sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if not udp:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
            except OSError as exc:
                sock.close()
                self.release_ports()
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                raise WorkerStartError(f"--{LISTENER_FLAGS[name]}: cannot listen on {host}:{port}: {reason}") from None
            self.ports[name] = sock.getsockname()[1]
            if udp:
                sock.close()
            else:
                self._reserved.append(sock)

    def release_ports(self) -> None:
        for sock in self._reserved:
            sock.close()
        self._reserved = []

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Reserve the ports, start every worker, return once all listen (or raise)."""
        self.reserve_ports()
        try:
            await asyncio.gather(*(self._spawn(slot) for slot in self._slots))
            for slot in self._slots:
                assert slot.ready is not None
                await asyncio.wait_for(asyncio.shield(slot.ready), START_TIMEOUT)
        except (WorkerStartError, asyncio.TimeoutError, OSError) as exc:
            await self.stop()
            if isinstance(exc, asyncio.TimeoutError):
                raise WorkerStartError(f"a collector worker did not start within {START_TIMEOUT:.0f}s") from None
            raise WorkerStartError(str(exc)) from None
        self._started = True
        if self.mode != "direct":
            self._room_task = asyncio.ensure_future(self._watch_room())
        log.info("%d collector worker processes (pids %s) receive on the shared ports (%s mode)", self.count,
                 ",".join(str(s.proc.pid) for s in self._slots if s.proc), self.mode)
        for name, port in self.ports.items():
            log.info("%s listening on %s:%d (%d workers)", name, self.settings.listen_host, port, self.count)

    async def _spawn(self, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        settings = dataclasses.replace(self.settings, **{attr: self.ports[name]
                                                         for name, (attr, _) in INGEST_PORTS.items()})
        spec = {"settings": dataclasses.asdict(settings), "mode": self.mode, "index": slot.index}
        try:
            slot.proc = subprocess.Popen([sys.executable, "-m", "spyglass.collector.workers.child",
                                          str(theirs.fileno()), str(os.getpid()), str(slot.index)],
                                         pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        ours.sendall(frame("spec", json.dumps(spec)))  # the job: settings stay out of /proc
        slot.started_at = time.monotonic()
        slot.ready = loop.create_future()
        slot.alive = True
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=1 << 20)
        slot.writer = writer
        if not self._room:
            writer.write(frame("room", False))
        slot.task = asyncio.ensure_future(self._serve(slot, reader, writer))

    async def _watch_room(self) -> None:
        """Tell every worker when the sink's room changes (``SpanSink.has_room``), so that
        while the queue is full they refuse requests before decoding them, as an
        in-process receiver does; a request decoded in the meantime is still refused
        (after decoding) by the sink itself."""
        while not self._stopping:
            room = bool(self.sink.has_room())
            if room != self._room:
                self._room = room
                message = frame("room", room)
                for slot in self._slots:
                    if slot.alive and slot.writer is not None and not slot.writer.is_closing():
                        slot.writer.write(message)
            await asyncio.sleep(ROOM_POLL_SECONDS)

    async def _serve(self, slot: _Slot, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one worker's frames until its channel closes; then restart it."""
        try:
            while True:
                message = await read_frame(reader)
                kind = message[0]
                if kind == "batch" or kind == "prep":
                    self.requests.labels(str(slot.index)).inc()
                    self._spawn_task(self._answered(writer, message[1], self._batch(writer, *message[1:],
                                                                                    prepared=kind == "prep")))
                elif kind == "take":  # a direct-mode worker's request: its tenant's tokens (workers.limits)
                    granted = self.tenancy is None or self.tenancy.limits.take(str(message[2]), int(message[3]))
                    writer.write(frame("took", message[1], granted))
                elif kind == "give":
                    if self.tenancy is not None:
                        self.tenancy.limits.give_back(str(message[1]), int(message[2]))
                elif kind == "status":
                    slot.snapshot = list(text_string_to_metric_families(message[1]))
                    slot.healthy, slot.reason = bool(message[2]), str(message[3])
                elif kind == "ready":
                    if slot.ready is not None and not slot.ready.done():
                        slot.ready.set_result(dict(message[1]))
                elif kind == "fail":
                    if slot.ready is not None and not slot.ready.done():
                        slot.ready.set_exception(WorkerStartError(str(message[1])))
        except ChannelClosed:
            pass
        slot.alive = False
        writer.close()
        proc = slot.proc
        code = await asyncio.to_thread(proc.wait) if proc is not None else None
        if slot.ready is not None and not slot.ready.done():
            slot.ready.set_exception(WorkerStartError(f"collector worker {slot.index} exited at start (status {code})"))
            if not self._started:
                return  # the pool's start reports it and stops
        if self._stopping:
            return
        self._retire(slot)
        self.restarts.inc()
        # A crash loop slows down: a restarted worker that dies within 10 s waits MAX_BACKOFF.
        # A first death restarts at once, however soon after the pool started.
        crash_loop = slot.restarted and time.monotonic() - slot.started_at <= 10
        backoff = MAX_BACKOFF if crash_loop else 0.5
        log.error("collector worker %d (pid %s) exited with status %s; restarting it in %.1fs", slot.index,
                  proc.pid if proc else "?", code, backoff)
        await asyncio.sleep(backoff)
        if self._stopping:
            return
        slot.restarted = True
        try:
            await self._spawn(slot)
            assert slot.ready is not None
            await asyncio.wait_for(asyncio.shield(slot.ready), START_TIMEOUT)
        except (WorkerStartError, OSError, asyncio.TimeoutError) as exc:
            log.error("collector worker %d could not be restarted: %s", slot.index, exc)

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _answered(writer: asyncio.StreamWriter, rid: int, work: Any) -> None:
        """Run one request's ``work``; if it fails in a way it did not plan for, the worker
        still gets an answer (a retryable refusal), so its client is not left waiting."""
        try:
            await work
        except Exception:
            log.exception("a collector worker's request failed in the parent")
            if rid and not writer.is_closing():
                writer.write(frame("busy", rid, False, "internal error"))

    async def _batch(self, writer: asyncio.StreamWriter, rid: int, receiver: str, fmt: str, nbytes: int,
                     payload: bytes, wait: bool, authorization: str = "", prepared: bool = False) -> None:
        """One request of a worker through the parent's sink; the answer goes back.
        ``authorization``: the client's credential, bound for the sink's call as the
        receiver binds it in-process (a tail-sampling peer gets the spans with it)."""
        if prepared:
            await self._prepared(writer, rid, receiver, fmt, payload, wait)
            return
        try:
            spans = decode_batch(payload)
        except BatchDecodeError as exc:  # our own encoding: only a bug gets here
            log.error("undecodable batch from a collector worker: %s", exc)
            reply = frame("busy", rid, False, "internal error")
        else:
            if not wait:
                try:
                    self.sink.submit(spans, receiver=receiver, fmt=fmt, nbytes=nbytes)
                except ServerBusy:
                    pass  # counted by the sink
                return
            bound = bind_authorization(authorization or None)  # this task's own context
            try:
                if self.tenancy is not None and spans:  # a request's spans share its tenant
                    done = await self.tenancy.accept(self.sink, spans, spans[0].tenant, receiver=receiver, fmt=fmt,
                                                     nbytes=nbytes)
                else:
                    done = await self.sink.accept(spans, receiver=receiver, fmt=fmt, nbytes=nbytes)
                reply = frame("ok", rid, done.accepted, done.rejected, done.error)
            except RateLimited as exc:
                reply = frame("limited", rid, str(exc))
            except StorageUnhealthy as exc:
                reply = frame("busy", rid, True, str(exc))
            except ServerBusy as exc:
                reply = frame("busy", rid, False, str(exc))
            finally:
                unbind_authorization(bound)
        if not writer.is_closing():
            writer.write(reply)

    async def _prepared(self, writer: asyncio.StreamWriter, rid: int, receiver: str, fmt: str, payload: bytes,
                        wait: bool) -> None:
        """A batch the worker validated, counted and prepared: queued (or logged) as it is."""
        try:
            prepared = decode_prepared(payload)
        except ValueError as exc:  # our own encoding: only a bug gets here
            log.error("undecodable prepared batch from a collector worker: %s", exc)
            reply = frame("busy", rid, False, "internal error")
        else:
            if not wait:
                try:
                    self.sink.submit_prepared(prepared, receiver=receiver, fmt=fmt)
                except ServerBusy:
                    pass  # counted by the sink
                return
            try:
                done = await self.sink.accept_prepared(prepared, receiver=receiver, fmt=fmt)
                reply = frame("ok", rid, done.accepted, done.rejected, done.error)
            except StorageUnhealthy as exc:
                reply = frame("busy", rid, True, str(exc))
            except ServerBusy as exc:
                reply = frame("busy", rid, False, str(exc))
        if not writer.is_closing():
            writer.write(reply)

    async def stop(self) -> None:
        """SIGTERM every worker (each answers what it has in flight, then exits); SIGKILL
        what has not exited after the grace period."""
        self._stopping = True
        if self._room_task is not None:
            self._room_task.cancel()
        for slot in self._slots:
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.terminate()
        deadline = time.monotonic() + 15
        for slot in self._slots:
            proc = slot.proc
            if proc is None:
                continue
            try:
                await asyncio.to_thread(proc.wait, max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("collector worker %d did not stop; killing it", slot.index)
                proc.kill()
                await asyncio.to_thread(proc.wait)
        tasks = [s.task for s in self._slots if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        if self._tasks:  # answers being written to workers that are gone
            await asyncio.wait(list(self._tasks), timeout=5)
        for slot in self._slots:
            slot.alive = False
            self._retire(slot)
        self.release_ports()

    # -- health and metrics -------------------------------------------------------------------
    @property
    def alive(self) -> int:
        return sum(1 for s in self._slots if s.alive)

    def health(self) -> Health:
        """No worker running: not healthy. Direct mode: a worker that cannot publish says why."""
        if not self.alive:
            return Health(False, "no collector worker is running")
        for slot in self._slots:
            if slot.alive and not slot.healthy:
                return Health(False, slot.reason or f"collector worker {slot.index} is unhealthy")
        return HEALTHY

    def _retire(self, slot: _Slot) -> None:
        """Keep a dead worker's counters (not its gauges) in the totals."""
        self._retired.extend(m for m in slot.snapshot if m.type in ("counter", "histogram", "summary"))
        slot.snapshot = []

    def worker_families(self) -> Iterator[Metric]:
        yield from self._retired
        for slot in self._slots:
            yield from slot.snapshot


class MergedRegistry:
    """What the parent's admin port exposes: its own registry plus every worker's last
    report (once a second), samples with the same name and labels added up. Summing is
    right for counters and histograms, and for the workers' gauges (connections, queue)."""

    def __init__(self, own: CollectorRegistry, pool: WorkerPool) -> None:
        self.own = own
        self.pool = pool

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for family in [*self.own.collect(), *self.pool.worker_families()]:
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type)
                sums[family.name] = {}
            values = sums[family.name]
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                values[key] = values.get(key, 0.0) + sample.value
        for name, merged in families.items():
            for (sample_name, labels), value in sums[name].items():
                merged.add_sample(sample_name, dict(labels), value)
        return list(families.values())
