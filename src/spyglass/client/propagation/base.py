"""The propagator interface and the carrier adapters.

A propagator writes a ``SpanContext`` into a carrier and reads one back. Carriers come in
many shapes (dicts, ``requests``' case-insensitive headers, ASGI's list of byte pairs,
gRPC metadata tuples), so reading goes through ``header_view``, which turns any of them
into one plain dict with lower-case keys, built once per extraction and shared by every
propagator of a composite; writing goes through a setter function.

``extract`` never raises for bad input: a malformed header is ignored (logged at debug
level) and the caller starts a new trace, because tracing must never break a request.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from spyglass.client.context import SpanContext

log = logging.getLogger("spyglass.client.propagation")

Headers = Mapping[str, str]
"""A carrier as ``header_view`` returns it: lower-case keys, ``str`` values."""

Setter = Callable[[Any, str, str], None]


def dict_setter(carrier: Any, key: str, value: str) -> None:
    carrier[key] = value


def header_view(carrier: Any) -> dict[str, str]:
    """Any header-like carrier as {lower-case name: value}. Repeated names are joined with
    ``,`` (as HTTP allows), bytes are read as latin-1, list values joined."""
    if carrier is None:
        return {}
    items: Iterable[Any]
    if isinstance(carrier, Mapping) or hasattr(carrier, "items"):
        items = carrier.items()
    else:
        items = carrier
    out: dict[str, str] = {}
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        elif not isinstance(key, str):
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        elif isinstance(value, (list, tuple)):
            value = ",".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in value)
        elif not isinstance(value, str):
            value = str(value)
        key = key.lower()
        if key in out:
            out[key] = out[key] + "," + value
        else:
            out[key] = value
    return out


class Propagator(abc.ABC):
    """One text format (a set of headers)."""

    fields: tuple[str, ...] = ()
    """Header names this propagator writes (fixed ones; baggage headers are extra)."""

    @abc.abstractmethod
    def inject(self, context: SpanContext, carrier: Any, setter: Setter = dict_setter) -> None:
        """Write ``context`` into ``carrier``."""

    @abc.abstractmethod
    def extract(self, headers: Headers) -> SpanContext | None:
        """The context in ``headers`` (from ``header_view``), a partial context (only
        baggage or a debug ID), or None. Never raises for bad values."""
