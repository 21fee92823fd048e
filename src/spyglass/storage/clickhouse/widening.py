"""Search the newest part of a window first, and widen only while too few traces were found.

Why: on servers without skip indexes (18.16) a search reads every ``span_index`` row of the
service in the window and groups it by trace, so its cost grows with the spans per service.
A search usually wants the newest ``limit`` traces, and those usually lie in the newest few
minutes of the window.

Why the answer stays exact: traces rank by their latest matching span start (newest first,
then trace ID, highest first). Cut the window into disjoint slices, newest first. A trace
with a matching span in a slice ranks above every trace whose matching spans all lie in
older slices, and its latest matching span is in the newest slice it matches in. So:

* a slice searched with ``LIMIT limit`` that returns fewer than ``limit`` traces returned
  every trace matching there, already in the right order;
* the traces an older slice adds, minus those a newer slice found already (their rank is
  fixed by the newer one), follow every earlier find in the same order a whole-window search
  gives them; an older slice that hit its limit returned at least ``limit - found`` new ones;
* once ``limit`` traces are found, nothing in an older slice can rank above them.

A span exactly on a cut belongs to the newer slice (slices are inclusive, disjoint), so
traces tied on their latest start are never split between two slices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
FIRST_FRACTION = 64  # the first slice is this fraction of the window: the newest 1/64
GROWTH = 8  # each next cut is this many times further back: 1/64, 1/8, then the whole rest

Row = tuple[int, int, int]  # trace_hi, trace_lo, latest matching start


def slices(lo: int, hi: int, now_ns: int, first_fraction: int = FIRST_FRACTION,
           growth: int = GROWTH) -> list[tuple[int, int]]:
    """Disjoint inclusive ``(start, end)`` ranges that cover ``[lo, hi]``, newest first.

    Without a lower bound there is no window to take a fraction of: one range. Without an
    upper bound the window is taken to end ``now_ns`` (the newest slice still reaches
    ``hi``, so spans stamped in the future are searched first, not lost).
    """
    top = hi if hi != INT64_MAX else now_ns
    if lo == INT64_MIN or top <= lo or hi < lo:
        return [(lo, hi)]
    span = top - lo
    out: list[tuple[int, int]] = []
    end = hi
    fraction = first_fraction
    while fraction > 1:
        cut = top - span // fraction
        if lo < cut <= end:
            out.append((cut, end))
            end = cut - 1
        fraction //= growth
    out.append((lo, end))
    return out


def newest_first(search: Callable[[int, int], Iterable[Row]], limit: int,
                 ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The first ``limit`` traces (``(trace_hi, trace_lo)``) of the whole window, from
    ``search(start, end)`` (that range's best ``limit`` rows, ranked) run over ``ranges``
    (``slices``) only until ``limit`` traces are found."""
    found: dict[tuple[int, int], None] = {}
    for start, end in ranges:
        for trace_hi, trace_lo, _latest in search(start, end):
            found.setdefault((trace_hi, trace_lo))
        if len(found) >= limit:
            break
    return list(found)[:limit]
