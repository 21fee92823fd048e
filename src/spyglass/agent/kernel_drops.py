"""Packets the kernel dropped before a UDP listener could read them.

UDP has no back-pressure: when a burst fills a socket's receive buffer the kernel discards
the packets and only counts them, per socket, in the ``drops`` column of
``/proc/net/udp`` (and ``udp6``). Those losses never reach Spyglass's own counters (they
are packets, whose span counts are unknown, so they cannot join
``spyglass_spans_dropped_total``), so this collector reads the kernel's counter for each
listener's socket, found by inode, at every scrape:
``spyglass_udp_packets_dropped_total{listener=...}``. Linux only; elsewhere the metric
stays absent. Next to it, ``spyglass_udp_receive_queue_bytes{listener=...}`` shows how
much of each listener's receive queue (between its reading thread and its decoder) is used.
"""

from __future__ import annotations

import os
import socket
import weakref
from collections.abc import Callable, Iterator
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

_TABLES = ("/proc/net/udp", "/proc/net/udp6")
NAME = "spyglass_udp_packets_dropped"
HELP = "UDP packets the kernel dropped because the listener's receive buffer was full"


_C = TypeVar("_C", bound="_OnePerRegistry")


class _OnePerRegistry(Collector):
    """A collector registered once per registry: every ``UdpServer`` of a process shares it."""

    @classmethod
    def for_registry(cls: type[_C], registry: CollectorRegistry) -> _C:
        by_type = _BY_REGISTRY.setdefault(registry, {})
        found = by_type.get(cls)
        if found is None:
            found = by_type[cls] = cls()
            registry.register(found)
        return found  # type: ignore[return-value]


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, dict[type, _OnePerRegistry]] = weakref.WeakKeyDictionary()


def read_drops() -> dict[int, int]:
    """Socket inode -> kernel drop count, for every UDP socket of this network namespace."""
    drops: dict[int, int] = {}
    for table in _TABLES:
        try:
            with open(table) as f:
                next(f, None)  # header
                for line in f:
                    fields = line.split()
                    if len(fields) >= 13:
                        drops[int(fields[9])] = int(fields[12])
        except OSError:
            continue
    return drops


class KernelDrops(_OnePerRegistry):
    """One per registry (``for_registry``); each ``UdpServer`` registers its socket."""

    def __init__(self) -> None:
        self._inodes: dict[str, int] = {}
        self._base: dict[str, int] = {}  # drops of earlier sockets of the same listener

    def watch(self, listener: str, sock: socket.socket) -> None:
        self._inodes[listener] = os.fstat(sock.fileno()).st_ino
        self._base.setdefault(listener, 0)

    def unwatch(self, listener: str) -> None:
        """Keep the listener's count (a counter never goes back) before its socket closes."""
        inode = self._inodes.pop(listener, None)
        if inode is not None:
            self._base[listener] += read_drops().get(inode, 0)

    def totals(self) -> dict[str, int]:
        current = read_drops() if self._inodes else {}
        return {name: base + current.get(self._inodes.get(name, -1), 0) for name, base in self._base.items()}

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(NAME, HELP, labels=["listener"])

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(NAME, HELP, labels=["listener"])
        for name, value in sorted(self.totals().items()):
            family.add_metric([name], value)
        yield family


QUEUE_NAME = "spyglass_udp_receive_queue_bytes"
QUEUE_HELP = "Bytes of UDP datagrams read from the listener's socket and not yet decoded"


class ReceiveQueues(_OnePerRegistry):
    """``spyglass_udp_receive_queue_bytes{listener=...}``: how full each listener's receive
    queue is (``UdpServer``), read at scrape time. One per registry (``for_registry``)."""

    def __init__(self) -> None:
        self._sizes: dict[str, Callable[[], int]] = {}

    def watch(self, listener: str, size: Callable[[], int]) -> None:
        self._sizes[listener] = size

    def unwatch(self, listener: str) -> None:
        self._sizes.pop(listener, None)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(QUEUE_NAME, QUEUE_HELP, labels=["listener"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(QUEUE_NAME, QUEUE_HELP, labels=["listener"])
        for name, size in sorted(self._sizes.items()):
            family.add_metric([name], size())
        yield family

