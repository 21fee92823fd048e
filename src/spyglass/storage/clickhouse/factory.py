"""Builds the clickhouse backend: checks the servers, creates the schema, wires the parts.

At construction it asks the servers for their version (``check``: start-up fails with a
clear ``ClickHouseUnavailable`` when none answers), picks the schema variant for that
version, creates the database and tables (``--clickhouse.create-schema``, default on) or
checks that an operator created them, and refuses a schema newer than this release knows.
"""

from __future__ import annotations

import threading

from spyglass.storage.api import ArchiveCapable, DependencyReader, SpanWriter, StorageFactory, TraceReader
from spyglass.storage.clickhouse import schema
from spyglass.storage.clickhouse.config import ClickHouseConfig
from spyglass.storage.clickhouse.connection import ClickHouseUnavailable, Connector
from spyglass.storage.clickhouse.dependencies import ClickHouseDependencyReader
from spyglass.storage.clickhouse.reader import ClickHouseReader
from spyglass.storage.clickhouse.writer import ClickHouseWriter


def layout_for(config: ClickHouseConfig, server_version: str) -> schema.Layout:
    return schema.Layout(
        database=config.database, cluster=config.cluster, replication=config.replication,
        variant=schema.variant_for(schema.parse_version(server_version)),
        retention_seconds=int(config.retention_seconds),
    )


class ClickHouseFactory(StorageFactory, ArchiveCapable):
    def __init__(self, config: ClickHouseConfig | None = None) -> None:
        self.config = config or ClickHouseConfig()
        self.config.validate()
        self.connector = Connector(self.config)
        self.server_version = self.check()
        self.layout = layout_for(self.config, self.server_version)
        self._prepare_schema()
        c = self.config
        self.writer = ClickHouseWriter(
            self.connector, self.layout, batch_size=c.batch_size, flush_interval=c.flush_interval_seconds,
            buffer_size=c.buffer_size, retention_seconds=c.retention_seconds)
        self.reader = ClickHouseReader(self.connector, c.database, flush=self.writer.flush)
        self.dependencies = ClickHouseDependencyReader(
            self.reader.query, f"{c.database}.dependencies", flush=self.writer.flush)
        self._archive: tuple[ClickHouseWriter, ClickHouseReader] | None = None
        self._lock = threading.Lock()

    def check(self) -> str:
        """Readiness: the servers answer (their version), else ``ClickHouseUnavailable``."""
        return self.connector.check()

    def _prepare_schema(self) -> None:
        client = self.connector.client()
        try:
            if self.config.create_schema:
                for statement in schema.statements(self.layout):
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
            if not count:
                self.connector.execute(
                    client, f"INSERT INTO {db}.schema_version (version, variant, created) VALUES",
                    [(schema.VERSION, self.layout.variant, _now())])
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
                writer = ClickHouseWriter(self.connector, self.layout, prefix="archive_", batch_size=c.batch_size,
                                          flush_interval=c.flush_interval_seconds, buffer_size=c.buffer_size,
                                          rollup=False)
                self._archive = (writer, ClickHouseReader(self.connector, c.database, "archive_", flush=writer.flush))
            return self._archive

    def archive_writer(self) -> SpanWriter:
        return self._archive_parts()[0]

    def archive_reader(self) -> TraceReader:
        return self._archive_parts()[1]

    def close(self) -> None:
        self.writer.close()
        if self._archive is not None:
            self._archive[0].close()


def _now() -> "object":
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
