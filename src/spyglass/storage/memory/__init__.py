"""The in-memory backend: the small reference implementation, bounded by trace count."""

from spyglass.storage.memory.factory import MemoryConfig, MemoryFactory
from spyglass.storage.memory.store import MemoryStore

__all__ = ["MemoryConfig", "MemoryFactory", "MemoryStore"]
