"""One explicit table from backend name to factory builder: where backends register."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spyglass.storage.api import StorageFactory


def _memory(options: dict[str, Any]) -> StorageFactory:
    from spyglass.storage.memory import MemoryConfig, MemoryFactory

    return MemoryFactory(MemoryConfig(max_traces=options.get("memory_max_traces", 100_000)))


BACKENDS: dict[str, Callable[[dict[str, Any]], StorageFactory]] = {
    "memory": _memory,
}


def create_storage(name: str, options: dict[str, Any]) -> StorageFactory:
    """Build the named backend; an unknown name fails with the list of known ones."""
    try:
        builder = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown storage backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
    return builder(options)
