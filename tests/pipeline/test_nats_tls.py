"""``--nats.tls.*``: collectors publish and ingesters fetch over TLS to Debian's nats-server
started with ``--tls --tlsverify`` (a client certificate required): spans posted to the
collector are stored by the ingester. A wrong CA or a missing client certificate never
acknowledges a span: the collector answers a retryable error instead."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import RunningAllInOne
from pipeline_procs import NatsServer, otlp_json
from tls_certs import Pki, make_pki

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def nats(tmp_path: Path, pki: Pki) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path, ("--tls", "--tlscert", pki.server.cert, "--tlskey", pki.server.key,
                                   "--tlsverify", "--tlscacert", pki.ca))
    server.start()
    yield server
    server.close()


def nats_settings(server: NatsServer, pki: Pki, **kw: Any) -> dict[str, Any]:
    return {"collector_buffer": "nats", "nats_url": server.url, "nats_tls_enabled": True, "nats_tls_ca": pki.ca,
            "nats_tls_cert": pki.client.cert, "nats_tls_key": pki.client.key, "nats_publish_timeout": "2s", **kw}


def post_otlp(running: RunningAllInOne, body: bytes) -> int:
    request = urllib.request.Request(running.url("otlp_http", "/v1/traces"), body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_collector_and_ingester_over_mutual_tls(nats: NatsServer, pki: Pki) -> None:
    from spyglass.cmd.ingester import Ingester
    from spyglass.config import Settings

    running = RunningAllInOne(**nats_settings(nats, pki))
    ingester = Ingester(Settings.from_env({}, storage="memory", admin_port=0, **nats_settings(nats, pki)))
    running.call(ingester.start())
    try:
        assert post_otlp(running, otlp_json(0xabc, 3, "nats-tls")) == 200
        reader = ingester.storage.trace_reader()
        deadline = time.monotonic() + 20
        while len(reader.get_trace(0xabc)) < 3:
            assert time.monotonic() < deadline, "the spans did not go through NATS over TLS"
            time.sleep(0.1)
    finally:
        running.call(ingester.stop())
        running.close()


@pytest.mark.parametrize("change", [{"nats_tls_ca": "other"}, {"nats_tls_cert": "", "nats_tls_key": ""}],
                         ids=["wrong-ca", "no-client-certificate"])
def test_bad_tls_to_nats_acknowledges_nothing(nats: NatsServer, pki: Pki, change: dict[str, Any],
                                             caplog: pytest.LogCaptureFixture) -> None:
    if change.get("nats_tls_ca") == "other":
        change = {"nats_tls_ca": pki.other_ca}
    running = RunningAllInOne(**nats_settings(nats, pki, **change))
    try:
        assert post_otlp(running, otlp_json(0xdef, 2, "nats-bad-tls")) == 503  # retryable, never 200
        with pytest.raises(urllib.error.HTTPError) as health:
            urllib.request.urlopen(running.url("admin", "/"), timeout=10)
        assert health.value.code == 503
    finally:
        running.close()
    if "ca" in next(iter(change)):
        assert any("TLS handshake" in r.getMessage() and "certificate verify failed" in r.getMessage()
                   for r in caplog.records), [r.getMessage() for r in caplog.records]
