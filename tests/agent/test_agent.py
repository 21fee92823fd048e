"""``spyglass agent`` end to end: jaeger-client over UDP -> the agent -> gRPC PostSpans ->
a real Spyglass collector (the all-in-one's collector role); sampling answered by the
collector and cached while it is away; and the agent against a collector that is down,
slow or refusing (RESOURCE_EXHAUSTED): bounded queue, counted drops, recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from jaeger_client import Config

from conftest import RunningAllInOne
from spyglass.cmd.agent import Agent
from spyglass.codecs import jaeger_thrift as jt
from spyglass.codecs.jaeger_proto import decode_post_spans
from spyglass.config import Settings
from spyglass.model import KeyValue, Resource, Span
from support import alive, children, free_port, wait_for

AGENT_PORTS = {"agent_jaeger_compact_port": 0, "agent_jaeger_binary_port": 0, "agent_zipkin_compact_port": 0,
               "agent_sampling_port": 0, "admin_port": 0}


async def until(predicate: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


def sample(agent: Agent, name: str, **labels: str) -> float:
    value = agent.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0


def dropped(agent: Agent, reason: str) -> float:
    return sample(agent, "spyglass_spans_dropped_total", reason=reason)


async def start_agent(collectors: str, **overrides: Any) -> Agent:
    settings = Settings.from_env({}, **{**AGENT_PORTS, "reporter_grpc_host_port": collectors, **overrides})
    agent = Agent(settings)
    await agent.start()
    return agent


def packets(n_packets: int, per_packet: int = 10, service: str = "svc", first_trace: int = 1) -> list[bytes]:
    out = []
    resource = Resource(service, [KeyValue("hostname", "h1")])
    for p in range(n_packets):
        spans = [Span(trace_id=first_trace + p, span_id=i + 1, name="op", start_time_ns=time.time_ns(),
                      duration_ns=1000, resource=resource) for i in range(per_packet)]
        out.append(jt.encode_agent_message(spans, "compact"))
    return out


def send_udp(port: int, payloads: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in payloads:
            s.sendto(p, ("127.0.0.1", port))


class ScriptedCollector:
    """A gRPC server speaking CollectorService/PostSpans whose answer the test chooses:
    ``ok``, ``exhausted`` (RESOURCE_EXHAUSTED, as a collector with a full queue) or
    ``slow`` (answers after ``delay`` seconds)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 2.0
        self.spans = 0
        self.calls = 0
        self.batches: list[list[Span]] = []
        self.peers: set[str] = set()  # the client address:port of each connection a call came on
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def handle(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.calls += 1
        self.peers.add(context.peer())
        if self.mode == "exhausted":
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full")
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        batch = decode_post_spans(request)
        self.batches.append(batch)
        self.spans += len(batch)
        return b""

    async def start(self, port: int = 0) -> None:
        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(self.handle)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("jaeger.api_v2.CollectorService", {"PostSpans": handler}),))
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(0)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedCollector]:
    c = ScriptedCollector()
    await c.start()
    yield c
    await c.stop()


@pytest.mark.parametrize("decoder_processes", [0, 1])
async def test_jaeger_client_spans_reach_the_collector_with_agent_tags(
        monkeypatch: pytest.MonkeyPatch, decoder_processes: int) -> None:
    collector = await asyncio.to_thread(RunningAllInOne)
    monkeypatch.setenv("SPYGLASS_TEST_ZONE", "zone-7")
    agent = await start_agent(f"127.0.0.1:{collector.ports['collector_grpc']}",
                              agent_tags="dc=eu,zone=${SPYGLASS_TEST_ZONE:none},rack=${SPYGLASS_UNSET_VAR:r1}",
                              agent_decoder_processes=decoder_processes)
    assert (agent.decoders is not None) == (decoder_processes > 0)
    tracer = Config(config={"sampler": {"type": "const", "param": 1}, "logging": False,
                            "local_agent": {"reporting_host": "127.0.0.1",
                                            "reporting_port": agent.ports["agent_jaeger_compact"]},
                            "reporter_flush_interval": 0.05, "tags": {"region": "r9"}},
                    service_name="shop", validate=True).new_tracer()
    try:
        root = tracer.start_span("GET /cart")
        child = tracer.start_span("SELECT", child_of=root)
        child.finish()
        root.finish()
        reader = collector.app.storage.trace_reader()
        spans = await until(lambda: (t := reader.get_trace(root.trace_id)) and len(t) == 2 and t)
    finally:
        tracer.close()
        await agent.stop()
        await asyncio.to_thread(collector.close)
    assert {s.name for s in spans} == {"GET /cart", "SELECT"}
    process = dict(spans[0].resource.attributes)
    assert spans[0].resource.service_name == "shop"
    assert process["region"] == "r9"  # the client's own process tag survives
    assert (process["dc"], process["zone"], process["rack"]) == ("eu", "zone-7", "r1")
    assert sample(agent, "spyglass_agent_spans_forwarded_total",
                  collector=f"127.0.0.1:{collector.ports['collector_grpc']}") == 2


async def test_sampling_comes_from_the_collector_and_is_cached_while_it_is_away() -> None:
    collector = await asyncio.to_thread(RunningAllInOne, sampling_default_sampling_probability=0.25)
    agent = await start_agent(f"127.0.0.1:{collector.ports['collector_grpc']}")
    base = f"http://127.0.0.1:{agent.ports['agent_sampling']}"
    try:
        async with aiohttp.ClientSession() as http:
            async def get(path: str) -> tuple[int, Any]:
                async with http.get(base + path) as resp:
                    return resp.status, (await resp.json() if resp.status == 200 else await resp.text())

            status, body = await get("/sampling?service=shop")
            assert status == 200
            assert body == {"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.25}}
            status, legacy = await get("/?service=shop")
            assert status == 200 and legacy["strategyType"] == 0
            await asyncio.to_thread(collector.close)
            status, cached = await get("/sampling?service=shop")
            assert status == 200 and cached == body
            status, text = await get("/sampling?service=never-seen")
            assert status == 500 and text.startswith("collector error:")
            status, text = await get("/sampling")
            assert status == 400
        assert sample(agent, "spyglass_agent_sampling_requests_total", result="collector") == 2
        assert sample(agent, "spyglass_agent_sampling_requests_total", result="cache") == 1
    finally:
        await agent.stop()


async def test_collector_down_bounded_queue_counted_drops_then_recovery() -> None:
    """Both queues are bounded: the forwarder's (spans) and, in front of the decoder, the
    receive queue (bytes of datagrams), where datagrams wait while the forwarder is full."""
    port = free_port()
    burst = packets(300)  # 3,000 spans, nobody to forward to
    agent = await start_agent(f"127.0.0.1:{port}", reporter_queue_size=500, reporter_batch_size=100,
                              reporter_grpc_retry_max=1, agent_receive_queue_bytes=20 * max(map(len, burst)))
    udp = agent.ports["agent_jaeger_compact"]
    compact = next(r for r in agent.receivers if r.name == "agent_jaeger_compact")
    collector = None

    def rejected() -> float:
        return sample(agent, "spyglass_requests_rejected_total", receiver="agent_jaeger_compact",
                      format="jaeger_thrift_compact", reason="receive_queue_full")

    try:
        send_udp(udp, burst)  # blocks the loop: the reading thread queues 20 datagrams, refuses the rest
        await until(lambda: compact.packets_received == 300)
        # (what the thread had not read by the end of the send may find room freed by the decoder)
        assert 200 < rejected() <= 280
        assert len(agent.forwarder) <= 500
        assert len(agent.forwarder) + agent.forwarder.in_flight <= 500 + 4 * 100
        await until(lambda: dropped(agent, "send_failed") > 0)  # retries exhausted, counted
        assert sample(agent, "spyglass_agent_collector_up", collector=f"127.0.0.1:{port}") == 0

        collector = await asyncio.to_thread(RunningAllInOne, collector_grpc_port=port)
        reader = collector.app.storage.trace_reader()
        send_udp(udp, packets(5, first_trace=10_000))
        await until(lambda: all(reader.get_trace(10_000 + i) for i in range(5)), timeout=30)
    finally:
        await agent.stop()
        if collector is not None:
            await asyncio.to_thread(collector.close)
    received = sample(agent, "spyglass_spans_received_total", receiver="agent_jaeger_compact",
                      format="jaeger_thrift_compact")
    assert received + 10 * rejected() == 3050  # every datagram decoded or counted as refused
    forwarded = sample(agent, "spyglass_agent_spans_forwarded_total", collector=f"127.0.0.1:{port}")
    lost = sum(dropped(agent, r) for r in ("queue_full", "send_failed", "shutdown"))
    assert forwarded + lost == received  # every span is accounted for


async def test_resource_exhausted_is_retried_and_counted(scripted: ScriptedCollector) -> None:
    scripted.mode = "exhausted"
    agent = await start_agent(f"127.0.0.1:{scripted.port}", reporter_queue_size=1000, reporter_batch_size=100,
                              reporter_grpc_retry_max=2)
    try:
        send_udp(agent.ports["agent_jaeger_compact"], packets(20))
        await until(lambda: dropped(agent, "send_failed") == 200)
        refused = sample(agent, "spyglass_agent_batches_total", collector=f"127.0.0.1:{scripted.port}",
                         result="RESOURCE_EXHAUSTED")
        assert refused == scripted.calls and refused % 3 == 0  # every batch tried 1 + 2 times
        scripted.mode = "ok"
        send_udp(agent.ports["agent_jaeger_compact"], packets(10))
        await until(lambda: scripted.spans == 100)
    finally:
        await agent.stop()


async def test_slow_collector_times_out_and_memory_stays_bounded(scripted: ScriptedCollector) -> None:
    scripted.mode, scripted.delay = "slow", 1.0
    agent = await start_agent(f"127.0.0.1:{scripted.port}", reporter_queue_size=200, reporter_batch_size=50,
                              reporter_grpc_retry_max=0, reporter_grpc_timeout="200ms")
    try:
        send_udp(agent.ports["agent_jaeger_compact"], packets(100))  # 1,000 spans
        await until(lambda: sample(agent, "spyglass_spans_received_total", receiver="agent_jaeger_compact",
                                   format="jaeger_thrift_compact") == 1000)
        assert len(agent.forwarder) + agent.forwarder.in_flight <= 200 + 4 * 50
        await until(lambda: dropped(agent, "send_failed") >= 50)
        scripted.mode = "ok"
        await until(lambda: len(agent.forwarder) == 0 and agent.forwarder.in_flight == 0)
        before = scripted.spans
        send_udp(agent.ports["agent_jaeger_compact"], packets(3))
        await until(lambda: scripted.spans >= before + 30)
    finally:
        await agent.stop()
    m = lambda r: dropped(agent, r)  # noqa: E731
    assert scripted.spans + m("queue_full") + m("send_failed") + m("shutdown") >= 1030


async def test_round_robin_over_healthy_collectors(scripted: ScriptedCollector) -> None:
    second = ScriptedCollector()
    await second.start()
    dead = free_port()
    agent = await start_agent(f"127.0.0.1:{scripted.port},127.0.0.1:{second.port},127.0.0.1:{dead}",
                              reporter_batch_size=10)
    try:
        for i in range(30):
            send_udp(agent.ports["agent_jaeger_compact"], packets(1, first_trace=i + 1))
            await asyncio.sleep(0.01)
        await until(lambda: scripted.spans + second.spans == 300)
        assert scripted.spans > 0 and second.spans > 0
    finally:
        await agent.stop()
        await second.stop()
    assert dropped(agent, "send_failed") == 0  # the dead one was skipped, not retried into the ground


@pytest.mark.parametrize("connections", [1, 3])
async def test_each_collector_gets_its_connections(scripted: ScriptedCollector, connections: int) -> None:
    """A collector's --workers processes share its port per TCP connection, so the agent
    spreads its calls over ``--reporter.grpc.connections`` connections per collector."""
    agent = await start_agent(f"127.0.0.1:{scripted.port}", reporter_batch_size=10,
                              reporter_grpc_connections=connections)
    try:
        for i in range(12):
            send_udp(agent.ports["agent_jaeger_compact"], packets(1, first_trace=i + 1))
            await until(lambda: scripted.spans == 10 * (i + 1))
    finally:
        await agent.stop()
    assert len(scripted.peers) == connections


def test_bad_flags_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="host:port"):
        Agent(Settings.from_env({}, reporter_grpc_host_port="nohost"))
    with pytest.raises(ValueError, match="connections"):
        Agent(Settings.from_env({}, reporter_grpc_host_port="127.0.0.1:1", reporter_grpc_connections=0))
    with pytest.raises(ValueError, match="key=value"):
        Agent(Settings.from_env({}, reporter_grpc_host_port="127.0.0.1:1", agent_tags="novalue"))


@pytest.mark.parametrize("decoder_processes", [0, 2])
async def test_hostile_packets_are_counted_and_good_ones_forwarded_in_order(
        scripted: ScriptedCollector, decoder_processes: int) -> None:
    """Broken datagrams among good ones, in the agent's process and in decoder processes:
    each broken one is counted, every good span is forwarded, and the packets of one
    client keep their order."""
    agent = await start_agent(f"127.0.0.1:{scripted.port}", reporter_batch_size=10_000,
                              agent_decoder_processes=decoder_processes)
    good = packets(200)
    data = good[0]
    hostile = [b"", b"\x00", data[: len(data) // 2], data[:30] + b"\xff" * 40, b"\x82\x81\x00\x04ping\x00"]
    mixed = [p for i, g in enumerate(good) for p in ([g, hostile[i % 5]] if i % 10 == 0 else [g])]
    try:
        send_udp(agent.ports["agent_jaeger_compact"], mixed)
        await until(lambda: scripted.spans == 2000)
        assert sample(agent, "spyglass_requests_rejected_total", receiver="agent_jaeger_compact",
                      format="jaeger_thrift_compact", reason="decode_error") == 20
    finally:
        await agent.stop()
    for batch in scripted.batches:  # the senders run side by side; within a request, arrival order
        trace_ids = [s.trace_id for s in batch]
        assert trace_ids == sorted(trace_ids)  # packets(n) numbers its traces in sending order


async def test_a_killed_decoder_process_is_replaced(scripted: ScriptedCollector) -> None:
    """A decoder process killed (the OOM killer, an operator): the pool starts again and
    the next packets are transcoded and forwarded; the agent keeps serving."""
    agent = await start_agent(f"127.0.0.1:{scripted.port}", agent_decoder_processes=1)
    udp = agent.ports["agent_jaeger_compact"]
    try:
        send_udp(udp, packets(10))
        await until(lambda: scripted.spans == 100)
        assert agent.decoders is not None
        (worker,) = list(agent.decoders._executor._processes.values())  # type: ignore[union-attr]
        os.kill(worker.pid, signal.SIGKILL)
        await asyncio.to_thread(worker.join, 10)
        send_udp(udp, packets(10, first_trace=1_000))
        await until(lambda: scripted.spans == 200, timeout=30)
        (replacement,) = list(agent.decoders._executor._processes.values())  # type: ignore[union-attr]
        assert replacement.pid != worker.pid and replacement.is_alive()
    finally:
        await agent.stop()


def test_sigkill_of_the_agent_leaves_no_decoder_process() -> None:
    """An agent killed with SIGKILL cannot stop its decoder processes, and a pool worker
    waiting for work never sees its queue close: they must die with it (as they did not)."""
    admin = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "spyglass.cli", "agent",
                             "--reporter.grpc.host-port", f"127.0.0.1:{free_port()}",
                             "--agent.jaeger-compact-port", str(free_port(udp=True)),
                             "--agent.jaeger-binary-port", "0", "--agent.zipkin-compact-port", "0",
                             "--agent.sampling-port", str(free_port()), "--admin.port", str(admin),
                             "--agent.decoder-processes", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def decoders() -> list[int]:
        def is_decoder(pid: int) -> bool:
            try:
                return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                return False
        return [pid for pid in children(proc.pid) if is_decoder(pid)]

    try:
        wait_for(lambda: len(decoders()) == 2, timeout=60, interval=0.2)
        workers = decoders()
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10)
