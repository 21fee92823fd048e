"""Fixed log-scale duration buckets: one histogram layout every backend shares, so bucket
counts add across minutes, files and servers.

Bucket ``b`` holds durations ``d`` (µs) with ``2**((b-1)/4) <= d < 2**(b/4)`` (bucket 0:
below 1 µs). Four buckets per doubling bound a quantile's relative error by about 9%
(the estimate is the bucket's geometric middle), which is what p50..p99 on a dashboard need.
The last bucket (``MAX_BUCKET``, ~2**39 µs, six days) takes everything longer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

PER_DOUBLING = 4
MAX_BUCKET = 160


def bucket_of(duration_ns: int) -> int:
    """The bucket of one duration (negative durations count as 0)."""
    us = duration_ns / 1000.0
    if us < 1.0:
        return 0
    b = int(math.log2(us) * PER_DOUBLING) + 1
    return b if b < MAX_BUCKET else MAX_BUCKET


def lower_us(bucket: int) -> float:
    return 0.0 if bucket <= 0 else 2.0 ** ((bucket - 1) / PER_DOUBLING)


def upper_us(bucket: int) -> float:
    return 2.0 ** (bucket / PER_DOUBLING)


def quantile_ms(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) in milliseconds of a bucket histogram, None when empty.

    Takes the bucket holding the rank ``q * total`` and interpolates geometrically inside
    it (durations are spread roughly log-uniformly within one bucket)."""
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
            frac = (rank - seen) / n
            if lo <= 0.0:
                return hi * frac / 1000.0
            return lo * (hi / lo) ** frac / 1000.0
        seen += n
    return upper_us(max(counts)) / 1000.0
