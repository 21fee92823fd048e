"""Two real ``spyglass collector`` processes sharing one storage (the sqlite data dir's
``sampling.db``; spans go to a NATS JetStream buffer, so neither takes the span writer
lock): exactly one is the adaptive sampling leader, roots counted by the follower reach
the leader's calculation through the store and its probabilities reach the follower; kill
the leader with SIGKILL and the other takes over within about one follower lease."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
from pipeline_procs import NatsServer, Spyglass, get_json, post
from support import wait_for

pytestmark = pytest.mark.slow

ADAPTIVE = ("--sampling.type", "adaptive", "--sampling.calculation-interval", "300ms", "--sampling.delay", "0s",
            "--sampling.leader-lease-refresh-interval", "100ms", "--sampling.follower-lease-refresh-interval", "1s",
            "--sampling.initial-sampling-probability", "0.5", "--sampling.target-samples-per-second", "1")


def roots(service: str, op: str, n: int, probability: float) -> bytes:
    rnd = random.Random()
    now = time.time_ns()
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": [{
            "traceId": f"{rnd.getrandbits(128):032x}", "spanId": f"{rnd.getrandbits(63) | 1:016x}", "name": op,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
            "attributes": [{"key": "sampler.type", "value": {"stringValue": "probabilistic"}},
                           {"key": "sampler.param", "value": {"doubleValue": probability}}],
        } for _ in range(n)]}],
    }]}).encode()


def strategy(c: Spyglass, service: str) -> dict[str, float]:
    status, body = get_json(c.url("collector.http-port", f"/api/sampling?service={service}"))
    assert status == 200
    return {s["operation"]: s["probabilisticSampling"]["samplingRate"]
            for s in body["operationSampling"]["perOperationStrategies"]}


def leaders(cs: list[Spyglass]) -> list[Spyglass]:
    return [c for c in cs if c.command == "collector" and c.proc.poll() is None
            and c.metric("spyglass_sampling_adaptive_leader") == 1]


def test_one_leader_and_takeover(tmp_path: Path) -> None:
    nats = NatsServer(tmp_path)
    nats.start()
    shared = tmp_path / "shared"
    flags = ("--collector.buffer", "nats", "--nats.url", nats.url, "--nats.stream", "adaptive", "--storage", "sqlite")
    collectors = [Spyglass(tmp_path, f"c{i}", "collector", *flags, *ADAPTIVE, data_dir=shared) for i in (1, 2)]
    try:
        for c in collectors:
            c.start(wait=False)
        for c in collectors:
            c.wait_healthy()
        wait_for(lambda: len(leaders(collectors)) == 1, timeout=20)
        time.sleep(1.5)  # a follower's lease attempt must not steal a live leader's lease
        [leader] = leaders(collectors)
        follower = next(c for c in collectors if c is not leader)
        # 50 roots/s at 0.5 counted by the follower: the leader lowers the probability, the follower serves it
        for _ in range(4):
            assert post(follower.url("collector.otlp-http-port", "/v1/traces"), roots("shop", "GET /", 15, 0.5),
                        "application/json") == 200
            time.sleep(0.3)
        wait_for(lambda: 0 < strategy(follower, "shop").get("GET /", 1) < 0.5, timeout=20)
        assert strategy(leader, "shop") == strategy(follower, "shop")
        # a query-only process on the data dir shows the UI the same probabilities
        query = Spyglass(tmp_path, "query", "query", data_dir=shared).start()
        collectors.append(query)
        status, body = get_json(query.url("query.http-port", "/api/sampling/summary?service=shop"))
        assert status == 200 and body["data"]["type"] == "adaptive"
        assert 0 < body["data"]["operations"]["GET /"] < 0.5

        leader.kill(signal.SIGKILL)
        wait_for(lambda: leaders([follower]), timeout=10)  # the lease (1s) ran out: it took over
        assert follower.metric("spyglass_sampling_adaptive_store_errors") == 0
    finally:
        for c in collectors:
            c.kill()
        nats.close()
