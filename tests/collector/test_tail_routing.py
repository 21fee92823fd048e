"""Two collectors with tail sampling behind trace-ID routing (``--sampling.tail.peers``):
every trace's spans are sent half to one collector and half to the other, yet each trace
is decided, and stored, whole in exactly one place."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request

import pytest
from conftest import RunningAllInOne
from support import free_port, wait_for

from spyglass.collector.tailsampling.routing import owner_index

pytestmark = pytest.mark.slow


def otlp(spans: list[tuple[int, int, int]]) -> bytes:
    now = time.time_ns()
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "routed"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": f"{tid:032x}", "spanId": f"{sid:016x}", "name": f"op{sid}",
            "parentSpanId": f"{parent:016x}" if parent else "",
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
        } for tid, sid, parent in spans]}],
    }]}).encode()


def post(aio: RunningAllInOne, body: bytes) -> None:
    req = urllib.request.Request(aio.url("otlp_http", "/v1/traces"), data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def test_two_collectors_never_split_a_trace(tmp_path):
    policies = tmp_path / "tail.yaml"
    policies.write_text("decision_wait: 300ms\npolicies:\n  - {name: all, type: always_sample}\n")
    ports = [free_port(), free_port()]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    collectors = [RunningAllInOne(collector_grpc_port=p, sampling_tail_policies=str(policies),
                                  sampling_tail_peers=peers) for p in ports]
    try:
        rnd = random.Random(11)
        traces = [rnd.getrandbits(128) for _ in range(60)]
        for tid in traces:  # spans 1-3 to the first collector, 4-6 to the second
            post(collectors[0], otlp([(tid, s, s - 1) for s in (1, 2, 3)]))
            post(collectors[1], otlp([(tid, s, s - 1) for s in (4, 5, 6)]))
        readers = [c.app.storage.trace_reader() for c in collectors]

        def whole() -> bool:
            return all(sum(len(r.get_trace(t)) for r in readers) == 6 for t in traces)

        wait_for(whole, timeout=20)
        owners = set()
        for tid in traces:
            counts = [len(r.get_trace(tid)) for r in readers]
            assert sorted(counts) == [0, 6], (tid, counts)  # whole in one place, never split
            assert counts[owner_index(tid, 2)] == 6
            owners.add(counts.index(6))
        assert owners == {0, 1}  # both collectors own some traces
        assert all(c.app.processor.m_forwarded._value.get() > 0 for c in collectors)
    finally:
        for c in collectors:
            c.close()


def test_a_collector_missing_from_its_peers_does_not_start(tmp_path):
    from spyglass.cmd.all_in_one import StartupError

    policies = tmp_path / "tail.yaml"
    policies.write_text("policies:\n  - {type: always_sample}\n")
    with pytest.raises(StartupError, match="must list this collector's gRPC address"):
        RunningAllInOne(collector_grpc_port=free_port(), sampling_tail_policies=str(policies),
                        sampling_tail_peers="127.0.0.1:1")


def test_a_peer_that_cannot_take_spans_fails_the_request_retryably(tmp_path):
    policies = tmp_path / "tail.yaml"
    policies.write_text("decision_wait: 100ms\npolicies:\n  - {type: always_sample}\n")
    mine, dead = free_port(), free_port()  # nothing listens on ``dead``
    aio = RunningAllInOne(collector_grpc_port=mine, sampling_tail_policies=str(policies),
                          sampling_tail_peers=f"127.0.0.1:{mine},127.0.0.1:{dead}")
    try:
        aio.app.processor.router.timeout_s = 2.0
        rnd = random.Random(5)
        theirs = next(t for t in iter(lambda: rnd.getrandbits(128), None) if owner_index(t, 2) == 1)
        ours = next(t for t in iter(lambda: rnd.getrandbits(128), None) if owner_index(t, 2) == 0)
        req = urllib.request.Request(aio.url("otlp_http", "/v1/traces"), data=otlp([(theirs, 1, 0)]),
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=20)
        assert err.value.code == 503  # OTLP/HTTP's retryable answer: the client sends again
        assert not aio.app.processor.held
        post(aio, otlp([(ours, 1, 0)]))  # its own traces are still taken
        reader = aio.app.storage.trace_reader()
        wait_for(lambda: len(reader.get_trace(ours)) == 1, timeout=10)
    finally:
        aio.close()
