"""Helpers for tests (importable as ``support``: pytest puts ``tests/`` on the path)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def storage_backends() -> dict[str, Callable[[Any], Any]]:
    """Every storage backend the shared suites run against: name -> builder(tmp_path).

    A new backend joins every storage test by adding one entry here.
    """
    from spyglass.storage.memory import MemoryFactory
    from spyglass.storage.sqlite import SqliteConfig, SqliteFactory

    return {
        "memory": lambda tmp_path: MemoryFactory(),
        "sqlite": lambda tmp_path: SqliteFactory(SqliteConfig(data_dir=str(tmp_path / "data"))),
        "clickhouse": clickhouse_factory,
    }


def clickhouse_factory(tmp_path: Any = None) -> Any:
    """A clickhouse backend on a fresh database of the session's single 18.16 server.

    Retention is off: clickhouse expires spans by their start time, and the suites write
    spans dated 2023."""
    from clickhouse_servers import fresh_database, single_node
    from spyglass.storage.clickhouse import ClickHouseConfig, ClickHouseFactory

    return ClickHouseFactory(ClickHouseConfig(addresses=single_node().address, database=fresh_database(),
                                              retention="0"))


def storage_settings(backend: str, data_dir: str) -> dict[str, Any]:
    """``Settings`` overrides that run an all-in-one on ``backend`` (fresh data each call)."""
    overrides: dict[str, Any] = {"storage": backend, "data_dir": data_dir}
    if backend == "clickhouse":
        from clickhouse_servers import fresh_database, single_node

        overrides.update(clickhouse_addresses=single_node().address, clickhouse_database=fresh_database(),
                         clickhouse_retention="0")
    return overrides


def free_port(udp: bool = False) -> int:
    """A port that was free a moment ago (for child processes that need a fixed port).

    Chosen at random below the kernel's ephemeral range: a port the kernel handed out (port
    0) would be handed out again, as the local end of any outgoing connection (a collector's
    own connection to NATS, another test's client), before the child process binds it."""
    import random
    import socket

    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    for _ in range(100):
        port = random.randrange(10000, max(ephemeral_low, 10001))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def _jaeger_fixtures() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "jaeger-storage-fixtures"
    return Path(os.environ.get("SPYGLASS_JAEGER_FIXTURES", str(default)))


JAEGER_FIXTURES = _jaeger_fixtures()
"""Jaeger's storage fixtures in shared/, which sits beside the checkout (overridable with
``SPYGLASS_JAEGER_FIXTURES``)."""


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie, exited and not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
