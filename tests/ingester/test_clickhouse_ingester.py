"""``spyglass ingester --storage clickhouse`` as a real process, with a real nats-server and a
clickhouse-server of the test's own:

* it creates the ClickHouse schema at start, as the collector does (a fresh database, no
  ``spyglass clickhouse-schema`` run beforehand), and stores what JetStream holds;
* it acknowledges a message only once its spans are inserted: while ClickHouse is down the
  JetStream ack floor does not move; after ``kill -9`` of the ingester, every message below
  the ack floor has its spans in ClickHouse, and a new ingester stores the rest.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import nats
import pytest
from clickhouse_driver import Client

import clickhouse_servers
from pipeline_procs import NatsServer, Spyglass
from spyglass.collector.buffer.encoding import encode_batch
from spyglass.collector.buffer.stream import BufferConfig, ensure_stream
from spyglass.config import Settings
from spyglass.model import Resource, Span
from support import wait_for

SPANS_PER_MESSAGE = 5
STREAM = "chingest"
CONSUMER = "spyglass-ingester"


def _config(url: str) -> BufferConfig:
    return BufferConfig.from_settings(Settings.from_env({}, nats_url=url, nats_stream=STREAM))


def _publish(url: str, traces: range) -> list[int]:
    """One message per trace; the JetStream sequence of each, in ``traces`` order."""
    async def go() -> list[int]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        config = _config(url)
        await ensure_stream(js, config)
        seqs = []
        now = time.time_ns()
        for trace in traces:
            spans = [Span(trace, i + 1, f"op-{i}", now, 1000, Resource("ch-ingest")) for i in range(SPANS_PER_MESSAGE)]
            seqs.append((await js.publish(config.subject, encode_batch(spans))).seq)
        await nc.close()
        return seqs

    return asyncio.run(go())


def _consumer(url: str) -> tuple[int, int]:
    """The durable consumer's (ack floor, last delivered) stream sequences: every message up to
    the first was acknowledged; the second is the newest one handed to an ingester."""
    async def go() -> tuple[int, int]:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().consumer_info(STREAM, CONSUMER)
            return int(info.ack_floor.stream_seq), int(info.delivered.stream_seq)
        finally:
            await nc.close()

    return asyncio.run(go())


def _ack_floor(url: str) -> int:
    return _consumer(url)[0]


def _stored(address: str, database: str) -> dict[int, int]:
    """trace ID -> spans stored in ClickHouse."""
    host, port = address.rsplit(":", 1)
    client = Client(host, port=int(port))
    try:
        rows = client.execute(f"SELECT trace_lo, count() FROM {database}.spans GROUP BY trace_lo")
    finally:
        client.disconnect()
    return {int(t): int(n) for t, n in rows}


def _tables(address: str, database: str) -> set[str]:
    host, port = address.rsplit(":", 1)
    client = Client(host, port=int(port))
    try:
        return {r[0] for r in client.execute("SELECT name FROM system.tables WHERE database = %(db)s",
                                             {"db": database})}
    finally:
        client.disconnect()


@pytest.mark.slow
def test_ingester_creates_the_schema_and_acks_only_inserted_spans(tmp_path: Path) -> None:
    server = clickhouse_servers.private_node(tmp_path / "clickhouse")
    nats_server = NatsServer(tmp_path)
    nats_server.start()
    database = "fresh_ingest"
    assert not _tables(server.address, database)  # nothing created beforehand
    flags = ("--storage", "clickhouse", "--clickhouse.addresses", server.address, "--clickhouse.database", database,
             "--clickhouse.timeout", "2s", "--clickhouse.retention", "0",
             "--nats.url", nats_server.url, "--nats.stream", STREAM, "--nats.ack-wait", "3s",
             "--nats.fetch-batch", "10")
    procs: list[Spyglass] = []
    try:
        first = Spyglass(tmp_path, "ingester1", "ingester", *flags)
        procs.append(first.start())
        # 1. The schema exists once the ingester is healthy; nothing else created it.
        assert {"spans", "span_index", "trace_ranges", "operations", "schema_version"} <= _tables(server.address,
                                                                                                 database)
        seqs = _publish(nats_server.url, range(1, 21))
        wait_for(lambda: len(_stored(server.address, database)) == 20, timeout=30)
        wait_for(lambda: _ack_floor(nats_server.url) == seqs[-1], timeout=30)

        # 2. ClickHouse goes away: the ingester takes the next messages but must not ack them.
        server.stop()
        later = _publish(nats_server.url, range(21, 41))
        wait_for(lambda: _consumer(nats_server.url)[1] >= later[0], timeout=30)  # the ingester has them
        time.sleep(2.0)  # a few fetch/insert rounds (an ack would come at once)
        floor = _ack_floor(nats_server.url)
        assert floor < later[0], f"acknowledged up to {floor} while ClickHouse was down (first unstored {later[0]})"

        # 3. kill -9: whatever the ingester had in memory is gone. ClickHouse comes back.
        first.kill(signal.SIGKILL)
        server.start()
        floor = _ack_floor(nats_server.url)
        stored = _stored(server.address, database)
        acked = [t for t, seq in zip(range(1, 41), seqs + later) if seq <= floor]
        assert acked, floor
        lost = [t for t in acked if stored.get(t, 0) < SPANS_PER_MESSAGE]
        assert not lost, f"acknowledged but not in ClickHouse: {lost}"

        # 4. A new ingester gets the unacknowledged messages again: every trace is stored.
        second = Spyglass(tmp_path, "ingester2", "ingester", *flags)
        procs.append(second.start())
        wait_for(lambda: set(_stored(server.address, database)) == set(range(1, 41)), timeout=60)
        assert all(n >= SPANS_PER_MESSAGE for n in _stored(server.address, database).values())
        wait_for(lambda: _ack_floor(nats_server.url) == later[-1], timeout=30)
    finally:
        for p in procs:
            p.kill()
        nats_server.close()
        server.stop()


@pytest.mark.slow
def test_ingester_that_cannot_reach_clickhouse_does_not_start(tmp_path: Path) -> None:
    from support import free_port

    nats_server = NatsServer(tmp_path)
    nats_server.start()
    try:
        ing = Spyglass(tmp_path, "ingester", "ingester", "--storage", "clickhouse", "--clickhouse.addresses",
                       f"127.0.0.1:{free_port()}", "--clickhouse.timeout", "2s", "--nats.url", nats_server.url)
        ing.start(wait=False)
        assert ing.proc is not None
        assert ing.proc.wait(60) == 1
        log = ing.log_tail()
        assert "cannot start: storage:" in log and "Traceback" not in log
    finally:
        nats_server.close()
