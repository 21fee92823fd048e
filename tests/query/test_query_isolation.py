"""Heavy queries do not starve ingest (issue 17, item 3): with eight slow dependency
requests running on a real all-in-one, an OTLP/HTTP export big enough to be decoded in a
worker thread is acknowledged quickly, and ``/api/services`` answers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from conftest import RunningAllInOne

from spyglass.codecs import otlp_proto
from spyglass.collector.receivers.offload import THREAD_DECODE_BYTES
from spyglass.model import DependencyLink, KeyValue, Resource, Span

QUERY_SECONDS = 2.0
BOUND_SECONDS = 1.5  # generous: the export alone takes a few tens of milliseconds


class SlowDependencies:
    """The real dependency reader behind a slow disk: each call blocks its thread."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.running = 0
        self.lock = threading.Lock()

    def get_dependencies(self, end_time_ns: int, lookback_ns: int) -> list[DependencyLink]:
        with self.lock:
            self.running += 1
        try:
            time.sleep(QUERY_SECONDS)
            return self.inner.get_dependencies(end_time_ns, lookback_ns)
        finally:
            with self.lock:
                self.running -= 1


def big_export() -> bytes:
    now = time.time_ns()
    resource = Resource("load", [KeyValue("host", "h1")])
    spans = [Span(0x5000 + i // 10, i + 1, f"op{i % 10}", now, 1_000, resource,
                  attributes=[KeyValue("payload", "y" * 100), KeyValue("i", i)]) for i in range(3_000)]
    body = otlp_proto.encode_export_request(spans)
    assert len(body) > THREAD_DECODE_BYTES  # decoded in a worker thread, not inline
    return body


def test_eight_slow_dependency_queries_do_not_delay_an_export_or_services() -> None:
    aio = RunningAllInOne(query_max_concurrent=8)
    try:
        slow = SlowDependencies(aio.app.query_service.dependencies)
        aio.app.query_service.dependencies = slow
        body = big_export()
        with ThreadPoolExecutor(8) as pool:
            queries = [pool.submit(requests.get, aio.url("query_http", "/api/dependencies"), timeout=30) for _ in range(8)]
            deadline = time.monotonic() + 10
            while slow.running < 8 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert slow.running == 8

            started = time.monotonic()
            r = requests.post(aio.url("otlp_http", "/v1/traces"), data=body,
                              headers={"Content-Type": "application/x-protobuf"}, timeout=30)
            export_seconds = time.monotonic() - started
            assert r.status_code == 200
            started = time.monotonic()
            services = requests.get(aio.url("query_http", "/api/services"), timeout=30)
            services_seconds = time.monotonic() - started
            assert services.status_code == 200
            assert slow.running > 0  # the heavy queries were still running throughout
            assert export_seconds < BOUND_SECONDS, export_seconds
            assert services_seconds < BOUND_SECONDS, services_seconds
            assert all(q.result().status_code == 200 for q in queries)
    finally:
        aio.close()
