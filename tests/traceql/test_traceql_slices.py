"""The sqlite search walks the window newest first in time slices (one statement per day
file and condition, slices doubling when sparse and halving when crowded): its answers equal
the memory backend's on a store with two day files, dense minutes and long empty gaps,
for searches that stop early and searches that read everything."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from spyglass.model import KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.storage.memory import MemoryFactory
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory
from spyglass.storage.sqlite import traceql as sqlite_traceql
from spyglass.storage.sqlite.days import day_start
from spyglass.traceql import parse

S = 1_000_000_000
MIDNIGHT = (day_start("2024-05-02")) * S


def _spans(rng: random.Random) -> list[Span]:
    """~9,000 spans: a crowded burst (thousands in two minutes) before midnight, sparse spans
    across it, and a few hours later, after a gap."""
    services = [Resource(f"svc-{i}") for i in range(6)]
    starts = ([MIDNIGHT - 10 * 60 * S + rng.randrange(120 * S) for _ in range(5000)]
              + [MIDNIGHT - 3600 * S + rng.randrange(2 * 3600 * S) for _ in range(3500)]
              + [MIDNIGHT + 5 * 3600 * S + rng.randrange(600 * S) for _ in range(400)])
    out = []
    for i, start in enumerate(starts):
        trace = i // 6 + 1
        error = rng.random() < 0.03
        out.append(Span(trace, i + 1, rng.choice(["GET", "POST", "db.query", "send"]), start,
                        int(10 ** rng.uniform(4, 9)), rng.choice(services),
                        parent_span_id=0 if i % 6 == 0 else i // 6 * 6 + 1, kind=rng.choice(list(SpanKind)),
                        status=Status(StatusCode.ERROR) if error else Status(),
                        attributes=[KeyValue("http.status_code", 500 if error else 200)]))
    return out


@pytest.mark.parametrize("slice_rows", [None, 40])
def test_sliced_search_equals_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slice_rows: int | None) -> None:
    if slice_rows is not None:  # slices shrink (halve) as well as grow on this data
        monkeypatch.setattr(sqlite_traceql, "_SLICE_ROWS", slice_rows)
    rng = random.Random(8)
    spans = _spans(rng)
    memory = MemoryFactory()
    memory.span_writer().write_spans(spans)
    now = [MIDNIGHT / S - 60]
    sqlite = SqliteFactory(SqliteConfig(data_dir=str(tmp_path / "data"), retention="0"), clock=lambda: now[0])
    try:
        writer = sqlite.span_writer()
        for i in range(0, len(spans), 500):
            now[0] = (MIDNIGHT - 60 * S + i * 120 * S // len(spans)) / S  # the write crosses midnight
            writer.write_spans(spans[i:i + 500])
        sqlite.store.writer.flush()
        assert len(list((tmp_path / "data").glob("2024-05-0*.db"))) == 2
        windows = [(MIDNIGHT - 2 * 3600 * S, MIDNIGHT + 6 * 3600 * S), (MIDNIGHT - 9 * 60 * S, MIDNIGHT + 30 * S),
                   (MIDNIGHT - 30 * 60 * S, MIDNIGHT - 7 * 60 * S), (0, 0)]
        for text in ("{status=error}", "{ }", '{name="db.query" && duration > 1ms}',
                     '{resource.service.name="svc-2"} >> {kind=client}', "{span.http.status_code>=500}"):
            for start, end in windows:
                for limit in (1, 20, 3000):
                    got = [(m.trace_id, [s.span_id for s in m.spans])
                           for m in sqlite.trace_reader().find_traces_traceql(parse(text), start, end, limit)]
                    want = [(m.trace_id, [s.span_id for s in m.spans])
                            for m in memory.trace_reader().find_traces_traceql(parse(text), start, end, limit)]
                    assert got == want, (text, start, end, limit)
                    assert got or text != "{ }"
    finally:
        sqlite.close()
        memory.close()
