"""The span times Spyglass stores and searches: Unix nanoseconds in ``[0, 2**63 - 1]``.

Every backend keeps times as signed 64-bit integers (SQLite's INTEGER, ClickHouse's
Int64/DateTime64, Go's ``time.Time`` in Jaeger), and nothing before the Unix epoch is a
real span, so the valid range is 1970-01-01T00:00:00Z up to 2262-04-11T23:47:16.854775807Z
(the largest int64 nanosecond). Receivers refuse spans outside it
(``spyglass.collector.validation``); the query layer clamps search windows into it, so a
query for ``0001-01-01``..``9999-12-31`` means "everything" instead of overflowing a
backend's integer column.
"""

from __future__ import annotations

MIN_TIME_NS = 0
"""1970-01-01T00:00:00Z."""
MAX_TIME_NS = (1 << 63) - 1
"""2262-04-11T23:47:16.854775807Z, the largest signed 64-bit nanosecond count."""


def clamp_time_ns(value: int) -> int:
    """``value`` moved into ``[MIN_TIME_NS, MAX_TIME_NS]``."""
    if value < MIN_TIME_NS:
        return MIN_TIME_NS
    if value > MAX_TIME_NS:
        return MAX_TIME_NS
    return value


def storable_time_ns(value: int) -> bool:
    """Whether ``value`` is a span time every backend can store."""
    return MIN_TIME_NS <= value <= MAX_TIME_NS
