"""One collector worker process (``python -m spyglass.collector.workers.child``).

Started by ``supervisor.WorkerPool`` as ``child FD PARENT_PID INDEX`` with the channel socket
as the inherited descriptor FD; the first frame on it is its job (JSON: the settings, the
ports the parent resolved, the mode). Through the socket, not the environment or the
command line, so the settings (a ClickHouse password) are not readable in ``/proc``. It binds the receivers' ports with SO_REUSEPORT,
decodes, and hands spans to the parent (``forward``) or to its own sink (``direct``:
``--collector.buffer nats``, each worker publishes itself).

It dies with the parent: ``PR_SET_PDEATHSIG`` makes the kernel kill it when the parent
exits, even by SIGKILL, and the channel's end-of-file stops it otherwise. SIGINT is
ignored (a Ctrl-C reaches the whole process group; the parent then stops the workers in
order); SIGTERM stops it: listeners close, requests in flight are answered, it exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
from typing import Any

from prometheus_client import generate_latest

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.workers.channel import ChannelClosed, _decoder, frame, read_frame
from spyglass.collector.workers.forwarding import ForwardingSink
from spyglass.collector.workers.limits import ParentRateLimits
from spyglass.config import Settings
from spyglass.server.parent import die_with_parent
from spyglass.tenancy.ratelimit import RateLimits

log = logging.getLogger("spyglass")

STATUS_SECONDS = 1.0  # counters to the parent
HEALTH_POLL_SECONDS = 0.1  # a change of health to the parent


def _sink(settings: Settings, mode: str, metrics: IngestMetrics, writer: asyncio.StreamWriter) -> Any:
    if mode == "direct":
        from spyglass.collector.sinks import build_sink

        return build_sink(settings, None, metrics)  # type: ignore[arg-type]  # nats: no local writer
    return ForwardingSink(metrics, writer, prepare=settings.storage if mode == "prepared" else "")


def _provider(settings: Settings) -> Any:
    """The file (or default-probability) strategies the collector ports answer; adaptive
    sampling is refused with workers before any is started (``supervisor.resolve_workers``)."""
    from spyglass.collector.sampling import build_provider
    from spyglass.gocompat.godur import parse_duration

    return build_provider(settings.sampling_strategies_file,
                          parse_duration(settings.sampling_strategies_reload_interval) / 1e9,
                          settings.sampling_default_sampling_probability)


def read_spec(sock: socket.socket) -> dict[str, Any]:
    """The first frame, read before the event loop starts."""
    head = _recv_exactly(sock, 4)
    message = _decoder.decode(_recv_exactly(sock, int.from_bytes(head, "big")))
    if not isinstance(message, list) or len(message) != 2 or message[0] != "spec":
        raise SystemExit("collector worker: the parent sent no job")
    return json.loads(message[1])


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit(0)  # the parent went away before we started
        data += chunk
    return data


async def run(spec: dict[str, Any], sock: socket.socket) -> int:
    from spyglass.cmd.all_in_one import build_ingest_listeners
    from spyglass.security.authenticator import AuthMetrics
    from spyglass.server.settings import apply_server_limits, apply_tls

    reader, writer = await asyncio.open_unix_connection(sock=sock, limit=1 << 20)
    settings = Settings(**spec["settings"])
    metrics = IngestMetrics()
    sink = _sink(settings, spec["mode"], metrics, writer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        from spyglass.tenancy import setup as tenancy_setup

        provider = _provider(settings)
        # Each worker checks tenants itself; the parent keeps the rate buckets of every worker.
        # A forwarding worker's requests meet them in the parent, so it limits nothing itself;
        # a direct-mode worker asks the parent for each request's tokens (``workers.limits``).
        shared_limits: ParentRateLimits | None = None

        def worker_limits(rates: dict[str, float]) -> RateLimits:
            nonlocal shared_limits
            if spec["mode"] != "direct":
                return RateLimits({})
            shared_limits = ParentRateLimits(rates, writer)
            return shared_limits

        tenancy = tenancy_setup.gate(settings, metrics.registry, limits=worker_limits)
        auth_metrics = AuthMetrics(metrics.registry)
        listeners = build_ingest_listeners(settings, sink, provider, tenancy, metrics, auth_metrics=auth_metrics)
        apply_server_limits(settings, metrics.registry, listeners)
        apply_tls(settings, listeners)
        await sink.open()
    except Exception as exc:  # reported to the parent, which exits with it
        writer.write(frame("fail", f"worker {spec['index']}: {exc}"))
        await writer.drain()
        return 1
    started = []
    try:
        for listener in listeners:
            listener.reuse_port = True  # type: ignore[attr-defined]
            await listener.start()
            started.append(listener)
    except OSError as exc:
        from spyglass.cmd.all_in_one import _bind_error

        writer.write(frame("fail", _bind_error(listener, exc)))
        await writer.drain()
        for done in started:
            await done.stop()
        return 1

    def status() -> bytes:
        reason = getattr(sink, "unhealthy_reason", None)
        return frame("status", generate_latest(metrics.registry).decode(), reason is None, reason or "")

    writer.write(status())  # health known to the parent from the first moment it listens
    writer.write(frame("ready", {l.name: l.port for l in listeners}))
    await writer.drain()

    async def answers() -> None:
        try:
            while True:
                message = await read_frame(reader)
                if isinstance(sink, ForwardingSink) and message[0] in ("ok", "busy", "limited"):
                    sink.answer(message)
                elif isinstance(sink, ForwardingSink) and message[0] == "room":
                    sink.room = bool(message[1])
                elif shared_limits is not None and message[0] == "took":
                    shared_limits.answer(message[1], message[2])
        except ChannelClosed:
            log.warning("worker %s: the parent is gone; stopping", spec["index"])
            if isinstance(sink, ForwardingSink):
                sink.fail_all("the collector's parent process is gone")
            if shared_limits is not None:
                shared_limits.fail_all("the collector's parent process is gone")
            stop.set()

    async def report() -> None:
        """Counters every ``STATUS_SECONDS``; a change of health at once (within
        ``HEALTH_POLL_SECONDS``), so the parent's health check does not lag the worker's."""
        last_reason = getattr(sink, "unhealthy_reason", None)
        next_report = loop.time() + STATUS_SECONDS
        while True:
            await asyncio.sleep(HEALTH_POLL_SECONDS)
            reason = getattr(sink, "unhealthy_reason", None)
            if (reason != last_reason or loop.time() >= next_report) and not writer.is_closing():
                last_reason, next_report = reason, loop.time() + STATUS_SECONDS
                writer.write(status())

    tasks = [asyncio.ensure_future(answers()), asyncio.ensure_future(report())]
    await stop.wait()
    for listener in listeners:
        await listener.stop()
    await sink.aclose()
    tasks[1].cancel()
    if not writer.is_closing():
        writer.write(status())  # the final counts
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()
    tasks[0].cancel()
    return 0


def main(argv: list[str] | None = None) -> int:
    fd, parent, _index = (int(x) for x in (argv or sys.argv[1:]))
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    spec = read_spec(sock)
    logging.basicConfig(level=spec["settings"]["log_level"].upper(),
                        format=f"%(asctime)s %(levelname)s %(name)s[worker {spec['index']}]: %(message)s",
                        stream=sys.stderr)
    from spyglass.cmd.runner import tune_gc

    tune_gc()
    return asyncio.run(run(spec, sock))


if __name__ == "__main__":
    sys.exit(main())
