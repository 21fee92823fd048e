"""What every receiver calls: the tenant of a request, then ``accept`` with the rate limit.

``TenancyGate`` holds the config, the per-tenant token buckets and the metrics. A receiver
resolves the tenant before reading the body (``web.middleware`` for HTTP, ``rpc.tenant_of``
for gRPC), so a request without a tenant costs nothing; then it hands the decoded spans to
``accept``, which takes the whole request from the tenant's bucket (or refuses it whole
with ``RateLimited``), stamps the spans with the tenant (``Span.tenant``, carried to the
writer) and passes them to the sink. ``RateLimited`` is a ``ServerBusy``, so a receiver that
does not know it still answers a retryable error.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter

from spyglass.collector.processor import ServerBusy, Submitted
from spyglass.model import Span
from spyglass.tenancy.config import TenancyConfig
from spyglass.tenancy.ratelimit import RateLimits
from spyglass.tenancy.resolve import resolve_tenant


# With an open tenant list (``--multi-tenancy.tenants`` empty) every new name opens stores
# (directories, databases); past this many distinct tenants per process new ones are refused,
# so a client inventing names cannot exhaust disk, files or databases.
MAX_OPEN_TENANTS = 1000


class RateLimited(ServerBusy):
    """The tenant is over its ``--multi-tenancy.ingest-rate``: HTTP 429, gRPC RESOURCE_EXHAUSTED."""


class TenancyMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = registry or CollectorRegistry()
        self.refused = Counter(
            "spyglass_tenancy_requests_refused", "Requests refused for their tenant (missing, invalid, unknown, "
            "not the credential's)", ["api", "reason"], registry=r)
        self.rate_limited = Counter(
            "spyglass_tenancy_spans_rate_limited", "Spans refused because their tenant was over its ingest rate",
            ["tenant"], registry=r)
        self.udp_dropped = Counter(
            "spyglass_tenancy_udp_spans_dropped", "Spans received over UDP (no tenant header) dropped because "
            "multi-tenancy is on", ["receiver"], registry=r)


class TenancyGate:
    def __init__(self, config: TenancyConfig, registry: CollectorRegistry | None = None,
                 limits: RateLimits | None = None) -> None:
        self.config = config
        self.limits = limits or RateLimits(config.ingest_rate)
        self.metrics = TenancyMetrics(registry)
        self.max_open_tenants = MAX_OPEN_TENANTS
        self._seen: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def resolve(self, header_values: list[str], api: str) -> str:
        """The tenant (``""`` when tenancy is off); ``TenantError`` counted and raised."""
        from spyglass.tenancy.resolve import TenantError, TenantRefused

        try:
            tenant = resolve_tenant(self.config, header_values)
            if tenant and not self.config.tenants and tenant not in self._seen:
                if len(self._seen) >= self.max_open_tenants:
                    raise TenantRefused(f"more than {self.max_open_tenants} tenants; list the allowed ones "
                                        "with --multi-tenancy.tenants")
                self._seen.add(tenant)
            return tenant
        except TenantError as exc:
            self.metrics.refused.labels(api, exc.kind).inc()
            raise

    async def admit(self, tenant: str, spans: Sequence[Span]) -> None:
        """Take the request from the tenant's bucket and stamp its spans, or ``RateLimited``."""
        n = len(spans)
        if not await self.limits.acquire(tenant, n):
            self.metrics.rate_limited.labels(tenant).inc(n)
            raise RateLimited(f"tenant {tenant!r} is over its ingest rate of "
                              f"{self.limits.rate_of(tenant):g} spans/s, retry later")
        if tenant:
            for span in spans:
                span.tenant = tenant

    async def accept(self, sink: object, spans: Sequence[Span], tenant: str, *, receiver: str, fmt: str,
                     nbytes: int = 0) -> Submitted:
        try:
            await self.admit(tenant, spans)
        except RateLimited:  # counted with the receiver's other refusals too
            m = sink.metrics  # type: ignore[attr-defined]
            m.spans_received.labels(receiver, fmt).inc(len(spans))
            m.spans_rejected.labels(receiver, fmt, "rate_limited").inc(len(spans))
            m.spans_dropped.labels("rate_limited").inc(len(spans))
            m.batches_rejected.labels(receiver, fmt).inc()
            raise
        try:
            return await sink.accept(spans, receiver=receiver, fmt=fmt, nbytes=nbytes)  # type: ignore[attr-defined]
        except ServerBusy:
            self.limits.give_back(tenant, len(spans))
            raise

    def udp_refuser(self, ingest: object) -> object:
        """For ``UdpServer(refuse=...)`` with tenancy on: a datagram has no header, so its
        spans are counted as received and dropped (``reason="no_tenant"``), never stored
        under a guessed tenant."""

        def refuse(receiver: str, fmt: str, count: int) -> None:
            m = ingest.metrics if hasattr(ingest, "metrics") else ingest  # type: ignore[attr-defined]
            m.spans_received.labels(receiver, fmt).inc(count)
            m.spans_rejected.labels(receiver, fmt, "no_tenant").inc(count)
            m.spans_dropped.labels("no_tenant").inc(count)
            self.metrics.udp_dropped.labels(receiver).inc(count)

        return refuse


async def accept(gate: TenancyGate | None, sink: object, spans: Sequence[Span], tenant: str, *, receiver: str,
                 fmt: str, nbytes: int = 0) -> Submitted:
    """``sink.accept`` through the gate when there is one (receivers built without tenancy
    pass None and behave exactly as before)."""
    if gate is None:
        return await sink.accept(spans, receiver=receiver, fmt=fmt, nbytes=nbytes)  # type: ignore[attr-defined]
    return await gate.accept(sink, spans, tenant, receiver=receiver, fmt=fmt, nbytes=nbytes)
