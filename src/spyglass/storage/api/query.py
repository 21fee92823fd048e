"""Search parameters and small result records shared by readers and the query service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(slots=True)
class TraceQuery:
    """What to search for (Jaeger's ``TraceQueryParameters``; semantics of spec section G).

    * ``service_name``: the span's service; ``""`` searches every service (allowed when
      ``attributes`` are given: a cross-service search).
    * ``operation_name``: equality on some span's name; ``""`` is any.
    * ``attributes``: every pair must match the string form of a span attribute, a resource
      attribute, an event attribute, a scope or link attribute of the **same span**. The keys
      ``error``, ``span.kind`` and ``span.status`` also match the span's status and kind.
    * ``start_time_min_ns`` / ``start_time_max_ns``: the matching span starts inside, both
      ends inclusive; 0 means unbounded.
    * ``duration_min_ns`` / ``duration_max_ns``: the matching span's duration, inclusive; 0
      means unbounded.
    * ``num_traces``: the most traces to return; when more match, the newest (by their
      latest matching span start) are kept.
    """

    service_name: str = ""
    operation_name: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    start_time_min_ns: int = 0
    start_time_max_ns: int = 0
    duration_min_ns: int = 0
    duration_max_ns: int = 0
    num_traces: int = 100


class Operation(NamedTuple):
    """An operation name with its span kind (``""`` when unspecified), as Jaeger reports it."""

    name: str
    span_kind: str = ""
