"""Tenants through the buffered paths, with real processes: collectors stamp each span with
its tenant, and the tenant survives the NATS JetStream buffer to the ingester, and the
write-ahead log across a SIGKILL and replay, into that tenant's store."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline_procs import NatsServer, Spyglass, otlp_json
from support import wait_for

TENANCY = ("--multi-tenancy.enabled", "--multi-tenancy.tenants", "acme,globex")


def post(url: str, body: bytes, tenant: str) -> int:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", "x-tenant": tenant})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def services(query: Spyglass, tenant: str) -> set[str]:
    req = urllib.request.Request(query.url("query.http-port", "/api/services"), headers={"x-tenant": tenant})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return set(json.loads(resp.read())["data"] or [])
    except OSError:
        return set()


def trace_services(query: Spyglass, tenant: str, trace_id: int) -> set[str]:
    req = urllib.request.Request(query.url("query.http-port", f"/api/traces/{trace_id:x}"), headers={"x-tenant": tenant})
    with urllib.request.urlopen(req, timeout=10) as resp:
        data = json.loads(resp.read())["data"][0]
    return {p["serviceName"] for p in data["processes"].values()}


@pytest.fixture
def procs():
    started: list[Spyglass] = []
    try:
        yield started
    finally:
        for p in started:
            p.kill()


def send_both(collector: Spyglass, port_flag: str = "collector.otlp-http-port") -> None:
    for tenant in ("acme", "globex"):
        # The same trace ID for both: each tenant must get back only its own spans.
        assert post(collector.url(port_flag, "/v1/traces"), otlp_json(0x4242, 3, f"{tenant}-svc"), tenant) == 200


def check_apart(query: Spyglass) -> None:
    wait_for(lambda: services(query, "acme") == {"acme-svc"} and services(query, "globex") == {"globex-svc"},
             timeout=60, interval=0.2)
    assert trace_services(query, "acme", 0x4242) == {"acme-svc"}
    assert trace_services(query, "globex", 0x4242) == {"globex-svc"}


@pytest.mark.slow
def test_tenants_survive_the_nats_buffer_to_the_ingester(tmp_path: Path, procs) -> None:
    nats = NatsServer(tmp_path)
    nats.start()
    try:
        data = tmp_path / "storage"
        nats_flags = ("--nats.url", nats.url, "--nats.stream", "tenants")
        collector = Spyglass(tmp_path, "collector", "collector", "--collector.buffer", "nats", *nats_flags,
                             "--storage", "memory", *TENANCY)
        # The ingester routes by the tenant in each batch, with or without the flag.
        ingester = Spyglass(tmp_path, "ingester", "ingester", *nats_flags, "--storage", "sqlite", data_dir=data)
        query = Spyglass(tmp_path, "query", "query", *TENANCY, data_dir=data)
        for p in (collector, ingester, query):
            procs.append(p.start())
        send_both(collector)
        check_apart(query)
        assert (data / "tenants" / "acme").is_dir() and (data / "tenants" / "globex").is_dir()
    finally:
        nats.close()


@pytest.mark.slow
def test_tenants_survive_a_kill_9_through_the_write_ahead_log(tmp_path: Path, procs) -> None:
    # A long commit interval: what was acknowledged is only in the write-ahead log when killed.
    args = ("--collector.queue.durable", "--sqlite.commit-interval", "1h", *TENANCY)
    first = Spyglass(tmp_path, "aio", "all-in-one", *args)
    procs.append(first.start())
    send_both(first, "collector.otlp-http-port")
    first.kill(signal.SIGKILL)
    second = Spyglass(tmp_path, "aio", "all-in-one", *args, data_dir=first.data_dir, ports=first.ports)
    procs.append(second.start())
    check_apart(second)


def test_an_agent_forwards_its_udp_spans_as_its_tenant() -> None:
    """UDP has no header: ``spyglass agent --agent.tenant acme`` forwards as tenant acme."""
    import socket
    import subprocess
    import sys

    from conftest import RunningAllInOne
    from spyglass.codecs import jaeger_thrift as jt
    from spyglass.model import Resource, Span
    from support import free_port

    collector = RunningAllInOne(multi_tenancy_enabled=True, multi_tenancy_tenants="acme,globex")
    udp, admin = free_port(udp=True), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "spyglass.cli", "agent",
                             "--reporter.grpc.host-port", f"127.0.0.1:{collector.ports['collector_grpc']}",
                             "--agent.jaeger-compact-port", str(udp), "--agent.jaeger-binary-port", "0",
                             "--agent.zipkin-compact-port", "0", "--agent.sampling-port", str(free_port()),
                             "--admin.port", str(admin), "--agent.tenant", "acme"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        span = Span(0xACE, 1, "via-agent", 1_700_000_000_000_000_000, 5, Resource("agent-svc"))
        packet = jt.encode_agent_message([span], "compact")

        def stored() -> bool:  # resend until the agent listens (UDP gives no error)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(packet, ("127.0.0.1", udp))
            return bool(collector.app.storage.for_tenant("acme").trace_reader().get_trace(0xACE))

        wait_for(stored, timeout=30, interval=0.5)
        assert collector.app.storage.for_tenant("globex").trace_reader().get_trace(0xACE) == []
        assert collector.app.storage.trace_reader().get_trace(0xACE) == []
    finally:
        proc.kill()
        proc.wait()
        collector.close()
