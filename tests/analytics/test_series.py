"""Jaeger's SPM answers from the rollup: hand-computed rates, error fractions, quantiles,
point times and the MetricFamily JSON shape (spec A.6), over HTTP and in Python."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import aiohttp
import pytest

from spyglass.analytics.histogram import bucket_of, lower_us, quantile_ms, upper_us
from spyglass.analytics.series import MetricsRequest, timestamp
from spyglass.model import Resource, Span, SpanKind, Status, StatusCode
from spyglass.query import QueryService
from spyglass.query.http_api import CAPABILITIES, build_app
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryFactory

S = 1_000_000_000
MS = 1_000_000
MIN = 60 * S
T0 = 1_700_000_000 // 60 * 60 * S  # a whole minute


def test_buckets_bound_every_duration_and_quantiles_stay_within_a_bucket() -> None:
    previous = -1
    for us in [*range(0, 300), 999, 1000, 1023, 1024, 12_345, 10**7, 3_300_000_000]:
        b = bucket_of(us * 1000 + 999)  # a duration's sub-microsecond part does not matter
        assert lower_us(b) <= us < upper_us(b) and upper_us(b) - lower_us(b) <= max(1, 0.25 * lower_us(b)), us
        assert b >= previous
        previous = b
    durations = [int(10 ** (3 + i / 100)) for i in range(600)]  # 1 µs .. 1 s, log-uniform
    counts: dict[int, int] = {}
    for d in durations:
        counts[bucket_of(d)] = counts.get(bucket_of(d), 0) + 1
    for q in (0.5, 0.75, 0.95, 0.99):
        exact = sorted(durations)[math.ceil(q * len(durations)) - 1] / MS
        assert abs(quantile_ms(counts, q) - exact) / exact < 0.2  # type: ignore[operator]
    assert quantile_ms({}, 0.5) is None


def test_dense_quantile_equals_the_sorted_walk() -> None:
    """The sliding window's dense histogram (walked from the top for high quantiles) gives
    exactly ``quantile_ms``, for sparse and crowded histograms and every edge quantile."""
    import random

    from spyglass.analytics.histogram import MAX_BUCKET, quantile_dense_ms

    rng = random.Random(5)
    for _ in range(3000):
        hist = {rng.randrange(MAX_BUCKET + 1): rng.choice([1, 1, 2, 7, 1000]) for _ in range(rng.randint(1, 40))}
        counts = [0] * (MAX_BUCKET + 1)
        for b, n in hist.items():
            counts[b] = n
        low, high = min(hist) - rng.randint(0, 2), max(hist)
        total = sum(hist.values())
        for q in (0.0, 0.25, 0.5, 0.5000001, 0.75, 0.95, 0.99, 0.999, 1.0, rng.random()):
            assert quantile_dense_ms(counts, total, q, max(low, 0), high) == quantile_ms(hist, q), (hist, q)
    assert quantile_dense_ms([0, 0], 0, 0.5, 0, 1) is None


def test_timestamps_are_gogo_jsonpb() -> None:
    assert timestamp(T0) == "2023-11-14T22:13:00Z"
    assert timestamp(T0 + 5 * MS) == "2023-11-14T22:13:00.005Z"
    assert timestamp(T0 + 1500) == "2023-11-14T22:13:00.000001500Z"


def spans() -> list[Span]:
    """Minute 0: 6 server calls of 'a' (2 errors) and 1 client call; minute 1: 3 calls of
    'a' GET; minute 2: nothing; 'b' in minute 0 only."""
    out = []
    for i in range(6):
        out.append(Span(1, i + 1, "GET" if i < 4 else "POST", T0 + i * S, (i + 1) * 10 * MS, Resource("a"),
                        kind=SpanKind.SERVER, status=Status(StatusCode.ERROR) if i < 2 else Status()))
    out.append(Span(1, 50, "call-b", T0, 5 * MS, Resource("a"), kind=SpanKind.CLIENT))
    for i in range(3):
        out.append(Span(2, i + 1, "GET", T0 + MIN + i * S, 100 * MS, Resource("a"), kind=SpanKind.SERVER))
    out.append(Span(3, 1, "x", T0 + 10 * S, 1 * MS, Resource("b"), kind=SpanKind.SERVER))
    return out


@pytest.fixture
async def api() -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    factory = MemoryFactory()
    factory.span_writer().write_spans(spans())
    service = QueryService(factory.trace_reader(), factory.dependency_reader(), metrics=factory.metrics_reader())
    app = build_app(service)
    assert app[CAPABILITIES]["metricsStorage"] is True
    server = HttpServer("query", "127.0.0.1", 0, app)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def get(api: tuple[aiohttp.ClientSession, str], path: str) -> tuple[int, object]:
    session, base = api
    async with session.get(base + path) as r:
        return r.status, (await r.json(content_type=None))


END = (T0 + 3 * MIN) // MS  # points at minute 1, 2 and 3 boundaries with lookback 2 min, step 1 min
Q = f"endTs={END}&lookback=120000&step=60000&ratePer=60000"


async def test_calls_are_per_second_over_whole_minutes(api: tuple[aiohttp.ClientSession, str]) -> None:
    status, body = await get(api, f"/api/metrics/calls?service=a&service=b&{Q}")
    assert status == 200
    assert body == {"name": "service_call_rate", "type": "GAUGE", "help": "calls/sec, grouped by service", "metrics": [
        {"labels": [{"name": "service_name", "value": "a"}], "metricPoints": [
            {"gaugeValue": {"doubleValue": 0.1}, "timestamp": timestamp(T0 + MIN)},  # 6 server calls in minute 0
            {"gaugeValue": {"doubleValue": 0.05}, "timestamp": timestamp(T0 + 2 * MIN)},
            {"gaugeValue": {"doubleValue": 0}, "timestamp": timestamp(T0 + 3 * MIN)}]},
        {"labels": [{"name": "service_name", "value": "b"}], "metricPoints": [
            {"gaugeValue": {"doubleValue": 1 / 60}, "timestamp": timestamp(T0 + MIN)},
            {"gaugeValue": {"doubleValue": 0}, "timestamp": timestamp(T0 + 2 * MIN)},
            {"gaugeValue": {"doubleValue": 0}, "timestamp": timestamp(T0 + 3 * MIN)}]}]}
    # spanKind=client sees the one client span; ratePer of 3 minutes sums three minutes.
    _, body = await get(api, f"/api/metrics/calls?service=a&spanKind=client&endTs={END}&lookback=0&step=60000&ratePer=180000")
    assert body["metrics"][0]["metricPoints"] == [{"gaugeValue": {"doubleValue": 1 / 180}, "timestamp": timestamp(T0 + 3 * MIN)}]


async def test_errors_are_a_fraction_and_latencies_a_quantile(api: tuple[aiohttp.ClientSession, str]) -> None:
    _, body = await get(api, f"/api/metrics/errors?service=a&{Q}")
    assert body["name"] == "service_error_rate"
    assert body["help"] == "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service"
    assert [p["gaugeValue"]["doubleValue"] for p in body["metrics"][0]["metricPoints"]] == [2 / 6, 0]  # no calls: no point
    _, body = await get(api, f"/api/metrics/latencies?service=a&quantile=0.5&{Q}")
    assert body["name"] == "service_latencies" and body["help"] == "0.50th quantile latency, grouped by service"
    p50, p50_next = (p["gaugeValue"]["doubleValue"] for p in body["metrics"][0]["metricPoints"])
    assert 30 <= p50 <= 40 * 1.2  # 10..60 ms: the median is between 30 and 40
    assert abs(p50_next - 100) / 100 < 0.2


async def test_group_by_operation_labels(api: tuple[aiohttp.ClientSession, str]) -> None:
    _, body = await get(api, f"/api/metrics/calls?service=a&groupByOperation=true&{Q}")
    assert body["name"] == "service_operation_call_rate"
    assert body["help"] == "calls/sec, grouped by service & operation"
    labels = [m["labels"] for m in body["metrics"]]
    assert labels == [[{"name": "service_name", "value": "a"}, {"name": "operation", "value": op}] for op in ("GET", "POST")]
    assert body["metrics"][1]["metricPoints"][0]["gaugeValue"]["doubleValue"] == 2 / 60


async def test_minstep_bad_params_and_unknown_service(api: tuple[aiohttp.ClientSession, str]) -> None:
    status, body = await get(api, "/api/metrics/minstep")
    assert status == 200 and body["data"] == 60000
    status, body = await get(api, f"/api/metrics/calls?service=nobody&{Q}")
    assert status == 200 and body["metrics"] == []
    status, body = await get(api, "/api/metrics/calls?service=a&lookback=604800000&step=1")
    assert status == 400 and "11,000 points" in body["errors"][0]["msg"]
    status, _ = await get(api, "/api/metrics/latencies?service=a")
    assert status == 400


def test_points_follow_prometheus() -> None:
    r = MetricsRequest(["a"], end_ns=10 * S, lookback_ns=4 * S, step_ns=2 * S)
    assert r.points() == [6 * S, 8 * S, 10 * S]
