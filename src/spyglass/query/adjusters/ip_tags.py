"""Show packed IPv4 tags as dotted text (Jaeger's IPTagAdjuster).

Old Jaeger clients send ``ip`` and ``peer.ipv4`` as an int64 holding the four address
bytes; people expect ``10.0.0.1``.
"""

from __future__ import annotations

from spyglass.model import KeyValue, Trace

IP_KEYS = frozenset({"ip", "peer.ipv4"})


def packed_ipv4(value: int) -> str:
    """The dotted form of an IPv4 address packed big-endian into the low 32 bits."""
    v = value & 0xFFFFFFFF
    return f"{v >> 24}.{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}.{v & 0xFF}"


def _fix(attributes: list[KeyValue]) -> bool:
    changed = False
    for i, (key, value) in enumerate(attributes):
        if key in IP_KEYS and value.__class__ in (int, float):
            attributes[i] = KeyValue(key, packed_ipv4(int(value)))
            changed = True
    return changed


def normalize_ip_tags(trace: Trace) -> None:
    """Adjuster: numeric ``ip``/``peer.ipv4`` span and process tags become dotted strings."""
    for span in trace.spans:
        _fix(span.attributes)
        if _fix(span.resource.attributes):
            span.resource.attributes.sort(key=lambda kv: kv.key)
