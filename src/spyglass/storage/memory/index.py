"""A time-ordered list of spans, scanned newest first, for the memory backend's searches.

Spans arrive roughly in time order, so appending and sorting lazily before a search is cheap
(Timsort is linear on nearly sorted input). Entries of evicted traces are skipped while
scanning and dropped when the index is compacted.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from operator import itemgetter

from spyglass.model import Span

Entry = tuple[int, int, Span]  # (start_time_ns, trace_id, span)
_START = itemgetter(0)


class SpanTimeIndex:
    __slots__ = ("entries", "_sorted")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._sorted = True

    def add(self, span: Span) -> None:
        entries = self.entries
        start = span.start_time_ns
        if entries and entries[-1][0] > start:
            self._sorted = False
        entries.append((start, span.trace_id, span))

    def newest_first(self, start_min: int = 0, start_max: int = 0) -> Iterator[Entry]:
        """Entries with ``start_min <= start <= start_max`` (0 = unbounded), newest first."""
        entries = self.entries
        if not self._sorted:
            entries.sort(key=_START)
            self._sorted = True
        hi = bisect.bisect_right(entries, start_max, key=_START) if start_max else len(entries)
        lo = bisect.bisect_left(entries, start_min, key=_START) if start_min else 0
        for i in range(hi - 1, lo - 1, -1):
            yield entries[i]

    def window(self, start_min: int = 0, start_max: int = 0) -> list[Entry]:
        """A copy of the entries with ``start_min <= start <= start_max`` (0 = unbounded),
        oldest first: a snapshot a reader can walk without holding the store's lock."""
        entries = self.entries
        if not self._sorted:
            entries.sort(key=_START)
            self._sorted = True
        hi = bisect.bisect_right(entries, start_max, key=_START) if start_max else len(entries)
        lo = bisect.bisect_left(entries, start_min, key=_START) if start_min else 0
        return entries[lo:hi]

    def compact(self, is_live: Callable[[Span], bool]) -> None:
        self.entries = [e for e in self.entries if is_live(e[2])]

    def __len__(self) -> int:
        return len(self.entries)
