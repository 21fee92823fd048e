"""``kill -9`` of the all-in-one under load: with ``--collector.queue.durable`` nothing
acknowledged is lost; without it, the queue and the commit interval are (the README's claim).

The commit interval is 5 s so that, without the write-ahead log, acknowledged spans are
still uncommitted when the kill lands: the control test proves the scenario loses spans,
so the durable test's "0 lost" means something.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from pathlib import Path

import pytest

from pipeline_procs import UNCAPPED_QUERY, Spyglass, otlp_json, post, traces_by_id
from support import wait_for

SPANS = 20
SERVICE = "crash-test"


def _load_then_kill(app: Spyglass, seconds: float) -> set[int]:
    """Send traces from 4 threads; kill -9 the process while they are sending; the IDs of
    the traces it acknowledged."""
    acked: set[int] = set()
    ids = itertools.count(1)
    lock = threading.Lock()
    stop = threading.Event()
    url = app.url("collector.otlp-http-port", "/v1/traces")

    def sender() -> None:
        while not stop.is_set():
            with lock:
                tid = next(ids)
            if post(url, otlp_json(tid, SPANS, SERVICE), "application/json", timeout=5) == 200:
                with lock:
                    acked.add(tid)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    app.kill(signal.SIGKILL)  # mid-load
    stop.set()
    for t in threads:
        t.join(10)
    return acked


def _run(tmp_path: Path, *flags: str) -> tuple[set[int], dict[int, list], float]:
    """Load, kill -9, restart on the same data: (acknowledged trace IDs, traces found,
    spans the restart replayed from the write-ahead log)."""
    app = Spyglass(tmp_path, "aio", "all-in-one", "--sqlite.commit-interval", "5s", *UNCAPPED_QUERY, *flags).start()
    try:
        acked = _load_then_kill(app, 3.0)
        assert len(acked) > 20, app.log_tail()
        again = Spyglass(tmp_path, "aio2", "all-in-one", "--sqlite.commit-interval", "5s", *UNCAPPED_QUERY, *flags,
                         data_dir=app.data_dir, ports=app.ports).start()
        try:
            found = traces_by_id(again, SERVICE)
            replayed = again.metric("spyglass_wal_replayed_spans_total")
        finally:
            assert again.stop() == 0, again.log_tail()
        return acked, found, replayed
    finally:
        app.kill()


@pytest.mark.slow
def test_kill_9_with_the_durable_queue_loses_nothing_acknowledged(tmp_path: Path) -> None:
    acked, found, replayed = _run(tmp_path, "--collector.queue.durable")
    lost = acked - found.keys()
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged traces lost"
    for tid in acked:
        ids = [s["spanID"] for s in found[tid]]
        assert len(ids) == SPANS and len(set(ids)) == SPANS, (tid, ids)  # each span exactly once
    assert replayed > 0  # what storage had not committed came back from the log
    assert not list((tmp_path / "aio-data" / "queue").glob("wal-*.log"))  # a clean stop truncates the log


@pytest.mark.slow
def test_kill_9_without_it_loses_the_uncommitted_queue(tmp_path: Path) -> None:
    acked, found, _ = _run(tmp_path)
    assert acked - found.keys(), "expected the in-memory queue and the 5 s commit interval to be lost"
