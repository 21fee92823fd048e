"""TLS on every TCP listener, with real certificates (``tls_certs``), real clients (the
OpenTelemetry OTLP exporters, curl, grpcio, Python's ssl) and a running all-in-one.

The failures must be clean: the handshake fails with a clear error on the client, the
server keeps serving the next (good) client, and nothing is acknowledged or stored."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from conftest import RunningAllInOne
from tls_certs import Pki, make_pki, subject_cn

HTTP_LISTENERS = {  # listener name -> flag prefix
    "otlp_http": "collector.otlp.http", "collector_http": "collector.http", "zipkin_http": "collector.zipkin",
    "agent_sampling": "agent.sampling", "query_http": "query.http", "admin": "admin.http", "tempo_api": "tempo-api",
}
GRPC_LISTENERS = {"otlp_grpc": "collector.otlp.grpc", "collector_grpc": "collector.grpc", "query_grpc": "query.grpc"}
CURL = shutil.which("curl")


def tls_overrides(prefixes: Any, cert: str, key: str, client_ca: str = "", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for prefix in prefixes:
        attr = prefix.replace(".", "_").replace("-", "_") + "_tls_"
        out.update({attr + "enabled": True, attr + "cert": cert, attr + "key": key, attr + "client_ca": client_ca})
    out.update(extra)
    return out


@pytest.fixture(autouse=True)
def no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests (under the OTLP HTTP exporter) lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE win over
    the exporter's own ``certificate_file`` (psf/requests#3829); some machines set them."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[RunningAllInOne]:
    """Every TCP listener on TLS; OTLP (both) and query HTTP also require a client certificate."""
    plain = {p for p in [*HTTP_LISTENERS.values(), *GRPC_LISTENERS.values()]} - {"collector.otlp.grpc", "collector.otlp.http", "query.http"}
    running = RunningAllInOne(**{
        **tls_overrides(plain, pki.server.cert, pki.server.key),
        **tls_overrides(["collector.otlp.grpc", "collector.otlp.http", "query.http"], pki.server.cert, pki.server.key, pki.ca),
    })
    yield running
    running.close()


def span(service: str, name: str = "op") -> Any:
    tracer = TracerProvider(resource=Resource({"service.name": service})).get_tracer("tls-test")
    s = tracer.start_span(name)
    s.end()
    return s


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    if CURL is None:
        pytest.fail("curl is missing: `make curl` (or apt-get install curl) installs it")
    return subprocess.run([CURL, "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=30)


def services(server: RunningAllInOne, pki: Pki) -> list[str]:
    """The stored services, asked over mutual TLS with curl."""
    out = curl("--cacert", pki.ca, "--cert", pki.client.cert, "--key", pki.client.key,
               f"https://127.0.0.1:{server.ports['query_http']}/api/services")
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout)["data"]


def wait_for_service(server: RunningAllInOne, pki: Pki, name: str) -> None:
    deadline = time.monotonic() + 10
    while name not in services(server, pki):
        assert time.monotonic() < deadline, f"{name} was not stored"
        time.sleep(0.05)


def peer_cn(port: int, ca: str, alpn: str = "http/1.1") -> str:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return subject_cn(tls.getpeercert(binary_form=True))


# -- every listener ------------------------------------------------------------------------


def test_every_http_listener_answers_https_only(tls_server: RunningAllInOne, pki: Pki) -> None:
    for name in HTTP_LISTENERS:
        port = tls_server.ports[name]
        mutual = ["--cert", pki.client.cert, "--key", pki.client.key] if name in ("otlp_http", "query_http") else []
        out = curl("-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki.ca, *mutual, f"https://127.0.0.1:{port}/")
        assert out.returncode == 0, (name, out.stderr)
        assert out.stdout != "000", name
        assert peer_cn(port, pki.ca) == "spyglass-server", name
        plain = curl(f"http://127.0.0.1:{port}/")  # a plain client to a TLS port: no answer, no crash
        assert plain.returncode != 0, name


def test_every_grpc_listener_answers_tls_only(tls_server: RunningAllInOne, pki: Pki) -> None:
    ca = Path(pki.ca).read_bytes()
    client = dict(private_key=Path(pki.client.key).read_bytes(), certificate_chain=Path(pki.client.cert).read_bytes())
    for name in GRPC_LISTENERS:
        target = f"127.0.0.1:{tls_server.ports[name]}"
        creds = grpc.ssl_channel_credentials(ca, **(client if name == "otlp_grpc" else {}))
        with grpc.secure_channel(target, creds) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING, name
        with grpc.insecure_channel(target) as channel:  # plain client to a TLS port
            with pytest.raises(grpc.RpcError) as err:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
            assert err.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), name


def test_security_headers_and_hsts_over_tls(tls_server: RunningAllInOne, pki: Pki) -> None:
    out = curl("-i", "--cacert", pki.ca, "--cert", pki.client.cert, "--key", pki.client.key,
               f"https://127.0.0.1:{tls_server.ports['query_http']}/api/services")
    headers = out.stdout.lower()
    assert "strict-transport-security: max-age=31536000" in headers
    assert "x-content-type-options: nosniff" in headers
    assert "x-frame-options: deny" in headers


# -- OpenTelemetry exporters with CA files and client certificates ----------------------------


def test_otlp_grpc_exporter_mutual_tls(tls_server: RunningAllInOne, pki: Pki) -> None:
    creds = grpc.ssl_channel_credentials(Path(pki.ca).read_bytes(), Path(pki.client.key).read_bytes(),
                                         Path(pki.client.cert).read_bytes())
    exporter = GrpcExporter(endpoint=f"https://127.0.0.1:{tls_server.ports['otlp_grpc']}", credentials=creds, timeout=10)
    try:
        assert exporter.export([span("otlp-grpc-mtls")]) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    wait_for_service(tls_server, pki, "otlp-grpc-mtls")


def test_otlp_http_exporter_mutual_tls(tls_server: RunningAllInOne, pki: Pki) -> None:
    exporter = HttpExporter(endpoint=f"https://127.0.0.1:{tls_server.ports['otlp_http']}/v1/traces",
                            certificate_file=pki.ca, client_certificate_file=pki.client.cert,
                            client_key_file=pki.client.key, timeout=10)
    try:
        assert exporter.export([span("otlp-http-mtls")]) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()
    wait_for_service(tls_server, pki, "otlp-http-mtls")


def test_jaeger_thrift_http_with_curl_and_ca_file(tls_server: RunningAllInOne, pki: Pki) -> None:
    from spyglass.codecs.jaeger_thrift import encode_batches
    from spyglass.model import Resource, Span

    sp = Span(trace_id=7, span_id=7, name="op", start_time_ns=time.time_ns(), duration_ns=5000,
              resource=Resource("curl-thrift"))
    if CURL is None:
        pytest.fail("curl is missing: `make curl` (or apt-get install curl) installs it")
    proc = subprocess.run([CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki.ca,
                           "-H", "Content-Type: application/x-thrift", "--data-binary", "@-",
                           f"https://127.0.0.1:{tls_server.ports['collector_http']}/api/traces"],
                          input=encode_batches([sp], "binary")[0], capture_output=True, timeout=30)
    assert proc.stdout == b"202", proc.stderr
    wait_for_service(tls_server, pki, "curl-thrift")


# -- failures: clean, nothing acknowledged, the server keeps serving ----------------------------


def test_wrong_ca_fails_and_nothing_is_stored(tls_server: RunningAllInOne, pki: Pki) -> None:
    port = tls_server.ports["otlp_http"]
    out = curl("--cacert", pki.other_ca, "--cert", pki.client.cert, "--key", pki.client.key,
               f"https://127.0.0.1:{port}/v1/traces")
    assert out.returncode == 60, out.stderr  # curl: the peer's certificate cannot be verified
    exporter = HttpExporter(endpoint=f"https://127.0.0.1:{port}/v1/traces", certificate_file=pki.other_ca,
                            client_certificate_file=pki.client.cert, client_key_file=pki.client.key, timeout=3)
    assert exporter.export([span("wrong-ca")]) == SpanExportResult.FAILURE
    exporter.shutdown()
    creds = grpc.ssl_channel_credentials(Path(pki.other_ca).read_bytes(), Path(pki.client.key).read_bytes(),
                                         Path(pki.client.cert).read_bytes())
    exporter_g = GrpcExporter(endpoint=f"127.0.0.1:{tls_server.ports['otlp_grpc']}", credentials=creds, timeout=3)
    assert exporter_g.export([span("wrong-ca")]) == SpanExportResult.FAILURE
    exporter_g.shutdown()
    assert "wrong-ca" not in services(tls_server, pki)  # and the server still answers


def test_client_certificate_from_another_ca_is_refused(tls_server: RunningAllInOne, pki: Pki) -> None:
    exporter = HttpExporter(endpoint=f"https://127.0.0.1:{tls_server.ports['otlp_http']}/v1/traces",
                            certificate_file=pki.ca, client_certificate_file=pki.other_client.cert,
                            client_key_file=pki.other_client.key, timeout=3)
    assert exporter.export([span("foreign-client")]) == SpanExportResult.FAILURE
    exporter.shutdown()
    assert "foreign-client" not in services(tls_server, pki)


def test_missing_client_certificate_is_refused(tls_server: RunningAllInOne, pki: Pki) -> None:
    out = curl("--cacert", pki.ca, f"https://127.0.0.1:{tls_server.ports['query_http']}/api/services")
    assert out.returncode != 0 and out.stdout == "", out  # no answer without a client certificate
    exporter = GrpcExporter(endpoint=f"127.0.0.1:{tls_server.ports['otlp_grpc']}",
                            credentials=grpc.ssl_channel_credentials(Path(pki.ca).read_bytes()), timeout=3)
    assert exporter.export([span("no-client-cert")]) == SpanExportResult.FAILURE
    exporter.shutdown()
    exporter_h = HttpExporter(endpoint=f"https://127.0.0.1:{tls_server.ports['otlp_http']}/v1/traces",
                              certificate_file=pki.ca, timeout=3)
    assert exporter_h.export([span("no-client-cert")]) == SpanExportResult.FAILURE
    exporter_h.shutdown()
    assert "no-client-cert" not in services(tls_server, pki)


def test_tls_client_to_a_plain_port_fails_cleanly(pki: Pki) -> None:
    running = RunningAllInOne()
    try:
        port = running.ports["otlp_http"]
        out = curl("--cacert", pki.ca, f"https://127.0.0.1:{port}/v1/traces")
        assert out.returncode == 35, out.stderr  # curl: SSL connect error
        exporter = GrpcExporter(endpoint=f"127.0.0.1:{running.ports['otlp_grpc']}",
                                credentials=grpc.ssl_channel_credentials(Path(pki.ca).read_bytes()), timeout=3)
        assert exporter.export([span("tls-to-plain")]) == SpanExportResult.FAILURE
        exporter.shutdown()
        ok = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{running.ports['query_http']}/api/services")
        assert ok.stdout == "200"
        ok = curl(f"http://127.0.0.1:{running.ports['query_http']}/api/services")
        assert "tls-to-plain" not in ok.stdout
    finally:
        running.close()


def test_expired_certificates_are_refused(pki: Pki) -> None:
    """A server with an expired certificate: clients refuse it. An expired client
    certificate: the server refuses it."""
    running = RunningAllInOne(**tls_overrides(["query.http"], pki.expired.cert, pki.expired.key),
                              **tls_overrides(["collector.otlp.http"], pki.server.cert, pki.server.key, pki.ca))
    try:
        out = curl("--cacert", pki.ca, f"https://127.0.0.1:{running.ports['query_http']}/api/services")
        assert out.returncode == 60 and "expired" in out.stderr, out.stderr
        # the expired server certificate presented as a client certificate (same CA, expired)
        exporter = HttpExporter(endpoint=f"https://127.0.0.1:{running.ports['otlp_http']}/v1/traces",
                                certificate_file=pki.ca, client_certificate_file=pki.expired.cert,
                                client_key_file=pki.expired.key, timeout=3)
        assert exporter.export([span("expired-client")]) == SpanExportResult.FAILURE
        exporter.shutdown()
        ok = curl("--cacert", pki.ca, "--cert", pki.client.cert, "--key", pki.client.key, "-o", "/dev/null",
                  "-w", "%{http_code}", "-H", "Content-Type: application/json", "-d", "{}",
                  f"https://127.0.0.1:{running.ports['otlp_http']}/v1/traces")
        assert ok.stdout == "200", ok.stderr  # still serving good clients
    finally:
        running.close()


def test_min_version_13_refuses_a_tls12_client(pki: Pki) -> None:
    running = RunningAllInOne(**tls_overrides(["query.http"], pki.server.cert, pki.server.key),
                              query_http_tls_min_version="1.3")
    try:
        port = running.ports["query_http"]
        ctx = ssl.create_default_context(cafile=pki.ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with pytest.raises(ssl.SSLError):
                ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        out = curl("--cacert", pki.ca, "--tlsv1.3", "-o", "/dev/null", "-w", "%{http_code}", f"https://127.0.0.1:{port}/api/services")
        assert out.stdout == "200", out.stderr
    finally:
        running.close()


# -- reloading ---------------------------------------------------------------------------------


def _replace(src: str, dst: str) -> None:
    """Replace ``dst`` as deploy tools do: write a new file, rename it over the old one."""
    tmp = dst + ".new"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def test_replaced_certificate_files_are_served_to_new_connections(pki: Pki, tmp_path: Path) -> None:
    cert, key = str(tmp_path / "live.crt"), str(tmp_path / "live.key")
    shutil.copyfile(pki.server.cert, cert)
    shutil.copyfile(pki.server.key, key)
    running = RunningAllInOne(**tls_overrides(["query.http", "collector.otlp.grpc"], cert, key))
    try:
        http_port, grpc_port = running.ports["query_http"], running.ports["otlp_grpc"]
        assert peer_cn(http_port, pki.ca) == "spyglass-server"
        assert peer_cn(grpc_port, pki.ca, "h2") == "spyglass-server"
        renewed = pki.server_pair("renewed", common_name="spyglass-renewed")
        _replace(renewed.cert, cert)  # a half-done replacement: new certificate, old key
        time.sleep(1.2)
        assert peer_cn(http_port, pki.ca) == "spyglass-server"  # still the old pair, still serving
        _replace(renewed.key, key)
        deadline = time.monotonic() + 10
        while peer_cn(http_port, pki.ca) != "spyglass-renewed" or peer_cn(grpc_port, pki.ca, "h2") != "spyglass-renewed":
            assert time.monotonic() < deadline, "the renewed certificate was not served"
            time.sleep(0.2)
        exporter = GrpcExporter(endpoint=f"127.0.0.1:{grpc_port}",
                                credentials=grpc.ssl_channel_credentials(Path(pki.ca).read_bytes()), timeout=10)
        assert exporter.export([span("after-reload")]) == SpanExportResult.SUCCESS
        exporter.shutdown()
    finally:
        running.close()


# -- configuration errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"query_http_tls_enabled": True}, "--query.http.tls.enabled needs --query.http.tls.cert and --query.http.tls.key"),
        ({"query_http_tls_cert": "/x.crt"}, "--query.http.tls.enabled is not"),
        ({"query_http_tls_enabled": True, "query_http_tls_cert": "/nonexistent.crt", "query_http_tls_key": "/nonexistent.key"},
         "--query.http.tls.cert: cannot read /nonexistent.crt"),
        ("min13grpc", "gRPC listeners cannot enforce a minimum TLS version"),
        ("mismatch", "--admin.http.tls: cannot load"),
        ("badversion", "--admin.http.tls.min-version '1.1': one of 1.2, 1.3"),
    ],
)
def test_bad_tls_settings_are_one_clear_error(pki: Pki, overrides: Any, message: str) -> None:
    from spyglass.cmd.all_in_one import AllInOne
    from spyglass.config import Settings

    if overrides == "min13grpc":
        overrides = {**tls_overrides(["query.grpc"], pki.server.cert, pki.server.key), "query_grpc_tls_min_version": "1.3"}
    elif overrides == "mismatch":
        overrides = tls_overrides(["admin.http"], pki.server.cert, pki.client.key)
    elif overrides == "badversion":
        overrides = {**tls_overrides(["admin.http"], pki.server.cert, pki.server.key), "admin_http_tls_min_version": "1.1"}
    with pytest.raises(ValueError) as err:
        AllInOne(Settings.from_env({}, storage="memory", **overrides))
    assert message in str(err.value)
    assert "\n" not in str(err.value)
