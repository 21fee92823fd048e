"""The compose files, brought up with podman-compose: spans sent from the host to the published
receiver ports come back through the query container."""

from __future__ import annotations

import secrets
import threading
import time

import pytest

import deploy_podman as podman
from support import free_port
from deploy_clients import send_otlp, send_udp

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1500)]


def _ports(*names: str) -> dict[str, str]:
    return {f"HOST_PORT_{n}": str(free_port(udp=n == "6831")) for n in names}


def test_split_collector_and_query_on_one_sqlite_volume() -> None:
    podman.build_image()
    project = f"sgtest{secrets.token_hex(3)}"
    env = _ports("6831", "5778", "4317", "4318", "14268", "14250", "9411", "14269", "16686", "16685", "16687", "3200")
    query = f"http://127.0.0.1:{env['HOST_PORT_16686']}"
    with podman.compose(project, "deploy/compose/distributed-sqlite.yaml", env):
        podman.wait_http(f"http://127.0.0.1:{env['HOST_PORT_14269']}/")
        podman.wait_http(f"http://127.0.0.1:{env['HOST_PORT_16687']}/")
        send_otlp(f"127.0.0.1:{env['HOST_PORT_4317']}", "split-otlp", 10)
        send_udp(int(env["HOST_PORT_6831"]), "split-udp", 10)
        podman.wait_trace_count(query, "split-otlp", 10)
        podman.wait_trace_count(query, "split-udp", 10)
        tempo = podman.http_json(f"http://127.0.0.1:{env['HOST_PORT_3200']}/api/search?q=%7B%7D&limit=50")
        assert {t["rootServiceName"] for t in tempo["traces"]} >= {"split-otlp", "split-udp"}  # Grafana's port


def test_distributed_topology_loses_nothing_acknowledged_when_a_collector_dies() -> None:
    podman.build_image()
    podman.build_infra_images()
    project = f"sgtest{secrets.token_hex(3)}"
    env = _ports("4317", "4318", "14268", "14250", "9411", "14269", "4317_2", "4318_2", "14269_2",
                 "14270", "16686", "16685", "16687", "3200", "6831", "6832", "5778", "14271")
    query = f"http://127.0.0.1:{env['HOST_PORT_16686']}"
    with podman.compose(project, "deploy/compose/distributed.yaml", env):
        for port in ("14269", "14269_2", "14270", "16687", "14271"):
            podman.wait_http(f"http://127.0.0.1:{env['HOST_PORT_' + port]}/", timeout=120)
        send_udp(int(env["HOST_PORT_6831"]), "dist-udp", 10)
        send_otlp(f"127.0.0.1:{env['HOST_PORT_4317']}", "dist-otlp-1", 10)
        send_otlp(f"127.0.0.1:{env['HOST_PORT_4317_2']}", "dist-otlp-2", 10)
        for service in ("dist-udp", "dist-otlp-1", "dist-otlp-2"):
            podman.wait_trace_count(query, service, 10, timeout=120)

        acked = _load_while_killing(f"127.0.0.1:{env['HOST_PORT_4317_2']}", f"{project}_collector-2_1")
        assert len(acked) >= 20, f"only {len(acked)} exports acknowledged before the kill"
        deadline = time.monotonic() + 120
        missing_ids = set(acked)
        while missing_ids and time.monotonic() < deadline:
            for trace_id in list(missing_ids):
                try:
                    podman.http_json(f"{query}/api/traces/{trace_id}")
                    missing_ids.discard(trace_id)
                except OSError:
                    pass
            time.sleep(1)
        assert not missing_ids, f"{len(missing_ids)} of {len(acked)} acknowledged traces lost"


def _load_while_killing(endpoint: str, container: str) -> list[str]:
    """Exports one trace per OTLP call to ``endpoint``; kills ``container`` after 30 acknowledged
    calls and keeps sending until the calls fail. Returns the acknowledged trace IDs."""
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.resource.v1 import resource_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    acked: list[str] = []
    killer: threading.Thread | None = None
    with grpc.insecure_channel(endpoint) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        failures = 0
        for _ in range(2000):
            trace_id = secrets.token_bytes(16)
            now = time.time_ns()
            request = trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="dist-kill"))]),
                scope_spans=[trace_pb2.ScopeSpans(spans=[trace_pb2.Span(
                    trace_id=trace_id, span_id=secrets.token_bytes(8), name="load",
                    start_time_unix_nano=now - 1_000_000, end_time_unix_nano=now) for _ in range(5)])])])
            try:
                stub.Export(request, timeout=5)
                acked.append(trace_id.hex())
            except grpc.RpcError:
                failures += 1
                if failures >= 5:
                    break
            if len(acked) == 30 and killer is None:
                killer = threading.Thread(target=podman.run, args=("podman", "kill", container), daemon=True)
                killer.start()
    assert killer is not None and failures >= 5, "the collector never went away"
    killer.join(60)
    return acked
