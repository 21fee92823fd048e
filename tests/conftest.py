"""Shared fixtures: a running all-in-one on OS-chosen ports, and a processor over memory."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.config import Settings
from spyglass.storage.memory import MemoryStore

# Servers the tests start receive in-process unless a test asks for workers (--workers N):
# the suite stays fast and its process counts predictable on any machine.
os.environ.setdefault("SPYGLASS_WORKERS", "1")

ALL_PORTS_ZERO = {
    name: 0
    for name in (
        "collector_http_port",
        "collector_grpc_port",
        "collector_otlp_grpc_port",
        "collector_otlp_http_port",
        "collector_zipkin_port",
        "admin_port",
        "agent_sampling_port",
        "agent_jaeger_compact_port",
        "agent_jaeger_binary_port",
        "agent_zipkin_compact_port",
        "query_http_port",
        "query_grpc_port",
        "tempo_api_port",
    )
}


class RunningAllInOne:
    """An ``AllInOne`` served by an event loop in a background thread."""

    def __init__(self, **overrides: Any) -> None:
        from spyglass.cmd.all_in_one import AllInOne

        self._tmp = tempfile.TemporaryDirectory(prefix="spyglass-test-")
        # In-process unless a test asks for workers (``collector_workers=N``), like the
        # servers the tests start as processes (``SPYGLASS_WORKERS`` above).
        defaults = {**ALL_PORTS_ZERO, "storage": "memory", "data_dir": self._tmp.name, "collector_workers": 1}
        settings = Settings.from_env({}, **{**defaults, **overrides})
        self.app = AllInOne(settings)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.app.start())
        self.ports = self.app.ports

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def url(self, listener: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[listener]}{path}"

    def close(self) -> None:
        try:
            self.call(self.app.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self._tmp.cleanup()


@pytest.fixture
def all_in_one() -> Iterator[RunningAllInOne]:
    running = RunningAllInOne()
    yield running
    running.close()


@pytest.fixture
def memory_processor() -> Iterator[tuple[SpanProcessor, MemoryStore]]:
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=10_000))
    processor.start()
    yield processor, store
    processor.close()


@pytest.fixture(scope="session", autouse=True)
def clickhouse_cleanup() -> Iterator[None]:
    """Kill the ClickHouse/ZooKeeper servers tests started (``clickhouse_servers``), pass or fail."""
    yield
    import clickhouse_servers

    clickhouse_servers.stop_all()


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """Undo what a test's in-process ``spyglass.cli.main`` did to the root logger: its handler
    writes to the test's captured stderr, which pytest closes after the test, so every later
    log line (another test's server thread included) would print a logging error."""
    import logging

    def pytests(handler: logging.Handler) -> bool:  # pytest adds and removes its own each phase
        return type(handler).__module__.startswith("_pytest")

    root = logging.getLogger()
    ours, level = [h for h in root.handlers if not pytests(h)], root.level
    yield
    root.handlers = [h for h in root.handlers if pytests(h)] + ours
    root.setLevel(level)


def pytest_configure(config: pytest.Config) -> None:
    """Playwright's ``expect`` assertions wait 5 s by default, while the browser tests give
    their pages' actions 15 s: in the suite's two processes a page's first fetches may take
    longer than 5 s (a Monitor page once showed no rows yet at 5 s). One wait for both."""
    try:
        from playwright.sync_api import expect
    except ImportError:  # the browser tests skip themselves then
        return
    expect.set_options(timeout=15_000)
