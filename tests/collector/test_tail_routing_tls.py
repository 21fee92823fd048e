"""``--sampling.tail.peers.tls.*``: collectors whose gRPC ports serve mutual TLS forward
each other the spans of the traces they do not own over TLS; a peer that does not trust
the certificate gets nothing and the request is answered with a retryable error."""

from __future__ import annotations

import random
import urllib.error
from pathlib import Path
from typing import Any

import pytest
from conftest import RunningAllInOne
from support import free_port, wait_for

from collector.test_tail_routing import otlp, post
from spyglass.collector.tailsampling.routing import owner_index
from tls_certs import make_pki

pytestmark = pytest.mark.slow


def tls_collector(port: int, peers: str, policies: Path, pki: Any, ca: str) -> RunningAllInOne:
    return RunningAllInOne(
        collector_grpc_port=port, sampling_tail_policies=str(policies), sampling_tail_peers=peers,
        collector_grpc_tls_enabled=True, collector_grpc_tls_cert=pki.server.cert, collector_grpc_tls_key=pki.server.key,
        collector_grpc_tls_client_ca=pki.ca,
        sampling_tail_peers_tls_enabled=True, sampling_tail_peers_tls_ca=ca,
        sampling_tail_peers_tls_cert=pki.client.cert, sampling_tail_peers_tls_key=pki.client.key,
    )


def test_peers_forward_over_mutual_tls(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    policies = tmp_path / "tail.yaml"
    policies.write_text("decision_wait: 300ms\npolicies:\n  - {name: all, type: always_sample}\n")
    ports = [free_port(), free_port()]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    collectors = [tls_collector(p, peers, policies, pki, pki.ca) for p in ports]
    try:
        traces = [random.Random(5).getrandbits(128) + i for i in range(20)]
        for tid in traces:
            post(collectors[0], otlp([(tid, s, s - 1) for s in (1, 2)]))
            post(collectors[1], otlp([(tid, s, s - 1) for s in (3, 4)]))
        readers = [c.app.storage.trace_reader() for c in collectors]
        wait_for(lambda: all(len(readers[owner_index(t, 2)].get_trace(t)) == 4 for t in traces), timeout=20)
        assert all(c.app.processor.m_forwarded._value.get() > 0 for c in collectors)
    finally:
        for c in collectors:
            c.close()


def test_a_peer_with_the_wrong_ca_forwards_nothing(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    policies = tmp_path / "tail.yaml"
    policies.write_text("decision_wait: 300ms\npolicies:\n  - {name: all, type: always_sample}\n")
    ports = [free_port(), free_port()]
    peers = ",".join(f"127.0.0.1:{p}" for p in ports)
    good = tls_collector(ports[1], peers, policies, pki, pki.ca)
    wrong = tls_collector(ports[0], peers, policies, pki, pki.other_ca)  # does not trust its peer
    try:
        tid = next(t for t in range(1, 1000) if owner_index(t, 2) == 1)  # owned by ``good``
        with pytest.raises(urllib.error.HTTPError) as err:
            post(wrong, otlp([(tid, 1, 0)]))
        assert err.value.code == 503
        assert good.app.storage.trace_reader().get_trace(tid) == []
    finally:
        wrong.close()
        good.close()
