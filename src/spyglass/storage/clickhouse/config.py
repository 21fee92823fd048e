"""The clickhouse backend's settings (``--clickhouse.*``), parsed and checked once."""

from __future__ import annotations

from dataclasses import dataclass

from spyglass.server.tls import ClientTlsConfig

_NS = 1_000_000_000


def _seconds(flag: str, text: str) -> float:
    from spyglass.gocompat.godur import parse_duration  # Go's duration syntax, as every other flag

    try:
        return parse_duration(text.strip()) / _NS
    except ValueError as exc:
        raise ValueError(f"--{flag}: {exc}") from None


def parse_addresses(text: str) -> list[tuple[str, int]]:
    """``host:port[,host:port...]`` (port 9000 when left out) as (host, port) pairs."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        host, sep, port = part.rpartition(":")
        if not sep:
            host, port = part, "9000"
        try:
            number = int(port)
        except ValueError:
            raise ValueError(f"--clickhouse.addresses: {part!r} is not host:port") from None
        if not host or not 0 < number < 65536:
            raise ValueError(f"--clickhouse.addresses: {part!r} is not host:port")
        out.append((host.strip("[]"), number))
    if not out:
        raise ValueError("--clickhouse.addresses must name at least one host:port")
    return out


@dataclass(slots=True)
class ClickHouseConfig:
    """Where the servers are and how Spyglass uses them.

    ``batch_size`` spans are sent in one insert (ClickHouse wants few large inserts; each
    insert is a new part on disk), at the latest ``flush_interval`` after the first one
    waited; ``buffer_size`` spans may wait while the servers are unreachable, more are
    refused with ``StorageWriteError`` (counted as dropped by the collector). ``timeout``
    bounds every request to the servers (connect, send, receive, query execution).
    """

    addresses: str = "127.0.0.1:9000"
    database: str = "spyglass"
    cluster: str = ""
    replication: bool = False
    username: str = "default"
    password: str = ""
    retention: str = "72h"
    batch_size: int = 10_000
    flush_interval: str = "1s"
    buffer_size: int = 1_000_000
    create_schema: bool = True
    timeout: str = "30s"
    # --clickhouse.tls.*: the native protocol over TLS (the servers' tcp_port_secure, 9440)
    tls_enabled: bool = False
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_server_name: str = ""
    tls_skip_host_verify: bool = False

    def validate(self) -> None:
        parse_addresses(self.addresses)
        self.tls.validate()
        if not self.database.replace("_", "").isalnum():
            raise ValueError("--clickhouse.database must be letters, digits and _")
        if self.cluster and not self.cluster.replace("_", "").replace("-", "").isalnum():
            raise ValueError("--clickhouse.cluster must be letters, digits, _ and -")
        if self.replication and not self.cluster:
            raise ValueError("--clickhouse.replication needs --clickhouse.cluster")
        if self.retention_seconds < 0:
            raise ValueError("--clickhouse.retention must not be negative")
        if self.batch_size < 1 or self.buffer_size < self.batch_size:
            raise ValueError("--clickhouse.batch-size must be at least 1 and --clickhouse.buffer-size at least the batch size")
        if not 0 < self.flush_interval_seconds <= 3600:
            raise ValueError("--clickhouse.flush-interval must be more than 0 and at most 1h")
        if not 0 < self.timeout_seconds <= 3600:
            raise ValueError("--clickhouse.timeout must be more than 0 and at most 1h")

    @property
    def tls(self) -> ClientTlsConfig:
        return ClientTlsConfig("clickhouse", self.tls_enabled, self.tls_ca, self.tls_cert, self.tls_key,
                               self.tls_server_name, self.tls_skip_host_verify)

    @property
    def hosts(self) -> list[tuple[str, int]]:
        return parse_addresses(self.addresses)

    @property
    def retention_seconds(self) -> float:
        return _seconds("clickhouse.retention", self.retention)

    @property
    def flush_interval_seconds(self) -> float:
        return _seconds("clickhouse.flush-interval", self.flush_interval)

    @property
    def timeout_seconds(self) -> float:
        return _seconds("clickhouse.timeout", self.timeout)
