"""One explicit table from backend name to factory builder: where backends register."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spyglass.storage.api import StorageFactory


def _min_lookback(options: dict[str, Any]) -> int:
    """``--dependencies.rollup-min-lookback`` in ns (see ``spyglass.analytics.dependencies``)."""
    from spyglass.gocompat.godur import parse_duration

    try:
        return parse_duration(str(options.get("dependencies_rollup_min_lookback", "1h")).strip())
    except ValueError as exc:
        raise ValueError(f"--dependencies.rollup-min-lookback: {exc}") from None


def _memory(options: dict[str, Any]) -> StorageFactory:
    from spyglass.storage.memory import MemoryConfig, MemoryFactory

    return MemoryFactory(MemoryConfig(max_traces=options.get("memory_max_traces", 100_000),
                                      dependencies_rollup_min_lookback_ns=_min_lookback(options)))


def _sqlite(options: dict[str, Any]) -> StorageFactory:
    from spyglass.storage.sqlite import SqliteConfig, SqliteFactory

    return SqliteFactory(
        SqliteConfig(
            data_dir=str(options.get("data_dir", "./data")),
            retention=str(options.get("sqlite_retention", "72h")),
            commit_interval=str(options.get("sqlite_commit_interval", "1s")),
            dependencies_rollup_min_lookback_ns=_min_lookback(options),
        )
    )


def _clickhouse(options: dict[str, Any]) -> StorageFactory:
    from spyglass.storage.clickhouse.options import factory_from_options

    return factory_from_options(options)


BACKENDS: dict[str, Callable[[dict[str, Any]], StorageFactory]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "clickhouse": _clickhouse,
}


def create_storage(name: str, options: dict[str, Any]) -> StorageFactory:
    """Build the named backend; an unknown name fails with the list of known ones."""
    try:
        builder = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown storage backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
    return builder(options)
