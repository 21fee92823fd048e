"""The JetStream stream both collectors and ingesters rely on: its settings, the connection,
creating (or updating) the stream, and the gauges of its size.

The stream is a *work queue* (a message is deleted once an ingester acknowledged it) on file
storage with ``--nats.replicas`` copies, limited by ``--nats.max-age`` and
``--nats.max-bytes``. At the byte limit it discards *new* messages: the publisher's
``publish`` fails and the collector answers a retryable error, instead of JetStream silently
deleting the oldest spans no ingester has stored yet. ``--nats.max-age`` does delete spans
older than it that no ingester took (a deliberate bound on how stale the buffer may get:
make it longer than any ingester outage you plan for).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError
from prometheus_client import CollectorRegistry, Gauge

from spyglass.config import Settings
from spyglass.gocompat.godur import parse_duration
from spyglass.server.tls import ClientTlsConfig, client_tls_from_settings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BufferConfig:
    servers: list[str]
    stream: str
    subject: str
    replicas: int
    max_age_seconds: float
    max_bytes: int
    consumer: str
    publish_timeout: float
    fetch_batch: int
    ack_wait: float
    tls: ClientTlsConfig = field(default_factory=lambda: ClientTlsConfig("nats"))  # --nats.tls.*

    @classmethod
    def from_settings(cls, s: Settings) -> BufferConfig:
        servers = [u.strip() for u in s.nats_url.split(",") if u.strip()]
        if not servers:
            raise ValueError("--nats.url must name at least one server")
        for name in (s.nats_stream, s.nats_consumer):
            if not name or any(c in name for c in " .*>\t"):
                raise ValueError(f"--nats.stream / --nats.consumer {name!r}: no spaces, '.', '*' or '>'")
        tls = client_tls_from_settings(s, "nats")
        tls.validate()
        if s.nats_replicas < 1 or s.nats_max_bytes < 1 or s.nats_fetch_batch < 1:
            raise ValueError("--nats.replicas, --nats.max-bytes and --nats.fetch-batch must be positive")
        return cls(
            servers=servers,
            stream=s.nats_stream,
            subject=s.nats_subject,
            replicas=s.nats_replicas,
            max_age_seconds=_seconds("nats.max-age", s.nats_max_age),
            max_bytes=s.nats_max_bytes,
            consumer=s.nats_consumer,
            publish_timeout=_seconds("nats.publish-timeout", s.nats_publish_timeout) or 5.0,
            fetch_batch=s.nats_fetch_batch,
            ack_wait=_seconds("nats.ack-wait", s.nats_ack_wait) or 30.0,
            tls=tls,
        )

    def stream_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            max_age=self.max_age_seconds,
            max_bytes=self.max_bytes,
            discard=DiscardPolicy.NEW,
        )


def _seconds(flag: str, text: str) -> float:
    try:
        return parse_duration(text.strip()) / 1e9
    except ValueError as exc:
        raise ValueError(f"--{flag}: {exc}") from None


# Attempts per server of the *first* connect. nats-py applies ``max_reconnect_attempts`` to
# the first connect too, and with -1 (for ever) ``nats.connect`` never returned while no
# server answered: the process hung before its listeners opened, and SIGTERM could not stop
# it (the stop waits for the start). Callers retry a failed first connect themselves.
FIRST_CONNECT_ATTEMPTS = 2


async def connect(config: BufferConfig, name: str) -> Client:
    """A connection that, once made, reconnects for ever (a NATS restart is an outage, not
    an exit); the first connect gives up after a few seconds (``NoServersError``).
    With ``--nats.tls.enabled`` (or ``tls://`` URLs) it is TLS, verified against
    ``--nats.tls.ca``, with a client certificate when the server asks for one."""
    nc: Client | None = None
    said: list[str] = []

    async def on_error(exc: Exception) -> None:
        if isinstance(exc, ssl.SSLError):  # a certificate problem does not cure itself: say so, once
            text = f"nats: TLS handshake with {','.join(config.servers)} failed: {exc}"
            if text not in said:
                said.append(text)
                log.error("%s (check --nats.tls.*)", text)
            return
        log.debug("nats: %s", exc)

    async def on_disconnect() -> None:
        if nc is not None and not (nc.is_closed or nc.is_draining):
            log.warning("disconnected from NATS; reconnecting")

    async def on_reconnect() -> None:
        log.info("reconnected to NATS")

    tls: dict[str, object] = {}
    if config.tls.enabled:
        tls["tls"] = config.tls.ssl_context()
        if config.tls.server_name:
            tls["tls_hostname"] = config.tls.server_name
    # nats-py retries a first connection for ever with max_reconnect_attempts=-1; bound it so
    # the caller can go on (and retry in the background) while NATS is away or refuses us; a
    # failing TLS handshake kept nats-py's first connect going past its attempts (test_nats_tls), hence the timeout
    nc = await asyncio.wait_for(nats.connect(
        **tls,  # type: ignore[arg-type]
        servers=config.servers,
        name=name,
        allow_reconnect=True,
        max_reconnect_attempts=FIRST_CONNECT_ATTEMPTS,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    ), timeout=10)
    nc.options["max_reconnect_attempts"] = -1  # read at each reconnect: from now on, for ever
    return nc


async def ensure_stream(js: JetStreamContext, config: BufferConfig) -> None:
    """Create the stream, or bring an existing one to these limits."""
    wanted = config.stream_config()
    try:
        await js.stream_info(config.stream)
    except NotFoundError:
        try:
            await js.add_stream(wanted)
            log.info("created JetStream stream %s (%s)", config.stream, config.subject)
            return
        except APIError as exc:  # another process created it meanwhile
            log.debug("add_stream: %s", exc)
    try:
        await js.update_stream(wanted)
    except APIError as exc:
        log.warning("cannot update JetStream stream %s to the configured limits: %s", config.stream, exc)


class StreamGauges:
    """``spyglass_buffer_*``: the stream's size and, for ingesters, the consumer's lag, read
    from JetStream every ``interval`` seconds."""

    def __init__(self, registry: CollectorRegistry, config: BufferConfig, *, consumer: bool) -> None:
        self.config = config
        self.consumer = consumer
        self.messages = Gauge("spyglass_buffer_messages", "Messages in the JetStream stream", registry=registry)
        self.bytes = Gauge("spyglass_buffer_bytes", "Bytes in the JetStream stream", registry=registry)
        self.max_bytes = Gauge("spyglass_buffer_max_bytes", "The stream's byte limit (--nats.max-bytes)",
                               registry=registry)
        self.max_bytes.set(config.max_bytes)
        self.up = Gauge("spyglass_buffer_up", "1 while JetStream answers", registry=registry)
        if consumer:
            self.pending = Gauge("spyglass_ingester_lag_messages",
                                 "Messages no ingester has fetched yet (the consumer's num_pending)",
                                 registry=registry)
            self.ack_pending = Gauge("spyglass_ingester_ack_pending_messages",
                                     "Messages fetched by an ingester and not yet acknowledged", registry=registry)
            self.redelivered = Gauge("spyglass_buffer_redelivered_messages",
                                     "Messages JetStream is redelivering (num_redelivered)", registry=registry)

    async def poll(self, js: JetStreamContext) -> None:
        try:
            info = await js.stream_info(self.config.stream)
            self.messages.set(info.state.messages)
            self.bytes.set(info.state.bytes)
            if self.consumer:
                c = await js.consumer_info(self.config.stream, self.config.consumer)
                self.pending.set(c.num_pending or 0)
                self.ack_pending.set(c.num_ack_pending or 0)
                self.redelivered.set(c.num_redelivered or 0)
            self.up.set(1)
        except (nats.errors.Error, asyncio.TimeoutError) as exc:
            self.up.set(0)
            log.debug("cannot read the stream's state: %s", exc)

    async def run(self, js: JetStreamContext, interval: float = 2.0) -> None:
        while True:
            await self.poll(js)
            await asyncio.sleep(interval)
