"""Backends for the query-language tests: memory, sqlite (temp dir) and a real ClickHouse 18.16
(``tests/clickhouse_servers.py``; its own fresh database per store)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator

import pytest

from spyglass.model import Span
from spyglass.storage.api.traceql import TraceQLReader
from traceql_data import make_factory

BACKENDS = ["memory", "sqlite", "clickhouse"]
Store = Callable[[list[Span]], TraceQLReader]


@pytest.fixture
def open_store() -> Iterator[Callable[[str, list[Span]], TraceQLReader]]:
    """``open_store(backend, spans)``: a reader over a new store holding ``spans``."""
    factories = []

    def open_(name: str, spans: list[Span]) -> TraceQLReader:
        factory = make_factory(name, tempfile.mkdtemp(prefix="spyglass-tql-"))
        factories.append(factory)
        writer = factory.span_writer()
        for i in range(0, len(spans), 50):
            writer.write_spans(spans[i:i + 50])
        reader = factory.trace_reader()
        assert isinstance(reader, TraceQLReader)
        return reader

    yield open_
    for f in factories:
        f.close()
