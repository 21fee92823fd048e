"""The collectors an agent reports to: gRPC channels (``--reporter.grpc.connections`` each),
picked round-robin among the healthy ones.

A call that fails with a transport error (UNAVAILABLE, DEADLINE_EXCEEDED, ...) or with
RESOURCE_EXHAUSTED (the collector's queue is full) marks that collector unhealthy for a
back-off that doubles with each consecutive failure (``base`` up to ``cap`` seconds), so
the next batch goes to another collector and a struggling one is given time to recover.
When every collector is backing off, ``pick`` waits for the one that comes back first: a
down cluster slows the agent's senders down instead of spinning them.

Each collector gets ``--reporter.grpc.connections`` TCP connections (channels with their own
subchannel pools, used in turn): a collector's ``--workers`` processes share its port by
connection (SO_REUSEPORT), so a single connection would keep one of them busy and leave the
others idle. Health and back-off belong to the collector, shared by its connections.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Collection
from dataclasses import dataclass

import grpc

from spyglass.server.tls import ClientTlsConfig, grpc_channel

POST_SPANS = "/jaeger.api_v2.CollectorService/PostSpans"
GET_SAMPLING_STRATEGY = "/jaeger.api_v2.SamplingManager/GetSamplingStrategy"

# Errors after which the same request may succeed later or elsewhere.
RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
})

MAX_MESSAGE = 16 * 1024 * 1024


def parse_host_ports(text: str) -> list[str]:
    """``host:port[,host:port...]`` -> targets; a missing or bad port is an error."""
    targets = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--reporter.grpc.host-port: {item!r} is not host:port")
        targets.append(item)
    if not targets:
        raise ValueError("--reporter.grpc.host-port: give at least one collector as host:port")
    return targets


@dataclass(slots=True, eq=False)
class Collector:
    target: str
    channel: grpc.aio.Channel
    post_spans: grpc.aio.UnaryUnaryMultiCallable
    get_strategy: grpc.aio.UnaryUnaryMultiCallable
    failures: int = 0
    down_until: float = 0.0

    @property
    def healthy(self) -> bool:
        return time.monotonic() >= self.down_until


class CollectorPool:
    def __init__(self, targets: list[str], *, backoff_base: float = 0.1, backoff_cap: float = 5.0,
                 tls: ClientTlsConfig | None = None, connections: int = 1) -> None:
        """``tls``: ``--reporter.grpc.tls.*`` (checked now, so a bad file stops start-up);
        ``connections``: per collector."""
        if connections < 1:
            raise ValueError("--reporter.grpc.connections must be at least 1")
        self.targets = targets
        self.connections = connections
        self.tls = tls
        if tls is not None:
            tls.validate()
            if tls.enabled:
                tls.grpc_credentials()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.collectors: list[Collector] = []
        self._next = itertools.count()

    def open(self) -> None:
        """Create the channels (on the running loop; grpc.aio channels belong to it)."""
        options = [("grpc.max_send_message_length", MAX_MESSAGE), ("grpc.max_receive_message_length", MAX_MESSAGE),
                   # reconnect quickly when a collector comes back
                   ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 2000)]
        if self.connections > 1:  # otherwise channels to one target share one connection
            options.append(("grpc.use_local_subchannel_pool", 1))
        from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2

        for _ in range(self.connections):  # collectors first in the round-robin, then connections
            for target in self.targets:
                channel = grpc_channel(target, self.tls, options)
                self.collectors.append(Collector(
                    target,
                    channel,
                    channel.unary_unary(POST_SPANS, request_serializer=None, response_deserializer=None),
                    channel.unary_unary(GET_SAMPLING_STRATEGY,
                                        request_serializer=sampling_pb2.SamplingStrategyParameters.SerializeToString,
                                        response_deserializer=sampling_pb2.SamplingStrategyResponse.FromString),
                ))

    def next_healthy(self, avoid: Collection[Collector] = ()) -> Collector | None:
        """The next healthy connection round-robin, preferring collectors not in ``avoid``
        (the ones a retried batch already failed on), or None when all are backing off."""
        avoided = {c.target for c in avoid}
        n = len(self.collectors)
        start = next(self._next)
        fallback = None
        for i in range(n):
            c = self.collectors[(start + i) % n]
            if c.healthy:
                if c.target not in avoided:
                    return c
                fallback = fallback or c
        return fallback

    async def pick(self, stop: asyncio.Event | None = None, avoid: Collection[Collector] = ()) -> Collector | None:
        """The next healthy collector, waiting for the first to recover if none is; None
        if ``stop`` is set while waiting."""
        while True:
            c = self.next_healthy(avoid)
            if c is not None:
                return c
            wait = max(0.0, min(c.down_until for c in self.collectors) - time.monotonic())
            if stop is None:
                await asyncio.sleep(wait)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=wait or 0.001)
                    return None
                except asyncio.TimeoutError:
                    pass

    def _connections_of(self, c: Collector) -> list[Collector]:
        return [other for other in self.collectors if other.target == c.target] or [c]

    def succeeded(self, c: Collector) -> None:
        if not c.failures and not c.down_until:  # the usual case: nothing to reset
            return
        for other in self._connections_of(c):
            other.failures = 0
            other.down_until = 0.0

    def failed(self, c: Collector) -> float:
        """Back ``c``'s collector off (every connection to it); returns the back-off in seconds."""
        failures = c.failures + 1
        delay = min(self.backoff_base * 2 ** min(failures - 1, 16), self.backoff_cap)
        for other in self._connections_of(c):
            other.failures = failures
            other.down_until = time.monotonic() + delay
        return delay

    async def close(self) -> None:
        for c in self.collectors:
            await c.channel.close()
        self.collectors = []
