"""``spyglass ingester``: JetStream buffer -> storage, with an admin port (Jaeger's 14270).

Run any number of them with the same ``--nats.*`` settings; they share one durable consumer.
The storage flags are the other roles' (``--storage``, ``--data-dir``, ...), so ``spyglass
query`` on the same storage reads what the ingesters write.
"""

from __future__ import annotations

import asyncio
import logging

from spyglass.admin import build_admin_app
from spyglass.cmd.all_in_one import storage_options
from spyglass.collector.buffer.stream import BufferConfig
from spyglass.config import Settings
from spyglass.ingester.consumer import BufferConsumer
from spyglass.ingester.metrics import IngesterMetrics
from spyglass.server import HttpServer
from spyglass.server.settings import apply_tls
from spyglass.storage.registry import create_storage

log = logging.getLogger("spyglass")

ADMIN_PORT = 14270  # Jaeger's ingester admin port


class Ingester:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = BufferConfig.from_settings(settings)
        self.storage = create_storage(settings.storage, storage_options(settings))
        self.metrics = IngesterMetrics()
        self.consumer = BufferConsumer(self.config, self.storage.span_writer(), self.metrics)
        self.admin = HttpServer("admin", settings.listen_host, settings.admin_port,
                                build_admin_app(self.metrics.registry, lambda: self.consumer.connected))
        apply_tls(settings, [self.admin])
        self._task: asyncio.Task[None] | None = None

    @property
    def ports(self) -> dict[str, int]:
        return {"admin": self.admin.port}

    async def start(self) -> None:
        await self.admin.start()
        log.info("admin listening on %s:%d", self.admin.host, self.admin.port)
        self._task = asyncio.create_task(self.consumer.run())

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
