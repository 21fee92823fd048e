"""Builds the clickhouse backend: checks the servers, creates the schema, wires the parts.

``open`` asks the servers for their version (``ClickHouseUnavailable``, one clear line,
when none answers), picks the schema variant for that version, creates the database and
tables (``--clickhouse.create-schema``, default on) or checks that an operator created
them, and refuses a schema newer than this release knows. A factory built directly opens at
once; the registry builds it closed, and the command opens it through the health ability
(``prepare_writes`` / ``check``) before any listener accepts spans, so a ClickHouse that is
down stops start-up with that line.

Health while running: unhealthy while the writer's inserts fail (a server or a shard is
down) and when its buffer is full, with the last error as the reason.
"""

from __future__ import annotations

import logging
import threading

from spyglass.storage.api import (
    ArchiveCapable,
    DependencyReader,
    Health,
    HealthCheckable,
    SpanWriter,
    StorageFactory,
    TraceReader,
)
from spyglass.storage.api.health import Instrumented
from spyglass.storage.api.tenants import MultiTenant, escape_tenant
from spyglass.storage.clickhouse import schema
from spyglass.storage.clickhouse.config import ClickHouseConfig
from spyglass.storage.clickhouse.connection import ClickHouseUnavailable, Connector
from spyglass.storage.clickhouse.dependencies import ClickHouseDependencyReader
from spyglass.storage.clickhouse.metrics import ClickHouseMetrics
from spyglass.storage.clickhouse.reader import ClickHouseReader
from spyglass.storage.clickhouse.shards import ShardMap, discover_shards
from spyglass.storage.clickhouse.writer import ClickHouseWriter


log = logging.getLogger(__name__)
_FILL_TIMEOUT = 3600.0  # filling tag_index of an older database: a read of every span


def layout_for(config: ClickHouseConfig, server_version: str) -> schema.Layout:
    return schema.Layout(
        database=config.database, cluster=config.cluster, replication=config.replication,
        variant=schema.variant_for(schema.parse_version(server_version)),
        retention_seconds=int(config.retention_seconds),
    )


class ClickHouseFactory(StorageFactory, ArchiveCapable, HealthCheckable, Instrumented, MultiTenant):
    """The clickhouse backend. A tenant's store is a database of its own,
    ``<database>_tenant_<escaped name>``, with the same tables and its own retention (TTL, or
    day partitions dropped on old servers); it is created on the tenant's first use."""

    def __init__(self, config: ClickHouseConfig | None = None, *, connect: bool = True) -> None:
        self.config = config or ClickHouseConfig()
        self.config.validate()
        self.connector = Connector(self.config)
        self.server_version = ""
        self.layout: schema.Layout | None = None
        self.tag_index = False  # searches start from tag_index (schema ready, base variant)
        self.shards: ShardMap | None = None  # traces by ID read from their own shard
        c = self.config
        self.writer = ClickHouseWriter(
            self.connector, c.database, batch_size=c.batch_size, flush_interval=c.flush_interval_seconds,
            buffer_size=c.buffer_size, retention_seconds=c.retention_seconds)
        self.reader = ClickHouseReader(self.connector, c.database, flush=self.writer.flush)
        self.dependencies = ClickHouseDependencyReader(
            self.reader.query, f"{c.database}.dependencies", flush=self.writer.flush)
        self._archive: tuple[ClickHouseWriter, ClickHouseReader] | None = None
        self._lock = threading.Lock()
        if connect:
            try:
                self.open()
            except BaseException:
                self.writer.close(timeout=0)
                raise

    def ping(self) -> str:
        """Readiness: the servers answer (their version), else ``ClickHouseUnavailable``."""
        return self.connector.ping()

    def open(self) -> None:
        """Reach the servers and make the schema ready (once; later calls return at once)."""
        with self._lock:
            if self.layout is not None:
                return
            version = self.ping()
            layout = layout_for(self.config, version)
            self.tag_index = self._prepare_schema(layout)
            self.shards = self._discover_shards()
            self.server_version, self.layout = version, layout
            self.writer.layout = layout
            self.reader.tag_index, self.reader.shards = self.tag_index, self.shards
            if self._archive is not None:
                self._archive[0].layout = layout
                self._archive[1].tag_index, self._archive[1].shards = self.tag_index, self.shards

    def _discover_shards(self) -> ShardMap | None:
        try:
            return discover_shards(self.connector)
        except ClickHouseUnavailable as exc:  # only a speed-up is lost: reads go through Distributed
            log.warning("clickhouse: could not read the shards of cluster %s (%s)", self.config.cluster, exc)
            return None

    # -- the health ability ---------------------------------------------------------------
    def prepare_writes(self) -> None:
        self.open()

    def check(self) -> Health:
        if self.layout is None:
            try:
                self.open()
            except (ClickHouseUnavailable, schema.SchemaError) as exc:
                return Health(False, str(exc))
        reason = self.writer.unhealthy_reason()
        return Health(False, reason) if reason else Health(True)

    # -- the metrics ability: the writers' buffers, failed inserts, drops; the readers' routes ---
    def metrics_collector(self) -> ClickHouseMetrics:
        return ClickHouseMetrics(self._stores, self.config.buffer_size)

    def _stores(self) -> list[tuple[str, ClickHouseWriter, ClickHouseReader]]:
        out: list[tuple[str, ClickHouseWriter, ClickHouseReader]] = []
        for store in (self, *self.tenants().values()):
            if isinstance(store, ClickHouseFactory):
                out.append(("primary", store.writer, store.reader))
                if store._archive is not None:
                    out.append(("archive", *store._archive))
        return out

    def _prepare_schema(self, layout: schema.Layout) -> bool:
        """Create or check the schema; whether searches may use ``tag_index``."""
        client = self.connector.client()
        try:
            if self.config.create_schema:
                for statement in schema.statements(layout):
                    self.connector.execute(client, statement)
            db = self.config.database
            try:
                rows = self.connector.execute(client, f"SELECT max(version), count() FROM {db}.schema_version")
            except ClickHouseUnavailable as exc:
                raise ClickHouseUnavailable(
                    f"{exc} (create the schema: spyglass clickhouse-schema | clickhouse-client --multiquery)") from None
            version, count = rows[0]
            if count and version > schema.VERSION:
                raise schema.SchemaError(
                    f"clickhouse database {db} has schema version {version}; this Spyglass knows up to {schema.VERSION}")
            indexed = not layout.tag_index or not count or version >= schema.TAG_INDEX_SINCE
            if not indexed and self.config.create_schema:
                self._fill_tag_index(layout, version)
                indexed = True
            if not indexed:
                log.warning("clickhouse database %s has schema version %d and --clickhouse.create-schema is off: "
                            "searched without tag_index (run once with it on to add the index)", db, version)
            mark = schema.VERSION if indexed else schema.PAYLOAD_VERSION
            if not count or version < mark:  # new, or older rows this release reads as they are
                self.connector.execute(
                    client, f"INSERT INTO {db}.schema_version (version, variant, created) VALUES",
                    [(mark, layout.variant, _now())])
            return layout.tag_index and indexed
        finally:
            client.disconnect()

    def _fill_tag_index(self, layout: schema.Layout, version: int) -> None:
        """Index the spans an older release wrote (one statement per store, not bounded by
        ``--clickhouse.timeout``: it reads every span once). If it fails, the database keeps
        its version and the next start fills it again."""
        log.info("clickhouse database %s: schema version %d -> %d, indexing the stored spans' tags",
                 layout.database, version, schema.VERSION)
        client = self.connector.client(timeout=_FILL_TIMEOUT)
        try:
            for statement in schema.backfill_statements(layout):
                self.connector.execute(client, statement, settings={"max_execution_time": 0})
        finally:
            client.disconnect()

    def span_writer(self) -> SpanWriter:
        return self.writer

    def trace_reader(self) -> TraceReader:
        return self.reader

    def dependency_reader(self) -> DependencyReader:
        return self.dependencies

    # -- archive: the archive_* tables, same layout, no retention --------------------------
    def _archive_parts(self) -> tuple[ClickHouseWriter, ClickHouseReader]:
        with self._lock:
            if self._archive is None:
                c = self.config
                writer = ClickHouseWriter(self.connector, c.database, prefix="archive_", batch_size=c.batch_size,
                                          flush_interval=c.flush_interval_seconds, buffer_size=c.buffer_size,
                                          rollup=False)
                writer.layout = self.layout
                reader = ClickHouseReader(self.connector, c.database, "archive_", flush=writer.flush)
                reader.tag_index, reader.shards = self.tag_index, self.shards
                self._archive = (writer, reader)
            return self._archive

    def archive_writer(self) -> SpanWriter:
        return self._archive_parts()[0]

    def archive_reader(self) -> TraceReader:
        return self._archive_parts()[1]

    def _open_tenant(self, tenant: str, retention_seconds: float | None) -> ClickHouseFactory:
        import dataclasses

        config = dataclasses.replace(self.config, database=f"{self.config.database}_tenant_{escape_tenant(tenant)}")
        if retention_seconds is not None:
            config.retention = f"{retention_seconds:.0f}s"
        factory = ClickHouseFactory(config, connect=False)
        if self.layout is not None:  # this process uses the servers already: the schema now
            factory.open()
        return factory

    def close(self) -> None:
        self.close_tenants()
        self.writer.close()
        if self._archive is not None:
            self._archive[0].close()


def _now() -> "object":
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
