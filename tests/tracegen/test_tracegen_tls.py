"""tracegen's ``--tls.*``: every TCP protocol to a collector whose receivers serve mutual
TLS, and ``--verify`` through a query port on TLS; a wrong CA acknowledges nothing."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import Iterator

import pytest

from conftest import RunningAllInOne
from spyglass.server.tls import ClientTlsConfig
from spyglass.tracegen.generator import TraceShape
from spyglass.tracegen.run import Options, run
from tls_certs import Pki, make_pki

PORT_OF = {"otlp-grpc": "otlp_grpc", "otlp-http": "otlp_http", "jaeger-grpc": "collector_grpc",
           "jaeger-http": "collector_http", "zipkin": "zipkin_http"}
PREFIXES = ["collector.otlp.grpc", "collector.otlp.http", "collector.grpc", "collector.http", "collector.zipkin", "query.http"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def aio(pki: Pki) -> Iterator[RunningAllInOne]:
    overrides = {}
    for prefix in PREFIXES:
        attr = prefix.replace(".", "_") + "_tls_"
        overrides.update({attr + "enabled": True, attr + "cert": pki.server.cert, attr + "key": pki.server.key,
                          attr + "client_ca": pki.ca})
    running = RunningAllInOne(**overrides)
    yield running
    running.close()


def client(pki: Pki, ca: str = "") -> ClientTlsConfig:
    return ClientTlsConfig("", enabled=True, ca=ca or pki.ca, cert=pki.client.cert, key=pki.client.key)


@pytest.mark.parametrize("protocol", list(PORT_OF))
def test_every_protocol_over_mutual_tls_verified_over_https(aio: RunningAllInOne, pki: Pki, protocol: str) -> None:
    options = Options(protocol=protocol, endpoint=f"127.0.0.1:{aio.ports[PORT_OF[protocol]]}", traces=5,
                      shape=TraceShape(services=1, service_prefix=f"tls-{protocol}", depth=2, fan_out=1),
                      verify_url=f"https://127.0.0.1:{aio.ports['query_http']}", verify_timeout=10, interval=0.2,
                      tls=client(pki))
    out = io.StringIO()
    report = asyncio.run(run(options, out))
    assert report.totals["acknowledged"] == 10 and report.totals["refused"] == 0, out.getvalue()
    assert report.verify is not None and report.verify["whole"] == 5 and report.verify["traces_lost"] == 0


@pytest.mark.parametrize("protocol", ["otlp-grpc", "otlp-http"])
def test_wrong_ca_acknowledges_nothing(aio: RunningAllInOne, pki: Pki, protocol: str) -> None:
    options = Options(protocol=protocol, endpoint=f"127.0.0.1:{aio.ports[PORT_OF[protocol]]}", traces=2,
                      shape=TraceShape(services=1, service_prefix="tls-wrong-ca", depth=1), tls=client(pki, pki.other_ca))
    report = asyncio.run(run(options, io.StringIO()))
    assert report.totals["acknowledged"] == 0 and report.totals["refused"] == 2


def test_cli_tls_flags(aio: RunningAllInOne, pki: Pki) -> None:
    argv = [sys.executable, "-m", "spyglass.cli", "tracegen", "--endpoint", f"localhost:{aio.ports['otlp_grpc']}",
            "--traces", "3", "--depth", "1", "--service", "tls-cli", "--tls.enabled", "--tls.ca", pki.ca,
            "--tls.cert", pki.client.cert, "--tls.key", pki.client.key,
            "--verify", f"https://localhost:{aio.ports['query_http']}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verify: 3 acknowledged traces checked, 3 whole" in done.stdout
    bad = subprocess.run([*argv[:4], "--tls.enabled", "--tls.cert", pki.client.cert], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--tls.cert and --tls.key go together" in bad.stderr and "Traceback" not in bad.stderr
