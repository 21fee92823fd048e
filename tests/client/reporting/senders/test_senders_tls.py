"""The tracer's HTTP senders to ``https://`` collectors: a CA file, a client certificate for
mutual TLS (config keys, and the OTel SDK's ``OTEL_EXPORTER_OTLP_*`` certificate variables for
``otlp_http``); a wrong CA or a missing client certificate is a ``SenderError``, nothing stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import wait_for

from conftest import RunningAllInOne
from spyglass.client import Config
from spyglass.client.reporting.senders import HTTPSender, OTLPHTTPSender, SenderError
from spyglass.model import Resource, Span
from tls_certs import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[RunningAllInOne]:
    overrides = {}
    for prefix in ("collector_http", "collector_otlp_http"):
        overrides.update({f"{prefix}_tls_enabled": True, f"{prefix}_tls_cert": pki.server.cert,
                          f"{prefix}_tls_key": pki.server.key, f"{prefix}_tls_client_ca": pki.ca})
    running = RunningAllInOne(**overrides)
    yield running
    running.close()


def https(server: RunningAllInOne, listener: str, path: str) -> str:
    return f"https://localhost:{server.ports[listener]}{path}"


def one_span(trace_id: int) -> list[Span]:
    return [Span(trace_id, 1, "op", 1_700_000_000_000_000_000, 1000, Resource("sender-tls"))]


def test_thrift_http_sender_with_ca_and_client_certificate(server: RunningAllInOne, pki: Pki) -> None:
    tracer = Config({"sampler": {"type": "const", "param": 1},
                     "sender": {"type": "http", "endpoint": https(server, "collector_http", "/api/traces"),
                                "ca_file": pki.ca, "client_cert": pki.client.cert, "client_key": pki.client.key}},
                    service_name="thrift-tls").new_tracer()
    with tracer.start_active_span("parent") as scope:
        pass
    tracer.close()
    reader = server.app.storage.trace_reader()
    wait_for(lambda: reader.get_trace(scope.span.trace_id))


def test_otlp_http_sender_takes_the_otel_certificate_variables(server: RunningAllInOne, pki: Pki) -> None:
    environ = {"OTEL_EXPORTER_OTLP_CERTIFICATE": pki.ca, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": pki.client.cert,
               "OTEL_EXPORTER_OTLP_CLIENT_KEY": pki.client.key}
    tracer = Config({"sampler": {"type": "const", "param": 1},
                     "sender": {"type": "otlp_http", "endpoint": https(server, "otlp_http", "/v1/traces")}},
                    service_name="otlp-tls", environ=environ).new_tracer()
    with tracer.start_active_span("parent") as scope:
        pass
    tracer.close()
    reader = server.app.storage.trace_reader()
    wait_for(lambda: reader.get_trace(scope.span.trace_id))


def test_wrong_ca_and_missing_client_certificate_are_sender_errors(server: RunningAllInOne, pki: Pki) -> None:
    url = https(server, "otlp_http", "/v1/traces")
    wrong_ca = OTLPHTTPSender(url, ca_file=pki.other_ca, client_cert=pki.client.cert, client_key=pki.client.key, timeout=5)
    with pytest.raises(SenderError, match="CERTIFICATE_VERIFY_FAILED"):
        wrong_ca.send(one_span(0x51))
    no_client = HTTPSender(https(server, "collector_http", "/api/traces"), ca_file=pki.ca, timeout=5)
    with pytest.raises(SenderError):
        no_client.send(one_span(0x52))
    assert server.app.storage.trace_reader().get_trace(0x51) == []
    assert server.app.storage.trace_reader().get_trace(0x52) == []
    with pytest.raises(ValueError, match="needs an https:// endpoint"):
        HTTPSender("http://localhost:14268/api/traces", ca_file=pki.ca)


def test_remote_sampler_asks_an_https_agent_with_a_ca_file(pki: Pki) -> None:
    running = RunningAllInOne(agent_sampling_tls_enabled=True, agent_sampling_tls_cert=pki.server.cert,
                              agent_sampling_tls_key=pki.server.key, sampling_default_sampling_probability=0.25)
    try:
        url = f"https://localhost:{running.ports['agent_sampling']}/sampling"
        tracer = Config({"sampler": {"type": "remote", "sampling_server_url": url, "ca_file": pki.ca}},
                        service_name="remote-tls").new_tracer()
        sampler = tracer.sampler
        wait_for(lambda: sampler.updates >= 1)
        assert sampler.errors == 0
        tracer.close()
        untrusted = Config({"sampler": {"type": "remote", "sampling_server_url": url, "ca_file": pki.other_ca}},
                           service_name="remote-tls").new_tracer()
        wait_for(lambda: untrusted.sampler.errors >= 1)
        assert "CERTIFICATE_VERIFY_FAILED" in (untrusted.sampler.last_error or "")
        untrusted.close()
    finally:
        running.close()
