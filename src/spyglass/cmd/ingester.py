"""``spyglass ingester``: JetStream buffer -> storage, with an admin port (Jaeger's 14270).

Run any number of them with the same ``--nats.*`` settings; they share one durable consumer.
The storage flags are the other roles' (``--storage``, ``--data-dir``, ...), so ``spyglass
query`` on the same storage reads what the ingesters write.
"""

from __future__ import annotations

import asyncio
import logging

from spyglass.admin import build_admin_app
from spyglass.cmd.all_in_one import StartupError, storage_options
from spyglass.collector.buffer.stream import BufferConfig
from spyglass.config import Settings
from spyglass.ingester.consumer import BufferConsumer
from spyglass.ingester.metrics import IngesterMetrics
from spyglass.server import HttpServer
from spyglass.storage.api import health as storage_health
from spyglass.storage.api.health import StorageUnavailable
from spyglass.server.settings import apply_tls
from spyglass.storage.api.health import register_metrics
from spyglass.storage.registry import create_storage
from spyglass.tenancy import setup as tenancy_setup

log = logging.getLogger("spyglass")

ADMIN_PORT = 14270  # Jaeger's ingester admin port


class Ingester:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = BufferConfig.from_settings(settings)
        self.storage = create_storage(settings.storage, storage_options(settings))
        tenancy_setup.prepare_storage(self.storage, settings)
        self.metrics = IngesterMetrics()
        register_metrics(self.storage, self.metrics.registry)  # clickhouse: its write buffer
        # Each span into its tenant's store (the collectors stamped the tenant; docs/security.md).
        insert_spans, linger = 0, 0.0
        if settings.storage == "clickhouse":  # few large inserts: each costs ClickHouse a part per table
            c = getattr(self.storage, "config")
            insert_spans, linger = c.batch_size, c.flush_interval_seconds
        self.consumer = BufferConsumer(self.config, tenancy_setup.writer(self.storage), self.metrics,
                                       insert_spans=insert_spans, linger=linger)
        self.admin = HttpServer("admin", settings.listen_host, settings.admin_port,
                                build_admin_app(self.metrics.registry, lambda: self.consumer.connected))
        apply_tls(settings, [self.admin])
        self._task: asyncio.Task[None] | None = None

    @property
    def ports(self) -> dict[str, int]:
        return {"admin": self.admin.port}

    async def start(self) -> None:
        """Open and check storage (ClickHouse: reach the servers, create the schema), then
        serve the admin port and consume; storage that cannot be used ends start-up with one
        line, before any message is taken from JetStream."""
        try:
            await asyncio.to_thread(self._open_storage)
        except StartupError:
            await asyncio.to_thread(self.storage.close)
            raise
        await self.admin.start()
        log.info("admin listening on %s:%d", self.admin.host, self.admin.port)
        self._task = asyncio.create_task(self.consumer.run())

    def _open_storage(self) -> None:
        """The health check, not ``prepare_writes``: with sqlite, several ingesters share one
        data directory and only one holds its writer lock; the others start as standbys
        (``spyglass.ingester.consumer``) instead of failing here."""
        try:
            state = storage_health.check(self.storage)
        except StorageUnavailable as exc:
            raise StartupError(f"storage: {exc}") from None
        if not state.healthy:
            raise StartupError(f"storage: {state.reason}")

    async def stop(self) -> None:
        """Finish the batch in hand (stored and acknowledged), disconnect, close storage."""
        await self.consumer.stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 30)
            except asyncio.TimeoutError:
                log.error("the ingester did not stop within 30s")
        await self.admin.stop()
        await asyncio.to_thread(self.storage.close)
