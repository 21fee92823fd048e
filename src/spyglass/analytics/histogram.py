"""Fixed log-linear duration buckets: one histogram layout every backend shares, so bucket
counts add across minutes, files and servers.

Durations are whole microseconds ``us``. Buckets 0-3 hold 0, 1, 2 and 3 µs exactly; above,
each doubling ``[2**k, 2**(k+1))`` is cut into four equal quarters (bucket ``4*(k-1) +
quarter``), so a bucket is at most 25% wide and a quantile read from it (interpolated
inside the bucket) is within about 12% of the exact value: enough for p50..p99 on a
dashboard. It is computed from the integer's bit length (no logarithm: this runs for every
span at ingest). ``MAX_BUCKET`` (2**45 µs, about a year) takes everything longer.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_BUCKET = 4 * 44 + 3


def bucket_of(duration_ns: int) -> int:
    """The bucket of one duration (negative durations count as 0)."""
    us = duration_ns // 1000
    if us < 4:
        return us if us > 0 else 0
    bl = us.bit_length()
    b = 4 * (bl - 2) + ((us >> (bl - 3)) & 3)
    return b if b < MAX_BUCKET else MAX_BUCKET


def lower_us(bucket: int) -> float:
    if bucket < 4:
        return float(max(bucket, 0))
    return float((4 + bucket % 4) << (bucket // 4 - 1))


def upper_us(bucket: int) -> float:
    if bucket < 4:
        return float(max(bucket, 0) + 1)
    return float((5 + bucket % 4) << (bucket // 4 - 1))


def quantile_ms(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) in milliseconds of a bucket histogram, None when empty.

    Takes the bucket holding the rank ``q * total`` and interpolates geometrically inside
    it linearly."""
    total = sum(counts.values())
    if total <= 0:
        return None
    q = min(max(q, 0.0), 1.0)
    rank = q * total
    seen = 0
    for bucket in sorted(counts):
        n = counts[bucket]
        if n <= 0:
            continue
        if seen + n >= rank:
            lo, hi = lower_us(bucket), upper_us(bucket)
            return (lo + (hi - lo) * (rank - seen) / n) / 1000.0
        seen += n
    return upper_us(max(counts)) / 1000.0


def quantile_dense_ms(counts: list[int], total: int, q: float, low: int, high: int) -> float | None:
    """``quantile_ms`` of a dense histogram (``counts[bucket]``, zero outside ``low..high``,
    ``total`` their sum), the same value to the last bit. For a sliding window that adds and
    removes minutes: no sort, and a high quantile walks down from the top, so p95/p99 look
    at a few buckets instead of all of them."""
    if total <= 0:
        return None
    q = min(max(q, 0.0), 1.0)
    rank = q * total
    if q <= 0.5:
        seen = 0
        for bucket in range(low, high + 1):
            n = counts[bucket]
            if n > 0:
                if seen + n >= rank:
                    lo, hi = lower_us(bucket), upper_us(bucket)
                    return (lo + (hi - lo) * (rank - seen) / n) / 1000.0
                seen += n
    else:
        above = 0
        for bucket in range(high, low - 1, -1):
            n = counts[bucket]
            if n > 0:
                seen = total - above - n  # calls below this bucket
                if seen < rank or seen == 0:  # the lowest bucket whose cumulative count reaches rank
                    lo, hi = lower_us(bucket), upper_us(bucket)
                    return (lo + (hi - lo) * (rank - seen) / n) / 1000.0
                above += n
    return upper_us(high) / 1000.0
