"""Jaeger's SPM answers (``/api/metrics/latencies|calls|errors``) from summed RED rows.

What Jaeger computes with Prometheus (``histogram_quantile`` over ``rate(...[ratePer])``,
points every ``step`` from ``end - lookback`` to ``end``) is computed here from the minute
rollup: a point at ``t`` sums the whole minutes inside ``(t - ratePer, t]`` (at least
one minute), so ``ratePer`` and ``step`` below a minute resolve to a minute. Values:

* calls: calls per second over the window;
* errors: errors / calls (a fraction), as Jaeger's error rate; 0 when a service had calls
  but no errors (Jaeger answers zeros then too); no point where there were no calls;
* latencies: the ``quantile`` of the summed duration histogram, in milliseconds; no
  point where there were no calls.

The JSON is a bare ``MetricFamily`` (spec A.6) as gogo-jsonpb writes it.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spyglass.analytics.histogram import quantile_dense_ms
from spyglass.analytics.rollup import DEFAULT_TENANT, MINUTE_NS
from spyglass.codecs.go_json import go_float
from spyglass.model import SpanKind
from spyglass.storage.api.metrics import MetricsReader, RedCell, RedMinutes, RedQuery, minutes_of

MS = 1_000_000
MIN_STEP_MS = 60_000
MAX_POINTS = 11_000  # Prometheus's limit per series, which Jaeger users know
LATENCIES, CALLS, ERRORS = "latencies", "calls", "errors"
KIND_BY_PARAM = {
    "unspecified": SpanKind.UNSPECIFIED, "internal": SpanKind.INTERNAL, "server": SpanKind.SERVER,
    "client": SpanKind.CLIENT, "producer": SpanKind.PRODUCER, "consumer": SpanKind.CONSUMER,
}


class TooManyPoints(ValueError):
    """``lookback / step`` is above ``MAX_POINTS``."""


@dataclass(slots=True)
class MetricsRequest:
    """Jaeger's ``MetricsQueryBaseRequest`` (+ quantile), times in ns."""

    services: list[str]
    end_ns: int
    lookback_ns: int = 3600 * 1000 * MS
    step_ns: int = 5000 * MS
    rate_per_ns: int = 600_000 * MS
    group_by_operation: bool = False
    span_kinds: list[int] = field(default_factory=lambda: [int(SpanKind.SERVER)])
    quantile: float = 0.95
    tenant: str = DEFAULT_TENANT

    def points(self) -> list[int]:
        """Point times: ``end - lookback``, then every ``step`` up to ``end`` (Prometheus)."""
        step = max(self.step_ns, 1)
        start = self.end_ns - max(self.lookback_ns, 0)
        if (self.end_ns - start) // step + 1 > MAX_POINTS:
            raise TooManyPoints("exceeded maximum resolution of 11,000 points per timeseries. "
                                "Try decreasing the query resolution (?step=XX)")
        return list(range(start, self.end_ns + 1, step))


def _window(t: int, rate_per_ns: int) -> tuple[int, int]:
    """The whole minutes inside ``(t - rate_per, t]``, at least the one ending at or before t."""
    hi = t // MINUTE_NS - 1
    lo = -((-(t - max(rate_per_ns, MINUTE_NS))) // MINUTE_NS)  # ceil
    return min(lo, hi), hi


def timestamp(ns: int) -> str:
    """gogo-jsonpb's ``Timestamp``: RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        frac = f"{nanos:09d}"
        while frac.endswith("000"):
            frac = frac[:-3]
        text += "." + frac
    return text + "Z"


def family(metric: str, request: MetricsRequest, cells: Sequence[RedCell]) -> dict[str, Any]:
    """The ``MetricFamily`` for ``metric`` (latencies, calls or errors) from summed cells."""
    return family_of_minutes(metric, request, minutes_of(list(cells), metric == LATENCIES))


def family_of_minutes(metric: str, request: MetricsRequest, per_series: RedMinutes) -> dict[str, Any]:
    """The ``MetricFamily`` from sums per series and minute (``MetricsReader.read_red_minutes``)."""
    points = request.points()
    stamps = {t: timestamp(t) for t in points}
    metrics = []
    for (service, operation), minutes in sorted(per_series.items()):
        values = _series(metric, request, points, minutes)
        if not values:
            continue
        labels = [{"name": "service_name", "value": service}]
        if request.group_by_operation:
            labels.append({"name": "operation", "value": operation})
        metrics.append({"labels": labels, "metricPoints": [
            {"gaugeValue": {"doubleValue": go_float(v)}, "timestamp": stamps[t]} for t, v in values]})
    prefix = "service_operation" if request.group_by_operation else "service"
    grouped = "service & operation" if request.group_by_operation else "service"
    if metric == LATENCIES:
        name, help_text = f"{prefix}_latencies", f"{request.quantile:.2f}th quantile latency, grouped by {grouped}"
    elif metric == CALLS:
        name, help_text = f"{prefix}_call_rate", f"calls/sec, grouped by {grouped}"
    else:
        name, help_text = (f"{prefix}_error_rate",
                           f"error rate, computed as a fraction of errors/sec over calls/sec, grouped by {grouped}")
    return {"name": name, "type": "GAUGE", "help": help_text, "metrics": metrics}


def _series(metric: str, request: MetricsRequest, points: list[int],
            minutes: dict[int, list[Any]]) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    # the window's histogram, dense: counts[bucket] over the series' bucket range
    want_hist = metric == LATENCIES
    used = set().union(*(row[2] for row in minutes.values())) if want_hist else set()
    low, high = (min(used), max(used)) if used else (0, -1)
    counts = [0] * (high + 1)
    cur_lo, cur_hi = 0, -1  # minutes currently summed into (calls, errors, counts)
    calls = errors = in_hist = 0
    first = True
    rate_per = max(request.rate_per_ns, MINUTE_NS)
    for t in points:
        hi = t // MINUTE_NS - 1  # _window(t, rate_per_ns), inlined: it runs for every point
        lo = -((rate_per - t) // MINUTE_NS)
        if lo > hi:
            lo = hi
        if first or lo > cur_hi or lo < cur_lo:
            calls = errors = in_hist = 0
            counts = [0] * (high + 1)
            cur_lo, cur_hi = lo, lo - 1
            first = False
        while cur_lo < lo:  # minutes leaving the window
            row = minutes.get(cur_lo)
            if row is not None and cur_lo <= cur_hi:
                calls -= row[0]
                errors -= row[1]
                if want_hist:
                    for b, n in row[2].items():
                        counts[b] -= n
                        in_hist -= n
            cur_lo += 1
        while cur_hi < hi:  # minutes entering it
            cur_hi += 1
            row = minutes.get(cur_hi)
            if row is not None:
                calls += row[0]
                errors += row[1]
                if want_hist:
                    for b, n in row[2].items():
                        counts[b] += n
                        in_hist += n
        span_s = (hi - lo + 1) * 60
        if metric == CALLS:
            out.append((t, calls / span_s))
        elif calls > 0:
            if metric == ERRORS:
                out.append((t, errors / calls))
            else:
                q = quantile_dense_ms(counts, in_hist, request.quantile, low, high)
                if q is not None:
                    out.append((t, q))
    if metric == CALLS and not any(v for _, v in out):
        return []  # no call in the whole range: no series, as Prometheus has none
    return out


def query(metric: str, reader: MetricsReader, request: MetricsRequest) -> dict[str, Any]:
    """Read the cells the request needs and build its ``MetricFamily``."""
    points = request.points()
    lo = _window(points[0], request.rate_per_ns)[0] if points else 0
    hi = _window(points[-1], request.rate_per_ns)[1] if points else -1
    minutes = reader.read_red_minutes(RedQuery(request.tenant, list(request.services), list(request.span_kinds),
                                               lo, hi, request.group_by_operation, buckets=metric == LATENCIES))
    return family_of_minutes(metric, request, minutes)
