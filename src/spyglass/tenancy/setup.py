"""Wiring tenancy into a command: the gate for receivers and query APIs, the storage's
per-tenant retention, the writer that routes spans to their tenant's store, and each
tenant's readers for the query service."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from spyglass.query.service import TenantReaders
from spyglass.storage.api import ArchiveCapable, SpanWriter, StorageFactory
from spyglass.storage.api.metrics import MetricsCapable
from spyglass.storage.api.tenants import MultiTenant, TenantRoutingWriter, for_tenant
from spyglass.tenancy.config import TenancyConfig
from spyglass.tenancy.gate import TenancyGate
from spyglass.tenancy.ratelimit import RateLimits


def gate(settings: object, registry: CollectorRegistry | None, *,
         limits: Callable[[dict[str, float]], RateLimits] | None = None) -> TenancyGate | None:
    """The gate, None with tenancy off (receivers and APIs then work exactly as before).
    ``limits`` builds the rate buckets from the configured rates in place of local ones (a
    collector worker's: its parent keeps the buckets of every worker, ``collector.workers``)."""
    config = TenancyConfig.from_settings(settings)
    if not config.enabled:
        return None
    return TenancyGate(config, registry, limits(dict(config.ingest_rate)) if limits is not None else None)


def prepare_storage(storage: StorageFactory, settings: object) -> None:
    """Give the backend the per-tenant retention overrides (before any tenant is opened)."""
    config = TenancyConfig.from_settings(settings)
    if isinstance(storage, MultiTenant):
        storage.tenant_retention = dict(config.retention_seconds)
    elif config.enabled:
        raise ValueError("--multi-tenancy.enabled: this storage backend cannot keep tenants apart")


def writer(storage: StorageFactory) -> SpanWriter:
    """The writer every span goes through: into the store of its ``Span.tenant``. Used even
    with tenancy off, so spans a tenant-aware collector left in the write-ahead log or the
    NATS buffer still reach their tenant's store."""
    return TenantRoutingWriter(storage) if isinstance(storage, MultiTenant) else storage.span_writer()


def readers(storage: StorageFactory, archive: bool) -> Callable[[str], TenantReaders]:
    """Each tenant's readers for ``QueryService(tenants=...)``."""

    def of(tenant: str) -> TenantReaders:
        store = for_tenant(storage, tenant)
        archived = archive and isinstance(store, ArchiveCapable)
        return TenantReaders(
            reader=store.trace_reader(),
            dependencies=store.dependency_reader(),
            archive_reader=store.archive_reader() if archived else None,  # type: ignore[union-attr]
            archive_writer=store.archive_writer() if archived else None,  # type: ignore[union-attr]
            metrics=store.metrics_reader() if isinstance(store, MetricsCapable) else None,
        )

    return of
