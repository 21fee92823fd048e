"""``spyglass agent``: Jaeger's agent. Receives spans from SDKs on the UDP ports (6831
compact, 6832 binary, 5775 Zipkin compact), serves sampling strategies on 5778 (asked of
the collectors, cached while they are away), and forwards the spans over gRPC PostSpans to
``--reporter.grpc.host-port`` collectors. Admin (health, ``/metrics``) on 14271."""

from __future__ import annotations

import logging

from spyglass.admin import build_admin_app
from spyglass.agent.collectors import CollectorPool, parse_host_ports
from spyglass.agent.decoders import DecoderPool
from spyglass.agent.forwarder import Forwarder, ForwarderConfig
from spyglass.agent.receivers import udp_receivers
from spyglass.agent.sampling_proxy import SamplingProxy
from spyglass.agent.encode import transcode_agent_message
from spyglass.agent.tags import parse_agent_tags
from spyglass.collector.metrics import IngestMetrics
from spyglass import ports
from spyglass.config import Settings
from spyglass.gocompat.godur import parse_duration
from spyglass.security.client_token import bearer_metadata
from spyglass.server import HttpServer, Listener
from spyglass.server.settings import apply_tls
from spyglass.server.tls import client_tls_from_settings

log = logging.getLogger("spyglass")

AGENT_ADMIN_HTTP = ports.AGENT_ADMIN_HTTP


def tenant_metadata(s: Settings) -> tuple[tuple[str, str], ...] | None:
    """``--agent.tenant`` as gRPC metadata: UDP carries no tenant, so an agent (one per
    team, say) forwards everything it receives as its configured tenant."""
    from spyglass.tenancy.config import valid_tenant

    tenant = s.agent_tenant.strip()
    if not tenant:
        return None
    if not valid_tenant(tenant):
        raise ValueError(f"--agent.tenant: {tenant!r} is not a valid tenant name (letters, digits, _ and -, at most 64)")
    return ((s.multi_tenancy_header.strip().lower(), tenant),)


class Agent:
    """Builds the agent from ``settings`` (raises ``ValueError`` on a bad flag);
    ``start``/``stop`` run it; ``ports`` tells the bound ports after ``start``."""

    def __init__(self, settings: Settings) -> None:
        s = self.settings = settings
        targets = parse_host_ports(s.reporter_grpc_host_port)
        tags = parse_agent_tags(s.agent_tags)
        timeout = parse_duration(s.reporter_grpc_timeout) / 1e9
        self.metrics = IngestMetrics()
        self.pool = CollectorPool(targets, tls=client_tls_from_settings(s, "reporter.grpc"),
                                   connections=s.reporter_grpc_connections)
        self.forwarder = Forwarder(
            self.pool,
            self.metrics,
            ForwarderConfig(queue_size=s.reporter_queue_size, batch_size=s.reporter_batch_size,
                            retry_max=s.reporter_grpc_retry_max, timeout=timeout,
                            metadata=tenant_metadata(s),
                            call_metadata=bearer_metadata(s.reporter_grpc_auth_token, s.reporter_grpc_auth_token_file)),
            process_tags=tags,
        )
        self.sampling = SamplingProxy(self.pool, self.forwarder.reporter)
        self.decoders = DecoderPool(s.agent_decoder_processes) if s.agent_decoder_processes > 0 else None
        self.ready = False
        self.receivers: list[Listener] = list(udp_receivers(
            s, self.forwarder, jaeger_decode=transcode_agent_message, has_room=self.forwarder.has_room,
            decoders=self.decoders))
        self.serving: list[Listener] = [
            HttpServer("admin", s.listen_host, s.admin_port, build_admin_app(self.metrics.registry, lambda: self.ready)),
            HttpServer("agent_sampling", s.listen_host, s.agent_sampling_port, self.sampling.build_app()),
        ]
        apply_tls(s, self.serving)

    @property
    def ports(self) -> dict[str, int]:
        return {l.name: l.port for l in [*self.receivers, *self.serving]}

    async def start(self) -> None:
        if self.decoders is not None:  # first: spawned before the gRPC channels open
            await self.decoders.start()
        self.forwarder.start()
        started: list[Listener] = []
        try:
            for listener in [*self.serving, *self.receivers]:
                await listener.start()
                started.append(listener)
        except OSError:
            for listener in reversed(started):
                await listener.stop()
            await self.forwarder.close(timeout=0)
            if self.decoders is not None:
                await self.decoders.close()
            raise
        self.ready = True
        for listener in [*self.receivers, *self.serving]:
            log.info("%s listening on %s:%d", listener.name, listener.host, listener.port)
        log.info("forwarding to %s", ", ".join(self.pool.targets))

    async def stop(self) -> None:
        """Stop receiving, forward what is queued (a few seconds at most), stop serving."""
        self.ready = False
        for listener in self.receivers:
            await listener.stop()
        await self.forwarder.close()
        if self.decoders is not None:
            await self.decoders.close()
        for listener in self.serving:
            await listener.stop()
