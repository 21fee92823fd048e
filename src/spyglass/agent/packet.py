"""Spans already encoded for ``PostSpans``: what the agent queues and forwards.

A ``Packet`` is the spans of one UDP packet (or of one resource in a decoded batch): the
``Batch.spans`` entries of a ``jaeger.api_v2.Batch`` as serialized bytes, and the
``Process`` they share. ``post_spans_requests`` turns queued packets into requests: packets
with the same process (one client, the usual case) are joined into one request with the
process once on the batch; each distinct process gets a request of its own, because a
``PostSpansRequest`` carries one batch with one process. Serialized repeated-field entries
concatenate, so joining is byte joins with no per-span work at send time.
"""

from __future__ import annotations

from collections.abc import Sequence

from spyglass.codecs.protowire import len_field


class Packet:
    __slots__ = ("process", "spans", "count")

    def __init__(self, process: bytes, spans: bytes, count: int) -> None:
        self.process = process  # a jaeger.api_v2.Process message body
        self.spans = spans  # serialized Batch.spans entries (field 1, each a Span)
        self.count = count

    def __len__(self) -> int:
        return self.count


def post_spans_requests(packets: Sequence[Packet]) -> list[tuple[bytes, int]]:
    """``PostSpansRequest`` bytes and span counts: one request per distinct process."""
    groups: dict[bytes, list[Packet]] = {}
    for p in packets:
        group = groups.get(p.process)
        if group is None:
            groups[p.process] = [p]
        else:
            group.append(p)
    out = []
    for process, group in groups.items():
        body = b"".join([p.spans for p in group]) + len_field(b"\x12", process)
        out.append((len_field(b"\x0a", body), sum(p.count for p in group)))
    return out
