"""Trace-ID routing between collectors, so every span of a trace meets in one tail
sampler: ``--sampling.tail.peers`` lists every collector's gRPC address in the same order
on each; a trace belongs to ``peers[hash(trace ID) % n]``. Spans of other collectors'
traces are forwarded with ``jaeger.api_v2.CollectorService/PostSpans`` before the client
is answered: a peer that cannot take them makes the request fail retryably (``ServerBusy``),
so nothing is acknowledged that was not handed on.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from spyglass.codecs.jaeger_proto import batch_from_spans
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2
from spyglass.collector.processor import ServerBusy
from spyglass.collector.tailsampling.policies import trace_hash
from spyglass.model import Span

_METHOD = "/jaeger.api_v2.CollectorService/PostSpans"


def parse_peers(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _normal(address: str) -> str:
    host, _, port = address.rpartition(":")
    if host in ("localhost", "", "0.0.0.0"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def owner_index(trace_id: int, n: int) -> int:
    return trace_hash(trace_id) % n


class PeerRouter:
    def __init__(self, peers: list[str], timeout_s: float = 5.0) -> None:
        if not peers:
            raise ValueError("--sampling.tail.peers: no addresses")
        self.peers = [_normal(p) for p in peers]
        self.timeout_s = timeout_s
        self.self_index = -1
        self._channels: dict[int, grpc.aio.Channel] = {}
        self.forwarded = 0

    def bind(self, own_address: str) -> None:
        """Find this collector in the list (after its gRPC port is bound)."""
        own = _normal(own_address)
        if own not in self.peers:
            raise ValueError(f"--sampling.tail.peers must list this collector's gRPC address {own}: {','.join(self.peers)}")
        self.self_index = self.peers.index(own)

    def split(self, spans: Sequence[Span]) -> tuple[list[Span], dict[int, list[Span]]]:
        """The spans this collector owns, and the others by peer index."""
        if self.self_index < 0:
            raise ServerBusy("tail sampling: this collector is still starting")
        n = len(self.peers)
        local: list[Span] = []
        remote: dict[int, list[Span]] = {}
        for s in spans:
            i = owner_index(s.trace_id, n)
            if i == self.self_index:
                local.append(s)
            else:
                remote.setdefault(i, []).append(s)
        return local, remote

    tenant_header = "x-tenant"  # --multi-tenancy.header: spans keep their tenant on the peer

    async def forward(self, remote: dict[int, list[Span]]) -> None:
        for i, peer_spans in remote.items():
            channel = self._channels.get(i)
            if channel is None:
                channel = self._channels[i] = grpc.aio.insecure_channel(self.peers[i])
            by_tenant: dict[str, list[Span]] = {}
            for s in peer_spans:
                by_tenant.setdefault(s.tenant, []).append(s)
            for tenant, spans in by_tenant.items():
                request = collector_pb2.PostSpansRequest(batch=batch_from_spans(spans)).SerializeToString()
                call = channel.unary_unary(_METHOD, request_serializer=None, response_deserializer=None)
                metadata = ((self.tenant_header, tenant),) if tenant else None
                try:
                    await call(request, timeout=self.timeout_s, metadata=metadata)
                except grpc.aio.AioRpcError as exc:
                    raise ServerBusy(f"tail sampling peer {self.peers[i]} cannot take spans: {exc.code().name}") from None
                self.forwarded += len(spans)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels = {}
