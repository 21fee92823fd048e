"""The optional health ability of a backend: open what writing needs up front, and say
whether writes can be taken right now.

Why: a tracing backend must never acknowledge a span it cannot store. The command opens
and checks storage *before* any listener accepts traffic (``prepare_writes``), and the
span processor and the admin health endpoint ask ``check`` while running, so that a full
disk, a lost lock or a server that went away turns into "unhealthy" and retryable errors
instead of 200s followed by silent loss. A backend without this ability is taken as
always healthy (the memory backend cannot fail to store).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector


class StorageUnavailable(Exception):
    """Storage cannot take writes; ``str()`` is one line naming the path (or server) and
    the reason, fit to print as the process's last words at start-up."""


@dataclass(frozen=True, slots=True)
class Health:
    """``healthy`` and, when not, a one-line ``reason`` for operators."""

    healthy: bool
    reason: str = ""


HEALTHY = Health(True)


class HealthCheckable(abc.ABC):
    """Mixed into a ``StorageFactory`` that can fail to store."""

    @abc.abstractmethod
    def prepare_writes(self) -> None:
        """Open, check and lock everything writing needs, now (not on the first write).
        Raises ``StorageUnavailable`` with one clear line when that is impossible. Called
        once, before any receiver listens, by processes that write (collector roles)."""

    @abc.abstractmethod
    def check(self) -> Health:
        """Whether writes can be taken now. Cheap (called about once a second and on every
        health request); may try to repair (re-take a lock, reconnect)."""


def prepare_writes(storage: object) -> None:
    """``storage.prepare_writes()`` when the backend has the ability, else nothing."""
    if isinstance(storage, HealthCheckable):
        storage.prepare_writes()


def check(storage: object) -> Health:
    """``storage.check()`` when the backend has the ability, else healthy."""
    if isinstance(storage, HealthCheckable):
        try:
            return storage.check()
        except Exception as exc:  # a failing check is itself a sign of ill health
            return Health(False, f"storage health check failed: {exc}")
    return HEALTHY


class Instrumented(abc.ABC):
    """Mixed into a ``StorageFactory`` that keeps spans of its own between the collector and
    the servers (ClickHouse's write buffer): how full it is, how often writes were retried
    and what it dropped are not visible in the collector's metrics, so the backend publishes
    them on the process's ``/metrics`` (read at scrape time)."""

    @abc.abstractmethod
    def metrics_collector(self) -> Collector:
        """A ``prometheus_client`` collector for the process's registry."""


def register_metrics(storage: object, registry: CollectorRegistry) -> None:
    """Publish an ``Instrumented`` backend's metrics on ``registry`` (others have none)."""
    if isinstance(storage, Instrumented):
        registry.register(storage.metrics_collector())
