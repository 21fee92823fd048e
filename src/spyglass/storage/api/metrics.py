"""The optional metrics ability: RED rollups and dependency edges written at ingest.

A backend that has it stores the rows ``spyglass.analytics.rollup`` computes from each
batch (in the same transaction as the spans where it has transactions) and sums them on
request. The query service then answers Jaeger's ``/api/metrics/*`` (the Monitor tab) and
long-window ``/api/dependencies`` from these sums instead of scanning spans.

A new backend (ClickHouse) implements ``MetricsReader`` with two ``sum() ... GROUP BY``
queries over tables keyed like ``RedKey`` / ``EdgeKey`` and writes ``Rollup.rows(batch)``
next to each span insert.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(slots=True)
class RedQuery:
    """Which RED sums to read. ``services`` empty = all; ``kinds`` (SpanKind numbers)
    empty = all; minutes ``[start_minute, end_minute]`` inclusive."""

    tenant: str
    services: list[str]
    kinds: list[int]
    start_minute: int
    end_minute: int
    group_by_operation: bool = False
    operations: list[str] = field(default_factory=list)
    buckets: bool = True  # False: sum over duration buckets too (calls and errors need no histogram); bucket -1


class RedCell(NamedTuple):
    """Summed rows of one (service, operation, minute, bucket); ``operation`` is ``""``
    unless grouped by operation."""

    service: str
    operation: str
    minute: int
    bucket: int
    calls: int
    errors: int


# (service, operation) -> minute -> [calls, errors, {bucket: calls}] (empty without buckets)
RedMinutes = dict[tuple[str, str], dict[int, list]]


def minutes_of(cells: "list[RedCell]", buckets: bool) -> RedMinutes:
    """Cells arranged per series and minute, the shape the metrics answers walk."""
    out: RedMinutes = {}
    for service, operation, minute, bucket, calls, errors in cells:
        minutes = out.get((service, operation))
        if minutes is None:
            minutes = out[(service, operation)] = {}
        row = minutes.get(minute)
        if row is None:
            row = minutes[minute] = [0, 0, {}]
        row[0] += calls
        row[1] += errors
        if buckets:
            hist = row[2]
            hist[bucket] = hist.get(bucket, 0) + calls
    return out


class EdgeSum(NamedTuple):
    parent: str
    child: str
    kind: str
    calls: int
    errors: int


class MetricsReader(abc.ABC):
    """Reads the rollups; safe from any thread, concurrently with writes."""

    @abc.abstractmethod
    def read_red(self, query: RedQuery) -> list[RedCell]:
        """RED rows summed over kinds (and operations unless grouped), any order."""

    def read_red_minutes(self, query: RedQuery) -> RedMinutes:
        """The same sums per series and minute; a backend with a coarser tier (one row
        per service and minute) overrides it to skip the row per bucket."""
        return minutes_of(self.read_red(query), query.buckets)

    @abc.abstractmethod
    def read_edges(self, tenant: str, start_minute: int, end_minute: int) -> list[EdgeSum]:
        """Edges with their child's start minute in ``[start_minute, end_minute]``, summed
        per (parent, child, kind), any order."""


class MetricsCapable(abc.ABC):
    """Mixed into a ``StorageFactory`` whose writer also writes the rollups."""

    @abc.abstractmethod
    def metrics_reader(self) -> MetricsReader: ...
