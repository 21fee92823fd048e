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

Each statement also reads the index granules that straddle its cuts, so a search that has to
go through the whole window costs more in three statements than in one (a rare attribute at
10M spans on 18.16: 201 against 121 ms). When the first slice found so few traces that the
window holds fewer than ``limit`` at that density, the rest of the window is searched in one
statement (the rare attribute: 137 ms). Where the cuts fall never changes the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
FIRST_FRACTION = 64  # the first slice is this fraction of the window: the newest 1/64
GROWTH = 8  # each next cut is this many times further back: 1/64, 1/8, then the whole rest

Row = tuple[int, int, int]  # trace_hi, trace_lo, latest matching start


class Slice(NamedTuple):
    """``[start, end]`` (inclusive); ``share``: the part of the window searched once this
    slice and every newer one are (1 for the last)."""

    start: int
    end: int
    share: float = 1.0


def slices(lo: int, hi: int, now_ns: int, first_fraction: int = FIRST_FRACTION,
           growth: int = GROWTH) -> list[Slice]:
    """Disjoint slices that cover ``[lo, hi]``, newest first.

    Without a lower bound there is no window to take a fraction of: one range. Without an
    upper bound the window is taken to end ``now_ns`` (the newest slice still reaches
    ``hi``, so spans stamped in the future are searched first, not lost).
    """
    top = hi if hi != INT64_MAX else now_ns
    if lo == INT64_MIN or top <= lo or hi < lo:
        return [Slice(lo, hi)]
    span = top - lo
    out: list[Slice] = []
    end = hi
    fraction = first_fraction
    while fraction > 1:
        cut = top - span // fraction
        if lo < cut <= end:
            out.append(Slice(cut, end, 1 / fraction))
            end = cut - 1
        fraction //= growth
    out.append(Slice(lo, end))
    return out


def newest_first(search: Callable[[int, int], Iterable[Row]], limit: int,
                 ranges: list[Slice]) -> list[tuple[int, int]]:
    """The first ``limit`` traces (``(trace_hi, trace_lo)``) of the whole window, from
    ``search(start, end)`` (that range's best ``limit`` rows, ranked) run over ``ranges``
    (``slices``) only until ``limit`` traces are found; once the traces found so far, scaled
    to the whole window, fall short of ``limit``, every older slice in one statement."""
    found: dict[tuple[int, int], None] = {}
    i, searched = 0, 0.0
    while i < len(ranges):
        start, end, share = ranges[i]
        i += 1
        if searched and len(found) < limit * searched:  # sparse: the rest of the window at once
            start, i = ranges[-1].start, len(ranges)
        for trace_hi, trace_lo, _latest in search(start, end):
            found.setdefault((trace_hi, trace_lo))
        if len(found) >= limit:
            break
        searched = share
    return list(found)[:limit]
