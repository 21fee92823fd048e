"""Tenants in storage: every backend keeps one store per tenant.

Why a store per tenant rather than a tenant column: isolation then holds by construction
(a reader of tenant ``a`` has no handle on ``b``'s data, so no forgotten ``WHERE`` can
leak it), per-tenant retention is each store's own retention (sqlite day files, clickhouse
partitions or TTL), and the existing schemas and data stay as they are: tenant ``""`` (the
only one without multi-tenancy) is the backend's root store, unchanged. Each backend says
where a tenant's store lives (memory: a new store; sqlite: ``<data-dir>/tenants/<name>``;
clickhouse: database ``<db>_tenant_<name>``).

The contract takes the tenant explicitly: ``factory.for_tenant(name)`` is a complete
``StorageFactory`` (writer, readers, dependencies, metrics, archive) of that tenant. The
collector's writer gets ``TenantRoutingWriter``, which writes each span to the store of
its ``Span.tenant``.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from typing import Any

from spyglass.model import Span
from spyglass.storage.api import health as storage_health
from spyglass.storage.api.factory import StorageFactory
from spyglass.storage.api.health import HEALTHY, Health
from spyglass.storage.api.writer import SpanWriter

_LOCK = threading.Lock()  # guards the per-factory tenant tables (rarely taken: once per new tenant)


def escape_tenant(tenant: str) -> str:
    """A tenant name as an identifier of letters, digits and ``_`` only, one-to-one:
    ``_`` becomes ``__`` and any other character ``_xx`` (hex), so ``a-b`` and ``a_b``
    never share a database."""
    out = []
    for ch in tenant:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch == "_":
            out.append("__")
        else:
            out.append(f"_{ord(ch):02x}")
    return "".join(out)


class MultiTenant(abc.ABC):
    """Mixed into a ``StorageFactory``: its stores per tenant, opened on first use and kept.

    ``tenant_retention`` (tenant -> seconds, ``--multi-tenancy.retention``) overrides the
    backend's retention for those tenants' stores.
    """

    tenant_retention: dict[str, float]

    def for_tenant(self, tenant: str) -> StorageFactory:
        """The store of ``tenant``; ``""`` is this factory itself."""
        if not tenant:
            return self  # type: ignore[return-value]
        stores = self._tenant_stores()
        store = stores.get(tenant)
        if store is None:
            with _LOCK:
                store = stores.get(tenant)
                if store is None:
                    retention = getattr(self, "tenant_retention", {}).get(tenant)
                    store = stores[tenant] = self._open_tenant(tenant, retention)
        return store

    def tenants(self) -> dict[str, StorageFactory]:
        """The tenants' stores opened so far (a copy)."""
        return dict(self._tenant_stores())

    def _tenant_stores(self) -> dict[str, StorageFactory]:
        stores = self.__dict__.get("_spyglass_tenant_stores")
        if stores is None:
            with _LOCK:
                stores = self.__dict__.setdefault("_spyglass_tenant_stores", {})
        return stores

    @abc.abstractmethod
    def _open_tenant(self, tenant: str, retention_seconds: float | None) -> StorageFactory:
        """Build ``tenant``'s store (a factory of the same backend); ``retention_seconds``
        None keeps the backend's retention."""

    def close_tenants(self) -> None:
        for store in self.tenants().values():
            store.close()


def for_tenant(storage: StorageFactory, tenant: str) -> StorageFactory:
    """``storage.for_tenant(tenant)``; a backend without tenants has only tenant ``""``."""
    if not tenant:
        return storage
    if not isinstance(storage, MultiTenant):
        raise ValueError(f"this storage backend cannot keep tenants apart (tenant {tenant!r})")
    return storage.for_tenant(tenant)


def check_all(storage: StorageFactory) -> Health:
    """Health of the root store and of every tenant's store opened so far."""
    state = storage_health.check(storage)
    if not state.healthy:
        return state
    if isinstance(storage, MultiTenant):
        for tenant, store in storage.tenants().items():
            state = storage_health.check(store)
            if not state.healthy:
                return Health(False, f"tenant {tenant}: {state.reason}")
    return HEALTHY


class TenantRoutingWriter(SpanWriter):
    """Writes each span into the store of its tenant. A batch of one tenant (the usual
    case: the queue hands over whole requests) goes in one write; a mixed batch is split,
    and a failure of any part fails the call (the processor retries the batch; readers
    hide the duplicates, as they do for any redelivery). A tenant's store is made ready for
    writes (``prepare_writes``) the first time it is written to."""

    def __init__(self, storage: StorageFactory) -> None:
        self.storage = storage
        self.root = storage.span_writer()
        self._ready: dict[str, SpanWriter] = {"": self.root}

    def _writer(self, tenant: str) -> SpanWriter:
        writer = self._ready.get(tenant)
        if writer is None:
            store = for_tenant(self.storage, tenant)
            storage_health.prepare_writes(store)
            writer = self._ready[tenant] = store.span_writer()
        return writer

    def write_spans(self, spans: Sequence[Span]) -> None:
        if not spans:
            return
        first = spans[0].tenant
        if all(s.tenant == first for s in spans):
            self._writer(first).write_spans(spans)
            return
        groups: dict[str, list[Span]] = {}
        for s in spans:
            groups.setdefault(s.tenant, []).append(s)
        for tenant, group in groups.items():
            self._writer(tenant).write_spans(group)

    def write_prepared(self, batches: Sequence[Any]) -> None:
        """Batches collector workers prepared (``storage.sqlite.prepared``): only made with
        multi-tenancy off, so every one belongs to the default tenant's store."""
        self.root.write_prepared(batches)  # type: ignore[attr-defined]

    @property
    def lost_spans(self) -> int:
        """Acknowledged spans the backends could never store, over every tenant (counted at stop)."""
        return sum(getattr(w, "lost_spans", 0) for w in list(self._ready.values()))

    def sync(self) -> bool:
        """Every tenant's ``sync`` (the write-ahead log and the ingester acknowledge on it):
        True only when all of them made their spans durable."""
        ok = True
        for writer in list(self._ready.values()):
            sync = getattr(writer, "sync", None)
            if sync is not None and not sync():
                ok = False
        return ok
