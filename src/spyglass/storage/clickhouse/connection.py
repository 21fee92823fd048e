"""Connections to the ClickHouse servers (native protocol, ``clickhouse-driver``).

A ``clickhouse_driver.Client`` is one connection and not thread-safe: the writer owns one,
readers get one per thread. Every client fails over along ``--clickhouse.addresses`` (the
first reachable server answers) and every request is bounded by ``--clickhouse.timeout``
(connect, send, receive and the server's own ``max_execution_time``), so nothing waits on a
server that is gone.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from spyglass.storage.api import StorageUnavailable
from spyglass.storage.clickhouse.config import ClickHouseConfig

# The driver logs every failed connection attempt with a traceback; while a server is down
# that would flood the log on every retry. Spyglass reports the failure itself, once.
logging.getLogger("clickhouse_driver.connection").setLevel(logging.ERROR)

# What a request to an unreachable or failing server raises (the driver's own errors, and
# the socket errors it lets through).
ERRORS: tuple[type[BaseException], ...] = (ch_errors.Error, OSError, EOFError)

# One failed attempt in a server's "All connection tries failed" log: its exception text.
_ATTEMPT = re.compile(r"e\.displayText\(\) = (?:DB::\w+: )?(.+?), e\.what\(\)")


class ClickHouseUnavailable(StorageUnavailable, ConnectionError):
    """The servers cannot be reached or refuse the request; the message (one line) says
    which and why. A ``StorageUnavailable`` for start-up and health, a ``ConnectionError``
    for the query APIs (an outage, not a bug)."""


def describe(exc: BaseException) -> str:
    """One line for logs and error responses. A server that could not reach a shard
    (``All connection tries failed. Log: ...``) lists each attempt's error on the lines
    below; the last of them (``Connection refused (host:port)``, a timeout) names the shard
    and is what an operator needs, so it is kept and the stack trace is not."""
    text = (getattr(exc, "message", None) or str(exc) or type(exc).__name__).strip()
    first = text.splitlines()[0].strip()
    causes = _ATTEMPT.findall(text)
    if causes and causes[-1] not in first:
        first = f"{first.removesuffix('Log:').rstrip(' .:')}: {causes[-1]}"
    return first[:300]


class Connector:
    """Builds clients for one configuration; ``database=None`` for the server's default."""

    def __init__(self, config: ClickHouseConfig) -> None:
        self.config = config
        self.hosts = config.hosts
        self._local = threading.local()

    @property
    def where(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.hosts)

    def client(self, *, database: str | None = None, as_bytes: bool = False, timeout: float | None = None) -> Client:
        """A new client; ``timeout`` (default ``--clickhouse.timeout``) bounds each request."""
        c = self.config
        timeout = timeout or c.timeout_seconds
        (host, port), rest = self.hosts[0], self.hosts[1:]
        settings: dict[str, Any] = {
            "max_execution_time": max(1, int(timeout)),
            "insert_distributed_sync": 1,
            "strings_as_bytes": as_bytes,
        }
        kwargs: dict[str, Any] = {}
        tls = c.tls
        if tls.enabled:  # clickhouse-driver's own TLS options (it builds the SSL context)
            kwargs.update(secure=True, verify=not tls.skip_host_verify)
            kwargs.update({k: v for k, v in (("ca_certs", tls.ca), ("certfile", tls.cert), ("keyfile", tls.key),
                                              ("server_hostname", tls.server_name)) if v})
        if rest:
            kwargs["alt_hosts"] = ",".join(f"{h}:{p}" for h, p in rest)
        return Client(
            host, port=port, database=database or "default", user=c.username, password=c.password,
            connect_timeout=min(timeout, 5.0), send_receive_timeout=timeout, sync_request_timeout=min(timeout, 5.0),
            settings=settings, client_name="spyglass", **kwargs,
        )

    def thread_client(self, *, as_bytes: bool = False) -> Client:
        """This thread's client on the Spyglass database (readers share nothing)."""
        key = "bytes" if as_bytes else "text"
        client = getattr(self._local, key, None)
        if client is None:
            client = self.client(database=self.config.database, as_bytes=as_bytes)
            setattr(self._local, key, client)
        return client

    def execute(self, client: Client, query: str, params: Any = None, *, retry: bool = False, **kwargs: Any) -> Any:
        """Run one request; any failure becomes ``ClickHouseUnavailable`` with the reason, and
        the client is disconnected so the next request starts on a fresh connection (which
        tries every address again). With ``retry`` (reads: safe to repeat) a request that
        lost its connection is sent once more at once, so a read that was on a server that
        just died is answered by another one; one that timed out is not."""
        try:
            return client.execute(query, params, **kwargs)
        except ERRORS as exc:
            self._drop(client)
            # A timeout is not retried: the request reached a server that did not answer in
            # time (a shard hung, not gone), and a second try would double the wait.
            if retry and not isinstance(exc, (ch_errors.ServerException, ch_errors.SocketTimeoutError, socket.timeout)):
                try:
                    return client.execute(query, params, **kwargs)
                except ERRORS as again:
                    self._drop(client)
                    exc = again
            raise ClickHouseUnavailable(f"clickhouse at {self.where}: {describe(exc)}") from exc

    @staticmethod
    def _drop(client: Client) -> None:
        try:
            client.disconnect()
        except Exception:  # noqa: BLE001 - the connection is broken anyway
            pass

    def ping(self) -> str:
        """Ask the servers for their version: the readiness check. Raises
        ``ClickHouseUnavailable`` (with the address and reason) when none answers."""
        client = self.client()
        try:
            rows = self.execute(client, "SELECT version()")
        finally:
            client.disconnect()
        return str(rows[0][0])
