"""The sqlite backend beyond the shared storage suite: crashes, days, retention, the trace
index, archive, full and read-only disks, damaged files, two processes, and a cross-check
of every search plan against the memory backend.

Full-disk and read-only cases mount real filesystems (a tiny tmpfs, a read-only bind
mount), so they need root; without it the read-only case uses directory permissions and
the full-disk case is skipped.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spyglass.model import Event, KeyValue, Link, Resource, Scope, Span, SpanKind, Status, StatusCode, attr_as_string
from spyglass.storage import matching
from spyglass.storage.api import StorageWriteError, TraceQuery
from spyglass.storage.memory import MemoryFactory
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory
from spyglass.storage.sqlite import compression, schema
from spyglass.storage.sqlite.days import day_start
from spyglass.storage.sqlite.tagindex import SPECIAL_KEYS
from support import wait_for

S = 1_000_000_000
DAY = 86_400


class Clock:
    """A settable Unix clock for the day files and retention."""

    def __init__(self, day: str, seconds: float = 3600.0) -> None:
        self.now = day_start(day) + seconds

    def __call__(self) -> float:
        return self.now

    def set(self, day: str, seconds: float) -> None:
        self.now = day_start(day) + seconds

    @property
    def ns(self) -> int:
        return int(self.now * S)


def span(trace: int, sid: int, *, svc: str = "api", op: str = "GET /", start: int = 0, dur: int = S,
         parent: int = 0, attrs: list[KeyValue] | None = None) -> Span:
    return Span(trace, sid, op, start or time.time_ns(), dur, Resource(svc), parent_span_id=parent,
                kind=SpanKind.SERVER, attributes=attrs or [])


@pytest.fixture
def factories() -> Iterator[list[SqliteFactory]]:
    made: list[SqliteFactory] = []
    yield made
    for f in made:
        f.close()


def make(factories: list[SqliteFactory], data: Path, clock: Clock | None = None, **config: object) -> SqliteFactory:
    f = SqliteFactory(SqliteConfig(data_dir=str(data), **config), **({"clock": clock} if clock else {}))  # type: ignore[arg-type]
    factories.append(f)
    return f


def day_files(data: Path) -> list[str]:
    return sorted(p.name for p in data.glob("????-??-??.db"))


# -- crash safety and two processes ------------------------------------------------------------------

CHILD = r"""
import sys, time
from spyglass.model import Resource, Span, SpanKind
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory

data_dir, run, interval = sys.argv[1], int(sys.argv[2]), sys.argv[3]
factory = SqliteFactory(SqliteConfig(data_dir=data_dir, commit_interval=interval))
writer = factory.span_writer()
resource = Resource("crash-test")
batch = 0
while True:
    trace = (run << 40) + batch + 1
    now = time.time_ns()
    writer.write_spans([Span(trace, i + 1, f"op-{i % 3}", now + i, 1000, resource, parent_span_id=i,
                             kind=SpanKind.SERVER) for i in range(20)])
    print(f"ack {batch}", flush=True)
    batch += 1
    time.sleep(0.002)
"""


class Child:
    """A writer process that reports each acknowledged batch, with the time we read it."""

    def __init__(self, script: Path, data: Path, run: int, interval: str) -> None:
        self.run = run
        self.acks: list[tuple[float, int]] = []
        self.proc = subprocess.Popen([sys.executable, str(script), str(data), str(run), interval],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("ack "):
                self.acks.append((time.monotonic(), int(line.split()[1])))

    def wait_for_acks(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acks) < n:
            if self.proc.poll() is not None:
                pytest.fail(f"writer child died: {self.proc.stderr.read() if self.proc.stderr else ''}")
            assert time.monotonic() < deadline, "writer child acknowledged nothing"
            time.sleep(0.01)

    def kill(self) -> float:
        killed_at = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.thread.join(5)
        return killed_at

    def trace_id(self, batch: int) -> int:
        return (self.run << 40) + batch + 1


def integrity_ok(data: Path) -> None:
    for path in sorted(data.glob("*.db")):
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", path
        finally:
            conn.close()


def test_sigkill_during_ingest_keeps_everything_older_than_the_commit_interval(
        tmp_path: Path, factories: list[SqliteFactory]) -> None:
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    data = tmp_path / "data"
    interval = 0.3
    survivors: list[tuple[Child, list[int]]] = []
    for run in range(2):  # the second run starts on what the first left behind
        child = Child(script, data, run, "300ms")
        child.wait_for_acks(5)
        time.sleep(random.uniform(0.6, 1.2))
        killed_at = child.kill()
        must_have = [b for t, b in child.acks if t <= killed_at - interval]
        assert len(must_have) > 20
        survivors.append((child, must_have))
        integrity_ok(data)
    reader = make(factories, data).trace_reader()
    for child, batches in survivors:
        missing = [b for b in batches if len(reader.get_trace(child.trace_id(b))) != 20]
        assert not missing, f"run {child.run}: acknowledged batches lost: {missing[:10]}"


def test_a_second_process_reads_while_one_writes(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    data = tmp_path / "data"
    child = Child(script, data, 0, "200ms")
    try:
        child.wait_for_acks(3)
        factory = make(factories, data)
        reader = factory.trace_reader()
        seen = []
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            ids = reader.find_trace_ids(TraceQuery(service_name="crash-test", num_traces=1000))
            if ids and (not seen or len(ids) > seen[-1]):
                seen.append(len(ids))
            time.sleep(0.25)
        assert len(seen) >= 3, f"the reader did not see the writer's progress: {seen}"
        assert reader.get_services() == ["crash-test"]
        old = [b for t, b in child.acks if t < time.monotonic() - 0.5]
        assert len(reader.get_trace(child.trace_id(old[-1]))) == 20
        with pytest.raises(StorageWriteError, match="another process.* is writing"):
            factory.span_writer().write_spans([span(1, 1)])
    finally:
        child.kill()


# -- days, midnight, the trace index, retention -------------------------------------------------


def test_a_trace_written_across_midnight_comes_back_whole(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    clock = Clock("2024-03-01", DAY - 0.5)
    f = make(factories, tmp_path / "data", clock)
    writer, reader = f.span_writer(), f.trace_reader()
    writer.write_spans([span(7, 1, svc="front", start=clock.ns), span(8, 1, start=clock.ns)])
    clock.set("2024-03-02", 0.5)
    writer.write_spans([span(7, 2, svc="back", parent=1, start=clock.ns), span(9, 1, start=clock.ns)])
    assert day_files(tmp_path / "data") == ["2024-03-01.db", "2024-03-02.db"]
    assert [s.span_id for s in reader.get_trace(7)] == [1, 2]
    assert reader.find_trace_ids(TraceQuery(service_name="front")) == [7]
    assert reader.find_trace_ids(TraceQuery(service_name="api")) == [9, 8]
    deps = f.dependency_reader().get_dependencies(clock.ns, 3600 * S)
    assert [(d.parent, d.child, d.call_count) for d in deps] == [("front", "back", 1)]


def test_trace_lookups_open_only_the_days_the_index_names(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    data = tmp_path / "data"
    clock = Clock("2024-03-01")
    writer_factory = make(factories, data, clock)
    days = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
    for n, day in enumerate(days, start=1):
        clock.set(day, 3600)
        writer_factory.span_writer().write_spans([span(n, 1, start=clock.ns)])
    writer_factory.close()

    fresh = make(factories, data, clock)
    assert [s.trace_id for s in fresh.trace_reader().get_trace(2)] == [2]
    # The named day, plus the newest one (whose index high-water mark is always checked).
    assert sorted(fresh.store.days._handles) == ["2024-03-02", "2024-03-04"]
    assert fresh.store.index.days_of(schema.trace_key(3)) == (["2024-03-03"], frozenset(days))

    # An index that lags (a crash between the day's commit and the index's) is never trusted
    # to say "not here": the day it does not cover is probed, and the next writer catches up.
    fresh.close()
    conn = sqlite3.connect(data / "index.db")
    conn.execute("DROP TABLE d_20240303")
    conn.execute("DELETE FROM hwm WHERE day = '2024-03-03'")
    conn.commit()
    conn.close()
    lagging = make(factories, data, clock)
    assert [s.trace_id for s in lagging.trace_reader().get_trace(3)] == [3]
    lagging.span_writer().write_spans([span(4, 1, start=clock.ns)])  # start-up reconciles
    assert lagging.store.index.days_of(schema.trace_key(3))[0] == ["2024-03-03"]  # type: ignore[index]


def test_a_lost_index_is_rebuilt_and_lookups_still_work_meanwhile(tmp_path: Path, factories: list[SqliteFactory],
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    f = make(factories, data)
    f.span_writer().write_spans([span(1, 1), span(2, 1)])
    f.close()
    (data / "index.db").write_bytes(b"garbage, not a database" * 100)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{data / 'index.db'}{suffix}")
    g = make(factories, data)
    assert [s.trace_id for s in g.trace_reader().get_trace(1)] == [1]  # probes every day
    with caplog.at_level(logging.ERROR):
        g.span_writer().write_spans([span(3, 1)])
    assert "rebuilding" in caplog.text
    assert g.store.index.days_of(schema.trace_key(2)) is not None
    assert [s.trace_id for s in g.trace_reader().get_trace(2)] == [2]


def test_retention_deletes_whole_expired_days(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    data = tmp_path / "data"
    clock = Clock("2024-03-01")
    f = make(factories, data, clock, retention="48h")
    for n, day in enumerate(["2024-03-01", "2024-03-02", "2024-03-03"], start=1):
        clock.set(day, 3600)
        f.span_writer().write_spans([span(n, 1, svc=f"svc-{n}", start=clock.ns)])
    assert len(day_files(data)) == 3
    reader = f.trace_reader()
    assert reader.get_trace(1)  # opened by this process: retention must close it to free the space
    # 2024-03-01 ends at 03-02 00:00; 48 h later it expires. 03-02 is kept until 03-05 00:00.
    clock.set("2024-03-04", 60)
    f.span_writer().write_spans([span(4, 1, svc="svc-4", start=clock.ns)])
    assert day_files(data) == ["2024-03-02.db", "2024-03-03.db", "2024-03-04.db"]
    assert not list(data.glob("2024-03-01.db*"))
    assert reader.get_trace(1) == [] and reader.get_trace(2)
    assert reader.get_services() == ["svc-2", "svc-3", "svc-4"]
    tables = {r[0] for r in sqlite3.connect(data / "index.db").execute("SELECT name FROM sqlite_master")}
    assert "d_20240301" not in tables and "d_20240302" in tables


def test_archive_is_a_separate_store_without_retention(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    data = tmp_path / "data"
    clock = Clock("2024-03-01")
    f = make(factories, data, clock, retention="1h")
    f.span_writer().write_spans([span(1, 1, start=clock.ns)])
    f.archive_writer().write_spans([span(1, 1, start=clock.ns), span(1, 2, parent=1, start=clock.ns)])
    assert day_files(data / "archive") == ["2024-03-01.db"]
    assert len(f.trace_reader().get_trace(1)) == 1
    clock.set("2024-03-10", 0)
    f.span_writer().write_spans([span(2, 1, start=clock.ns)])
    f.archive_writer().write_spans([span(3, 1, start=clock.ns)])
    assert f.trace_reader().get_trace(1) == []
    assert [s.span_id for s in f.archive_reader().get_trace(1)] == [1, 2]
    assert day_files(data / "archive") == ["2024-03-01.db", "2024-03-10.db"]


# -- bad disks and bad files --------------------------------------------------------------------------


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def _can_mount(tmp: Path) -> bool:
    if os.geteuid() != 0:
        return False
    probe = tmp / "probe"
    probe.mkdir()
    if _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)).returncode != 0:
        return False
    _run("umount", str(probe))
    return True


@contextlib.contextmanager
def mounted(*args: str) -> Iterator[None]:
    target = args[-1]
    result = _run("mount", *args)
    assert result.returncode == 0, result.stderr
    try:
        yield
    finally:
        for _ in range(10):
            if _run("umount", target).returncode == 0:
                break
            time.sleep(0.1)
        else:
            _run("umount", "-l", target)  # something still holds it open: detach it anyway


def test_full_disk_raises_storage_write_error_and_recovers(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    if not _can_mount(tmp_path):
        pytest.skip("needs root to mount a tiny tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)), contextlib.closing(
            SqliteFactory(SqliteConfig(data_dir=str(disk / "data"), commit_interval="50ms"))) as f:
        writer, reader = f.span_writer(), f.trace_reader()
        rng = random.Random(1)
        acked: list[int] = []
        error = None
        for batch in range(1, 400):
            # a new operation per batch: a failed commit forgets names its retry must write again
            spans = [span(batch, i + 1, op=f"GET /{batch}", attrs=[KeyValue("blob", rng.randbytes(400).hex())])
                     for i in range(20)]
            try:
                writer.write_spans(spans)
            except StorageWriteError as exc:
                error = exc
                break
            acked.append(batch)
        assert error is not None and "disk is full" in str(error)
        for _ in range(3):  # refused quickly and clearly, again and again: no crash, no loop
            with pytest.raises(StorageWriteError, match="disk is full"):
                writer.write_spans([span(10_000, 1)])
        assert _run("mount", "-o", "remount,size=64m", str(disk)).returncode == 0
        wait_for(lambda: _try_write(writer, [span(10_001, 1)]), timeout=10)  # after the retry back-off
        writer.flush()
        missing = [b for b in acked if len(reader.get_trace(b)) != 20]
        assert not missing, f"acknowledged batches lost after the disk filled up: {missing}"
        assert reader.get_trace(10_001)
        # the rollups hold each stored span once: per operation (``red``) and per service
        # (``red_service``, written from the same rows by the retried commit)
        from spyglass.storage.api.metrics import RedQuery

        stored = sum(len(reader.get_trace(b)) for b in [*range(1, 400), 10_000, 10_001])
        assert stored >= len(acked) * 20 + 1
        metrics = f.metrics_reader()
        per_op = sum(c.calls for c in metrics.read_red(RedQuery("", [], [], 0, 1 << 40, group_by_operation=True)))
        per_service = sum(c.calls for c in metrics.read_red(RedQuery("", [], [], 0, 1 << 40, buckets=False)))
        assert per_op == per_service == stored
        f.close()
        integrity_ok(disk / "data")


def _try_write(writer: object, spans: list[Span]) -> bool:
    try:
        writer.write_spans(spans)  # type: ignore[attr-defined]
    except StorageWriteError:
        return False
    return True


def test_read_only_directory_raises_storage_write_error_and_recovers(
        tmp_path: Path, factories: list[SqliteFactory]) -> None:
    data = tmp_path / "data"
    make(factories, data).span_writer().write_spans([span(1, 1)])
    factories.pop().close()
    if _can_mount(tmp_path):  # root ignores permissions: use a read-only bind mount
        view = tmp_path / "view"
        view.mkdir()
        with mounted("--bind", str(data), str(view)):
            assert _run("mount", "-o", "remount,bind,ro", str(view)).returncode == 0
            f = SqliteFactory(SqliteConfig(data_dir=str(view)))
            try:
                with pytest.raises(StorageWriteError, match="read-only"):
                    f.span_writer().write_spans([span(2, 1)])
                with pytest.raises(StorageWriteError, match="read-only"):
                    f.span_writer().write_spans([span(2, 1)])
                assert _run("mount", "-o", "remount,bind,rw", str(view)).returncode == 0
                f.span_writer().write_spans([span(3, 1)])
                assert f.trace_reader().get_trace(3) and f.trace_reader().get_trace(1)
            finally:
                f.close()
    else:
        data.chmod(0o555)
        try:
            f = make(factories, data)
            with pytest.raises(StorageWriteError, match="read-only"):
                f.span_writer().write_spans([span(2, 1)])
        finally:
            data.chmod(0o755)
        f.span_writer().write_spans([span(3, 1)])
        assert f.trace_reader().get_trace(3)


def test_corrupt_and_foreign_files_are_reported_and_skipped(tmp_path: Path, factories: list[SqliteFactory],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "2024-02-27.db").write_bytes(b"this is not a database" * 500)
    foreign = sqlite3.connect(data / "2024-02-28.db")
    foreign.execute("CREATE TABLE recipes(name TEXT)")
    foreign.commit()
    foreign.close()
    (data / "notes.txt").write_text("hello")
    clock = Clock("2024-03-01")
    (data / "2024-03-01.db").write_bytes(b"\x00garbage" * 1000)  # even today's file
    f = make(factories, data, clock)
    with caplog.at_level(logging.WARNING):
        f.span_writer().write_spans([span(1, 1, svc="a", start=clock.ns), span(2, 1, svc="b", parent=9, start=clock.ns)])
        reader = f.trace_reader()
        assert reader.get_services() == ["a", "b"]
        assert reader.find_trace_ids(TraceQuery(service_name="a")) == [1]
        assert reader.get_trace(1) and reader.get_trace(12345) == []
        assert f.dependency_reader().get_dependencies(clock.ns, 10 * DAY * S) == []
    for name in ("2024-02-27.db", "2024-02-28.db", "notes.txt", "2024-03-01.db"):
        assert name in caplog.text, name
    assert list(data.glob("2024-03-01.db.corrupt-*")), "the unusable day file is kept aside, not deleted"


def test_a_damaged_chunk_is_skipped(tmp_path: Path, factories: list[SqliteFactory],
                                    caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    f = make(factories, data)
    f.span_writer().write_spans([span(1, 1)])
    f.span_writer().write_spans([span(1, 2)])
    f.span_writer().flush()
    conn = sqlite3.connect(next(data.glob("????-??-??.db")))
    conn.execute("UPDATE chunks SET data = x'28b52ffd0000ffff' WHERE id = 1")
    conn.commit()
    conn.close()
    with caplog.at_level(logging.WARNING):
        assert [s.span_id for s in f.trace_reader().get_trace(1)] == [2]
    assert "damaged" in caplog.text


def test_unstorable_spans_are_dropped_alone(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    f = make(factories, tmp_path / "data")
    f.span_writer().write_spans([span(1, 1), span(2, 1, start=(1 << 63) + 5), span(3, 1)])
    reader = f.trace_reader()
    assert reader.get_trace(1) and reader.get_trace(3) and reader.get_trace(2) == []


# -- writes, reads, threads -----------------------------------------------------------------------------


def test_writes_are_visible_to_other_threads_at_once(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    f = make(factories, tmp_path / "data", commit_interval="1h")
    writer, reader = f.span_writer(), f.trace_reader()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                reader.find_traces(TraceQuery(service_name="api", num_traces=5))
                reader.get_services()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for n in range(1, 101):
            writer.write_spans([span(n, 1), span(n, 2, parent=1)])
            got: list[list[int]] = []
            t = threading.Thread(target=lambda: got.append([s.span_id for s in reader.get_trace(n)]))
            t.start()
            t.join()
            assert got == [[1, 2]]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors


def test_dictionary_is_trained_stored_and_copied_to_the_next_day(tmp_path: Path, factories: list[SqliteFactory],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compression, "TRAIN_BYTES", 64 * 1024)
    data = tmp_path / "data"
    clock = Clock("2024-03-01")
    f = make(factories, data, clock)
    rng = random.Random(5)
    for n in range(1, 600):
        f.span_writer().write_spans([span(n, 1, start=clock.ns, attrs=[
            KeyValue("http.url", f"https://example.com/items/{rng.randrange(10**6)}"),
            KeyValue("http.method", rng.choice(["GET", "POST"])), KeyValue("status", rng.choice([200, 404]))])])
    clock.set("2024-03-02", 60)
    f.span_writer().write_spans([span(1000, 1, start=clock.ns)])
    f.close()
    for day in ("2024-03-01", "2024-03-02"):
        conn = sqlite3.connect(data / f"{day}.db")
        dicts = dict(conn.execute("SELECT id, data FROM dicts").fetchall())
        used = {compression.zstandard.get_frame_parameters(b).dict_id for (b,) in conn.execute("SELECT data FROM chunks")}
        conn.close()
        assert dicts and used - {0} <= set(dicts), f"{day}: a chunk needs a dictionary its file lacks"
    first = sqlite3.connect(data / "2024-03-01.db")
    (dict_id, dict_data), = first.execute("SELECT id, data FROM dicts").fetchall()
    blobs = [b for (b,) in first.execute("SELECT data FROM chunks WHERE id > 300")]
    first.close()
    zd = compression.zstandard
    raw = [zd.ZstdDecompressor(dict_data=zd.ZstdCompressionDict(dict_data)).decompress(b) for b in blobs]
    plain = sum(len(zd.ZstdCompressor(level=compression.LEVEL).compress(r)) for r in raw)
    with_dict = sum(map(len, blobs))
    assert with_dict < 0.8 * plain, f"the dictionary should beat plain zstd on one-span chunks ({with_dict} vs {plain})"
    g = make(factories, data, clock)
    assert [s.trace_id for s in g.trace_reader().get_trace(599)] == [599]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="sqlite.retention"):
        SqliteFactory(SqliteConfig(retention="3 days"))
    with pytest.raises(ValueError, match="commit-interval"):
        SqliteFactory(SqliteConfig(commit_interval="0s"))


# -- every search plan agrees with the reference backend --------------------------------------------


def _value(rng: random.Random) -> object:
    return rng.choice([
        rng.choice(["x", "y", "500", "true", ""]), rng.choice([True, False]), rng.choice([500, 1, 0, -3]),
        rng.choice([1.5, 72.5, 1.0]), rng.choice([b"\x00\x01", b""]), [1, "a"], {"k": 2}, None])


def _kvs(rng: random.Random, n: int) -> list[KeyValue]:
    return [KeyValue(rng.choice(["k1", "k2", "http.status_code", "error", "span.kind"]), _value(rng)) for _ in range(n)]


def _random_spans(rng: random.Random, t0: int) -> list[Span]:
    spans = []
    starts = rng.sample(range(1, 10_000), 600)
    ids: dict[int, list[int]] = {}
    for i in range(600):
        trace = rng.randrange(1, 120) | (rng.choice([0, 1]) << 100)
        earlier = ids.setdefault(trace, [])
        sid = rng.choice(earlier) if earlier and rng.random() < 0.05 else i + 1  # a few duplicate IDs
        parent = rng.choice(earlier) if earlier and rng.random() < 0.8 else 0
        earlier.append(sid)
        spans.append(Span(
            trace, sid, rng.choice(["get", "put", "del"]), t0 + starts[i] * S, rng.randrange(1, 5) * S,
            Resource(rng.choice(["a", "b", "c"]), _kvs(rng, rng.randrange(3))),
            parent_span_id=parent, kind=rng.choice(list(SpanKind)),
            status=rng.choice([Status(), Status(StatusCode.ERROR, "bad"), Status(StatusCode.OK)]),
            attributes=_kvs(rng, rng.randrange(4)),
            events=[Event(t0, rng.choice(["", "retry"]), _kvs(rng, rng.randrange(2)))] if rng.random() < 0.3 else [],
            links=[Link(5, 6, attributes=_kvs(rng, 1))] if rng.random() < 0.1 else [],
            scope=Scope("lib", "1.0", _kvs(rng, 1)) if rng.random() < 0.1 else Scope(),
        ))
    return spans


def test_every_search_plan_returns_what_the_memory_backend_returns(
        tmp_path: Path, factories: list[SqliteFactory]) -> None:
    rng = random.Random(42)
    t0 = 1_700_000_000 * S
    spans = _random_spans(rng, t0)
    memory = MemoryFactory()
    by_time = make(factories, tmp_path / "a", candidate_limit=0)  # never uses the tag index
    by_tags = make(factories, tmp_path / "b", candidate_limit=10**9)  # always does, when it can
    for i in range(0, len(spans), 37):
        for store in (memory, by_time, by_tags):
            store.span_writer().write_spans(spans[i:i + 37])
    pairs = sorted({(kv.key, attr_as_string(kv.value)) for sp in spans for kv in sp.attributes + sp.resource.attributes})
    pairs += [("error", "true"), ("error", "false"), ("span.kind", "client"), ("event", "retry"), ("k1", "nope")]
    checked = 0
    for _ in range(300):
        q = TraceQuery(
            service_name=rng.choice(["", "a", "b", "c"]),
            operation_name=rng.choice(["", "", "get"]),
            attributes=dict(rng.sample(pairs, rng.choice([0, 1, 1, 2]))),
            start_time_min_ns=rng.choice([0, t0 + 2000 * S]),
            start_time_max_ns=rng.choice([0, t0 + 8000 * S]),
            duration_min_ns=rng.choice([0, 2 * S]),
            duration_max_ns=rng.choice([0, 3 * S]),
            num_traces=rng.choice([3, 20, 100]),
        )
        if not q.service_name and not q.attributes:
            continue
        expected = memory.trace_reader().find_trace_ids(q)
        assert by_time.trace_reader().find_trace_ids(q) == expected, q
        assert by_tags.trace_reader().find_trace_ids(q) == expected, q
        checked += bool(expected)
    assert checked > 50
    for trace in {s.trace_id for s in spans}:
        assert by_tags.trace_reader().get_trace(trace) == memory.trace_reader().get_trace(trace)
    for end, lookback in ((t0 + 10_000 * S, 5000 * S), (t0 + 20_000 * S, 20_000 * S)):
        deps = memory.dependency_reader().get_dependencies(end, lookback)
        assert sum(d.call_count for d in deps) > 20
        assert by_time.dependency_reader().get_dependencies(end, lookback) == deps


def test_trace_lookups_cross_the_trace_index_runs(tmp_path: Path, factories: list[SqliteFactory]) -> None:
    # The day file's trace index is split into runs of 65,536 chunks (``schema.TRACE_BUCKET_BITS``);
    # a trace with chunks in the first and in a later run comes back whole.
    f = make(factories, tmp_path / "data")
    writer, reader = f.span_writer(), f.trace_reader()
    writer.write_spans([span(1, 1)])
    n = (1 << schema.TRACE_BUCKET_BITS) + 10
    for first in range(2, n, 2000):
        writer.write_spans([span(t, 1) for t in range(first, min(first + 2000, n))])
    writer.write_spans([span(1, 2, parent=1)])
    assert [s.span_id for s in reader.get_trace(1)] == [1, 2]
    assert [s.trace_id for s in reader.get_trace(n - 1)] == [n - 1]


def test_the_tag_index_skips_every_key_matching_derives_from_span_fields() -> None:
    # A pair on such a key can match without the attribute being there, so the index must not
    # be asked about it; this catches a key added to ``matching._special`` but not to the set.
    source = inspect.getsource(matching._special)
    keys = set(re.findall(r'key == "([^"]+)"', source))
    for group in re.findall(r"key in \(([^)]*)\)", source):
        keys |= set(re.findall(r'"([^"]+)"', group))
    assert keys and keys <= SPECIAL_KEYS, keys - SPECIAL_KEYS


def test_day_files_from_before_the_peers_table_still_give_dependencies(tmp_path: Path,
                                                                        factories: list[SqliteFactory]) -> None:
    """A day file without ``peers`` (written before it existed) is read without it, and a
    writer that opens it again adds the table, so new peer calls count from then on."""
    data = tmp_path / "data"
    clock = Clock("2024-03-01")
    client = dict(kind=SpanKind.CLIENT, attributes=[KeyValue("peer.service", "db")])
    f = make(factories, data, clock)
    f.span_writer().write_spans([span(1, 1, svc="front", start=clock.ns),
                                 span(1, 2, svc="back", parent=1, start=clock.ns)])
    f.close()
    factories.remove(f)
    with sqlite3.connect(data / "2024-03-01.db") as conn:
        conn.execute("DROP TABLE peers")
    f = make(factories, data, clock)
    deps = f.dependency_reader().get_dependencies(clock.ns + S, 3600 * S)
    assert [(d.parent, d.child, d.call_count) for d in deps] == [("front", "back", 1)]
    f.span_writer().write_spans([Span(3, 1, "q", clock.ns, S, Resource("back"), **client)])
    deps = f.dependency_reader().get_dependencies(clock.ns + S, 3600 * S)
    assert [(d.parent, d.child, d.call_count) for d in deps] == [("back", "db", 1), ("front", "back", 1)]
