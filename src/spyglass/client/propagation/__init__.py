"""Propagation formats, picked by name.

=============  ===============================================================
name           headers
=============  ===============================================================
``jaeger``     ``uber-trace-id``, ``uberctx-*``, ``jaeger-baggage``, ``jaeger-debug-id``
``b3``         B3 multi-header (``X-B3-*``); ``b3multi`` is the same
``b3single``   B3 single header (``b3``)
``tracecontext`` W3C ``traceparent`` / ``tracestate``
``baggage``    W3C ``baggage``
``w3c``        ``tracecontext`` + ``baggage``
=============  ===============================================================
"""

from __future__ import annotations

from collections.abc import Iterable

from spyglass.client.constants import BAGGAGE_HEADER_PREFIX, DEBUG_ID_HEADER_KEY, TRACE_ID_HEADER
from spyglass.client.propagation.b3 import B3Propagator
from spyglass.client.propagation.base import Headers, Propagator, dict_setter, header_view
from spyglass.client.propagation.binary import BinaryPropagator
from spyglass.client.propagation.composite import CompositePropagator
from spyglass.client.propagation.jaeger import JaegerPropagator
from spyglass.client.propagation.w3c import BaggagePropagator, TraceContextPropagator

NAMES = ("jaeger", "b3", "b3multi", "b3single", "tracecontext", "baggage", "w3c")


def parse_names(spec: str | Iterable[str] | None) -> list[str]:
    """``"jaeger,b3"`` or ``["jaeger", "b3"]`` as a clean list; unknown names raise ValueError."""
    if spec is None:
        return ["jaeger"]
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip().lower() for n in items if n and n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown propagation format(s) {unknown}; known: {', '.join(NAMES)}")
    return names or ["jaeger"]


def build_propagator(
    names: str | Iterable[str] | None,
    url_encoding: bool = True,
    trace_id_header: str = TRACE_ID_HEADER,
    baggage_header_prefix: str = BAGGAGE_HEADER_PREFIX,
    debug_id_header: str = DEBUG_ID_HEADER_KEY,
) -> Propagator:
    """One propagator for the named formats (a composite when there are several)."""
    out: list[Propagator] = []
    for name in parse_names(names):
        if name == "jaeger":
            out.append(JaegerPropagator(url_encoding, trace_id_header, baggage_header_prefix, debug_id_header))
        elif name in ("b3", "b3multi"):
            out.append(B3Propagator(single_header=False))
        elif name == "b3single":
            out.append(B3Propagator(single_header=True))
        elif name == "tracecontext":
            out.append(TraceContextPropagator())
        elif name == "baggage":
            out.append(BaggagePropagator())
        elif name == "w3c":
            out.extend([TraceContextPropagator(), BaggagePropagator()])
    return out[0] if len(out) == 1 else CompositePropagator(out)


__all__ = [
    "B3Propagator",
    "BaggagePropagator",
    "BinaryPropagator",
    "CompositePropagator",
    "Headers",
    "JaegerPropagator",
    "NAMES",
    "Propagator",
    "TraceContextPropagator",
    "build_propagator",
    "dict_setter",
    "header_view",
    "parse_names",
]
