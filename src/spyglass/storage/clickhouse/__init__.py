"""The clickhouse backend: spans in ClickHouse (one server, or a sharded and replicated
cluster), through the native protocol (``clickhouse-driver``).

Modules: ``config`` (settings), ``connection`` (clients, timeouts, the readiness check),
``schema`` (DDL per server version and topology), ``rows`` (spans as columns and search
pairs), ``writer`` (batched, retried inserts from a bounded buffer; retention on old
servers), ``reader`` (traces and search in SQL), ``dependencies`` (the call rollup),
``factory`` (wiring, schema creation, archive tables).
"""

from spyglass.storage.clickhouse.config import ClickHouseConfig
from spyglass.storage.clickhouse.connection import ClickHouseUnavailable
from spyglass.storage.clickhouse.factory import ClickHouseFactory

__all__ = ["ClickHouseConfig", "ClickHouseFactory", "ClickHouseUnavailable"]
