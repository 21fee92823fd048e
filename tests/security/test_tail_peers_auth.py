"""Tail-based sampling across two authenticating collectors: spans a collector does not own go to
their owner with the original caller's bearer token, so they are accepted there (and only with it)."""

from __future__ import annotations

import json
import random
import time

import pytest
import requests

from conftest import RunningAllInOne
from security.creds import WRITE_TOKEN, bearer
from spyglass.collector.tailsampling.routing import owner_index
from support import free_port, wait_for

pytestmark = pytest.mark.slow


def otlp(tid: int) -> bytes:
    now = time.time_ns()
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "routed"}}]},
        "scopeSpans": [{"spans": [{"traceId": f"{tid:032x}", "spanId": f"{s:016x}", "name": "op",
                                   "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000)}
                                  for s in (1, 2)]}]}]}).encode()


@pytest.mark.parametrize("workers", [1, 2])
def test_forwarded_spans_carry_the_callers_token(tmp_path, workers):
    """With workers the credential travels from the worker that received the request to the
    parent, whose tail-sampling stage forwards the spans with it."""
    policies = tmp_path / "tail.yaml"
    policies.write_text("decision_wait: 300ms\npolicies:\n  - {name: all, type: always_sample}\n")
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{WRITE_TOKEN} acme\n")
    ports = [free_port(), free_port()]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    collectors = [RunningAllInOne(collector_grpc_port=p, sampling_tail_policies=str(policies), sampling_tail_peers=peers,
                                  collector_auth="bearer", collector_auth_tokens_file=str(tokens),
                                  collector_workers=workers) for p in ports]
    try:
        rnd = random.Random(5)
        traces = [t for t in (rnd.getrandbits(128) for _ in range(40)) if owner_index(t, 2) == 1][:10]
        for tid in traces:  # all sent to the collector that does not own them
            r = requests.post(collectors[0].url("otlp_http", "/v1/traces"), data=otlp(tid), timeout=10,
                              headers={"Content-Type": "application/json", "Authorization": bearer(WRITE_TOKEN)})
            assert r.status_code == 200, r.text
        owner = collectors[1].app.storage.trace_reader()
        wait_for(lambda: all(len(owner.get_trace(t)) == 2 for t in traces), timeout=20)
        refused = collectors[1].app.metrics.registry.get_sample_value(
            "spyglass_auth_refused_total", {"server": "collector_grpc", "reason": "missing"})
        assert not refused
    finally:
        for c in collectors:
            c.close()
