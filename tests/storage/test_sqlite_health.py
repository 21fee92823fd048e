"""The sqlite backend's health ability: checks at start-up, and a lock lost while running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spyglass.model import Resource, Span
from spyglass.storage.api import StorageUnavailable, StorageWriteError
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory


def factory(path: Path) -> SqliteFactory:
    return SqliteFactory(SqliteConfig(data_dir=str(path)))


def spans(trace: int) -> list[Span]:
    return [Span(trace, 1, "op", 1_700_000_000_000_000_000, 1, Resource("svc"))]


def test_prepare_takes_the_lock_and_opens_today_before_any_write(tmp_path: Path) -> None:
    first = factory(tmp_path / "data")
    first.prepare_writes()
    try:
        assert (tmp_path / "data" / "writer.lock").read_text().strip() == str(os.getpid())
        assert [p.name for p in (tmp_path / "data").glob("????-??-??.db")]  # today's file exists already
        assert first.check().healthy
        second = factory(tmp_path / "data")
        with pytest.raises(StorageUnavailable, match=r"is in use: another process \(pid \d+\) is writing"):
            second.prepare_writes()
        second.close()
    finally:
        first.close()


def test_a_regular_file_is_not_a_data_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store = factory(tmp_path / "file")
    with pytest.raises(StorageUnavailable, match="is not a directory"):
        store.prepare_writes()
    assert not store.check().healthy  # a reader is told as well


def test_a_removed_lock_is_taken_again_and_a_stolen_one_makes_storage_unhealthy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = factory(data)
    first.prepare_writes()
    try:
        (data / "writer.lock").unlink()
        assert first.check().healthy  # nobody else took it: the writer takes a new one
        assert (data / "writer.lock").exists()
        first.span_writer().write_spans(spans(1))

        (data / "writer.lock").unlink()
        thief = factory(data)
        thief.prepare_writes()  # a second process started while the lock file was gone
        state = first.check()
        assert not state.healthy and "lost the writer lock" in state.reason
        with pytest.raises(StorageWriteError, match="lost the writer lock"):
            first.span_writer().write_spans(spans(2))
        thief.close()
        assert first.check().healthy  # the other writer is gone: the lock is ours again
        first.span_writer().write_spans(spans(3))
    finally:
        first.close()
