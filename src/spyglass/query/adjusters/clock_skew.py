"""Correct clock skew between hosts (Jaeger's ClockSkew / CorrectClockSkew adjuster).

A child span recorded on another host can appear to start before its parent or end after
it because the two clocks differ. Walking each span tree from the root, a child on a
different host than its parent is compared with the (already adjusted) parent:

* a child longer than its parent only gets moved so it does not start before the parent;
* a child inside its parent is left alone;
* otherwise the child is centred in the parent, assuming the network latency splits
  evenly between request and response.

The delta found for a host is inherited by its descendants on the same host. It is applied
(start, end and event times move; warning ``This span's timestamps were adjusted by <d>``)
only up to ``max_delta_ns``; beyond it, or when the maximum is 0 (Jaeger's default), the
span keeps its times and gets a warning naming the delta it would have had.

The host of a span is its resource attribute ``ip`` (a string, a packed IPv4 int or 4/16
raw bytes, as Jaeger v1 reads the process tag), else ``host.id``, ``host.ip`` (a string or
the first element of a list) or ``host.name`` (Jaeger v2's keys). Spans sharing an ID
cannot be placed in the tree and are skipped with a warning, as are spans whose parent is
missing (those become roots).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from spyglass.model import Span, Trace, find_attr, format_span_id
from spyglass.query.adjusters.ip_tags import packed_ipv4
from spyglass.gocompat.godur import format_duration

WARNING_DUPLICATE_SPAN_ID = "duplicate span IDs; skipping clock skew adjustment"


def warning_missing_parent(parent_span_id: int) -> str:
    return f"parent span ID={format_span_id(parent_span_id)} is not in the trace; skipping clock skew adjustment"


def warning_disabled(delta_ns: int) -> str:
    return f"clock skew adjustment disabled; not applying calculated delta of {format_duration(delta_ns)}"


def warning_exceeded(max_ns: int, delta_ns: int) -> str:
    return (
        f"max clock skew adjustment delta of {format_duration(max_ns)} exceeded; "
        f"not applying calculated delta of {format_duration(delta_ns)}"
    )


def warning_adjusted(delta_ns: int) -> str:
    return f"This span's timestamps were adjusted by {format_duration(delta_ns)}"


def host_key(span: Span) -> str:
    """The host identity two spans must share for their clocks to be the same."""
    attrs = span.resource.attributes
    ip = find_attr(attrs, "ip")
    if ip is not None:
        if isinstance(ip, str):
            return ip
        if ip.__class__ is int:
            return packed_ipv4(ip)
        if isinstance(ip, bytes) and len(ip) in (4, 16):
            addr = ipaddress.ip_address(ip)
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                return str(addr.ipv4_mapped)
            return str(addr)
    host_id = find_attr(attrs, "host.id")
    if host_id is not None:
        return str(host_id)
    host_ip = find_attr(attrs, "host.ip")
    if isinstance(host_ip, str):
        return host_ip
    if isinstance(host_ip, list) and host_ip:
        return str(host_ip[0])
    host_name = find_attr(attrs, "host.name")
    if host_name is not None:
        return str(host_name)
    return ""


@dataclass(slots=True)
class _Node:
    span: Span
    host: str
    children: list[_Node] = field(default_factory=list)


def _skew(child: Span, parent: Span) -> int:
    child_start, parent_start = child.start_time_ns, parent.start_time_ns
    child_dur, parent_dur = child.duration_ns, parent.duration_ns
    if child_dur > parent_dur:
        # Async child, or a parent that timed out: only keep the child from starting early.
        return parent_start - child_start if child_start < parent_start else 0
    if child_start >= parent_start and child_start + child_dur <= parent_start + parent_dur:
        return 0
    latency = _go_div(parent_dur - child_dur, 2)
    return parent_start + latency - child_start


def _go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's ``/`` on durations."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class ClockSkewAdjuster:
    """Adjuster: see the module docstring. ``max_delta_ns`` 0 reports deltas only."""

    def __init__(self, max_delta_ns: int = 0) -> None:
        self.max_delta_ns = max_delta_ns

    def __call__(self, trace: Trace) -> None:
        nodes: dict[int, _Node] = {}
        for span in trace.spans:
            if span.span_id in nodes:
                span.warnings.append(WARNING_DUPLICATE_SPAN_ID)
            else:
                nodes[span.span_id] = _Node(span, host_key(span))
        roots = []
        for node in nodes.values():
            parent_id = node.span.parent_span_id
            if parent_id == 0:
                roots.append(node)
                continue
            parent = nodes.get(parent_id)
            if parent is None:
                node.span.warnings.append(warning_missing_parent(parent_id))
                roots.append(node)
            else:
                parent.children.append(node)
        for root in roots:
            self._walk(root)

    def _walk(self, root: _Node) -> None:
        # Iterative depth-first walk: traces can be deeper than Python's recursion limit.
        stack: list[tuple[_Node, _Node | None, str, int]] = [(root, None, root.host, 0)]
        while stack:
            node, parent, skew_host, delta = stack.pop()
            if parent is not None and (node.host != skew_host or node.host == ""):
                skew_host, delta = node.host, _skew(node.span, parent.span)
            self._apply(node.span, delta)
            for child in reversed(node.children):
                stack.append((child, node, skew_host, delta))

    def _apply(self, span: Span, delta: int) -> None:
        if delta == 0:
            return
        if abs(delta) > self.max_delta_ns:
            if self.max_delta_ns == 0:
                span.warnings.append(warning_disabled(delta))
            else:
                span.warnings.append(warning_exceeded(self.max_delta_ns, delta))
            return
        span.start_time_ns += delta
        for event in span.events:
            event.time_ns += delta
        span.warnings.append(warning_adjusted(delta))
