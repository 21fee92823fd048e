"""The agent's UDP server: the real jaeger-client sends to the compact port; our own encoder
to the binary port; hostile packets are counted and the server keeps serving."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import opentracing
import pytest
from jaeger_client import Config

from spyglass.agent.udp_server import UdpServer
from spyglass.codecs import jaeger_thrift as jt
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.model import Event, KeyValue, Link, RefType, Resource, Span, SpanKind, StatusCode
from spyglass.storage.memory import MemoryStore

U64 = (1 << 64) - 1


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll without blocking the event loop that runs the server."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def counter(metric: Any, *labels: str) -> float:
    return metric.labels(*labels)._value.get()


@pytest.fixture
def processor() -> Any:
    store = MemoryStore()
    proc = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=100_000))
    proc.start()
    proc.store = store  # type: ignore[attr-defined]
    yield proc
    proc.close()


async def _server(processor: SpanProcessor, protocol: str, **kwargs: Any) -> UdpServer:
    server = UdpServer(
        name=f"agent_{protocol}",
        host="127.0.0.1",
        port=0,
        decode=partial(jt.decode_agent_message, protocol=protocol),
        fmt=f"jaeger_thrift_{protocol}",
        processor=processor,
        **kwargs,
    )
    await server.start()
    return server


@pytest.fixture
async def compact(processor: SpanProcessor) -> AsyncIterator[UdpServer]:
    server = await _server(processor, "compact")
    yield server
    await server.stop()


@pytest.fixture
async def binary(processor: SpanProcessor) -> AsyncIterator[UdpServer]:
    server = await _server(processor, "binary")
    yield server
    await server.stop()


def send(port: int, *packets: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in packets:
            s.sendto(p, ("127.0.0.1", port))


async def test_jaeger_client_spans_arrive_with_every_field(compact: UdpServer, processor: Any) -> None:
    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": compact.port},
            "generate_128bit_trace_id": True,
            "reporter_flush_interval": 0.05,
            "tags": {"region": "eu-1"},
            "logging": False,
        },
        service_name="shop",
        validate=True,
    )
    tracer = config.new_tracer()
    process_tags = dict(tracer.tags)  # jaeger.version, hostname, ip and our "region"
    try:
        root = tracer.start_span("GET /cart", tags={"span.kind": "server", "http.status_code": 200})
        root.set_tag("ratio", 0.5)
        root.set_tag("cached", False)
        root.set_tag("user", "ann")
        root.log_kv({"event": "cache miss", "key": "cart:1"}, timestamp=root.start_time + 0.001)
        child = tracer.start_span("SELECT", child_of=root, tags={"span.kind": "client", "error": True})
        other = tracer.start_span("elsewhere")  # another trace, referenced across traces
        follower = tracer.start_span(
            "async job", child_of=root, references=[opentracing.follows_from(other.context)]
        )
        for s in (follower, other, child, root):
            s.finish()
        sent = {s.span_id: s for s in (root, child, other, follower)}
        store: MemoryStore = processor.store
        traces = await until(lambda: (a := store.get_trace(root.trace_id)) and len(a) == 3
                             and store.get_trace(other.trace_id) and (a, store.get_trace(other.trace_id)))
    finally:
        tracer.close()

    got = {s.span_id: s for s in traces[0] + traces[1]}
    assert set(got) == set(sent)
    assert root.trace_id >> 64  # a real 128-bit ID went over the wire
    for span_id, theirs in sent.items():
        ours = got[span_id]
        assert ours.trace_id == theirs.trace_id
        assert ours.parent_span_id == (theirs.parent_id or 0)
        assert ours.name == theirs.operation_name
        assert ours.start_time_ns == int(theirs.start_time * 1_000_000) * 1000
        assert ours.duration_ns == int((theirs.end_time - theirs.start_time) * 1_000_000) * 1000
        assert ours.flags == 1  # sampled
        resource = ours.resource
        assert resource.service_name == "shop"
        process = dict(resource.attributes)
        assert process == process_tags
        assert process["region"] == "eu-1" and process["hostname"] == socket.gethostname()

    r = got[root.span_id]
    assert r.kind is SpanKind.SERVER and r.status.code is StatusCode.UNSET
    attrs = dict(r.attributes)
    assert attrs["http.status_code"] == 200 and type(attrs["http.status_code"]) is int
    assert attrs["ratio"] == 0.5 and attrs["cached"] is False and attrs["user"] == "ann"
    assert attrs["sampler.type"] == "const" and attrs["sampler.param"] is True
    assert r.events == [Event(int((root.start_time + 0.001) * 1_000_000) * 1000, "cache miss",
                              [KeyValue("key", "cart:1")])]
    c = got[child.span_id]
    assert c.kind is SpanKind.CLIENT and c.status.code is StatusCode.ERROR
    assert "error" not in dict(c.attributes)
    f = got[follower.span_id]
    assert f.parent_span_id == root.span_id
    assert f.links == [Link(other.trace_id, other.span_id, RefType.FOLLOWS_FROM)]
    assert counter(processor.metrics.spans_accepted, "agent_compact", "jaeger_thrift_compact") == 4
    assert counter(processor.metrics.bytes_received, "agent_compact", "jaeger_thrift_compact") > 0


def _spans(n: int, resource: Resource, first_id: int = 1) -> list[Span]:
    return [
        Span(
            trace_id=(0x8000_0000_0000_00AA << 64) | (i // 10 + 1),
            span_id=U64 - i,  # negative as Thrift i64
            name=f"op-{i % 7}",
            start_time_ns=1_700_000_000_000_000_000 + i * 1000,
            duration_ns=5000,
            resource=resource,
            parent_span_id=0 if i % 10 == 0 else U64 - (i // 10) * 10,
            attributes=[KeyValue("i", i), KeyValue("s", "x" * 20), KeyValue("b", True), KeyValue("bin", b"\x01")],
            flags=1,
        )
        for i in range(first_id - 1, first_id - 1 + n)
    ]


async def test_binary_port_with_our_encoder(binary: UdpServer, processor: Any) -> None:
    resource = Resource("billing", [KeyValue("hostname", "h")])
    spans = _spans(30, resource)
    packets, too_large = jt.split_agent_messages(spans, "binary", max_packet_size=2000)
    assert not too_large and len(packets) > 1
    send(binary.port, *packets)
    store: MemoryStore = processor.store
    await until(lambda: sum(len(store.get_trace(t)) for t in {s.trace_id for s in spans}) == 30)
    got = sorted((s for t in {s.trace_id for s in spans} for s in store.get_trace(t)), key=lambda s: -s.span_id)
    assert got == spans
    assert binary.packets_received == len(packets)


async def test_hostile_packets_are_counted_and_server_keeps_serving(compact: UdpServer, processor: Any) -> None:
    good = jt.encode_agent_message(_spans(3, Resource("svc")), "compact")
    oversized = jt.encode_agent_message(
        [Span(trace_id=1, span_id=1, name="big", start_time_ns=0, duration_ns=0, resource=Resource("svc"),
              attributes=[KeyValue("blob", "z" * 65_100)])],
        "compact",
    )
    assert 65_000 < len(oversized) <= 65_507  # still one datagram on loopback
    binary_framed = jt.encode_agent_message(_spans(1, Resource("svc")), "binary")
    send(compact.port, b"\x00garbage\xff" * 10, good[: len(good) // 2], oversized, binary_framed, b"", good)
    store: MemoryStore = processor.store
    await until(lambda: compact.packets_received == 6)
    await until(lambda: len(store.get_trace(_spans(1, Resource("x"))[0].trace_id)) == 3)
    m = processor.metrics
    assert counter(m.requests_rejected, "agent_compact", "jaeger_thrift_compact", "decode_error") == 4
    assert counter(m.requests_rejected, "agent_compact", "jaeger_thrift_compact", "too_large") == 1
    assert counter(m.spans_accepted, "agent_compact", "jaeger_thrift_compact") == 3


async def test_smaller_max_packet_size(processor: Any) -> None:
    server = await _server(processor, "compact", max_packet_size=200)
    try:
        small = jt.encode_agent_message(_spans(1, Resource("s")), "compact")
        large = jt.encode_agent_message(_spans(5, Resource("s")), "compact")
        assert len(small) <= 200 < len(large)
        send(server.port, large, small)
        await until(lambda: server.packets_received == 2)
        m = processor.metrics
        assert counter(m.requests_rejected, server.name, server.fmt, "too_large") == 1
        await until(lambda: counter(m.spans_accepted, server.name, server.fmt) == 1)
    finally:
        await server.stop()


async def test_queue_full_drops_are_counted_not_raised() -> None:
    processor = SpanProcessor(MemoryStore(), IngestMetrics(), ProcessorConfig(queue_size=5))  # never started
    server = await _server(processor, "compact")
    try:
        packet = jt.encode_agent_message(_spans(3, Resource("s")), "compact")
        send(server.port, packet, packet, packet)
        await until(lambda: server.packets_received == 3)
        m = processor.metrics
        assert counter(m.spans_accepted, server.name, server.fmt) == 3
        assert counter(m.spans_rejected, server.name, server.fmt, "queue_full") == 6
        assert m.spans_dropped.labels("queue_full")._value.get() == 6
    finally:
        await server.stop()


async def test_receive_buffer_is_enlarged(compact: UdpServer) -> None:
    rmem_max = int(open("/proc/sys/net/core/rmem_max").read())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:  # can this process pass rmem_max (root with CAP_NET_ADMIN)?
            probe.setsockopt(socket.SOL_SOCKET, 33, 1 << 20)  # SO_RCVBUFFORCE
            privileged = True
        except PermissionError:
            privileged = False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain:
        default = plain.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    # Linux reports twice the granted size.
    granted = compact.receive_buffer_bytes if privileged else min(compact.receive_buffer_bytes, rmem_max)
    assert compact.effective_receive_buffer == 2 * granted
    assert compact.effective_receive_buffer > default


async def test_throughput_without_drops(compact: UdpServer, processor: Any) -> None:
    """20,000 spans sent as fast as one thread can, in full 65,000-byte packets: none lost."""
    spans = _spans(20_000, Resource("load", [KeyValue("hostname", "h"), KeyValue("ip", "10.0.0.1")]))
    packets, _ = jt.split_agent_messages(spans, "compact", max_packet_size=65_000)
    sender = threading.Thread(target=send, args=(compact.port, *packets))
    started = time.perf_counter()
    sender.start()
    await until(lambda: counter(processor.metrics.spans_accepted, compact.name, compact.fmt) == 20_000, 30)
    elapsed = time.perf_counter() - started
    sender.join()
    assert compact.packets_received == len(packets)
    print(f"\n{20_000 / elapsed:,.0f} spans/s through UDP compact ({len(packets)} packets)")


async def test_unhealthy_storage_drops_are_counted() -> None:
    from spyglass.storage.api import Health

    processor = SpanProcessor(MemoryStore(), IngestMetrics(), health=lambda: Health(False, "lock lost"))
    processor.start()
    server = await _server(processor, "compact")
    try:
        await until(lambda: not processor.storage_healthy)
        send(server.port, jt.encode_agent_message(_spans(3, Resource("s")), "compact"))
        m = processor.metrics
        await until(lambda: counter(m.spans_rejected, server.name, server.fmt, "storage_unavailable") == 3)
        assert m.spans_dropped.labels("storage_unavailable")._value.get() == 3
        assert counter(m.spans_accepted, server.name, server.fmt) == 0
    finally:
        await server.stop()
        processor.close()


async def test_kernel_drops_of_a_full_receive_buffer_are_a_metric(processor: Any) -> None:
    """A reader that falls behind (here: a receive buffer of one datagram against a burst
    sent in a tight loop, which also holds the GIL the reading thread needs) makes the
    kernel drop packets; spyglass_udp_packets_dropped_total shows them per listener."""
    server = await _server(processor, "compact", receive_buffer_bytes=1)  # the kernel's minimum
    registry = processor.metrics.registry
    labels = {"listener": "agent_compact"}
    try:
        assert registry.get_sample_value("spyglass_udp_packets_dropped_total", labels) == 0
        send(server.port, *[b"\0" * 1000] * 500)  # blocks the loop; the thread cannot keep up
        dropped = await until(lambda: registry.get_sample_value("spyglass_udp_packets_dropped_total", labels))
        assert 0 < dropped < 500
        await until(lambda: server.packets_received + dropped >= 500)
        assert server.packets_received + dropped == 500
    finally:
        await server.stop()
    # the count survives the socket (a counter never goes back)
    assert registry.get_sample_value("spyglass_udp_packets_dropped_total", labels) == dropped


def paced_send(port: int, payloads: list[bytes], per_second: float) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        started = time.monotonic()
        for i, p in enumerate(payloads):
            sock.sendto(p, ("127.0.0.1", port))
            pause = started + (i + 1) / per_second - time.monotonic()
            if pause > 0:
                time.sleep(pause)


async def test_a_stalled_decoder_does_not_leave_the_socket_unread(processor: Any) -> None:
    """The event loop (the decoder) is blocked while 2,000 datagrams, ~8x what the small
    receive buffer holds, arrive at a steady pace: the reading thread queues them, the kernel
    drops none, and every span is decoded once the loop runs again. (Before the thread,
    this lost most of them: see test_kernel_drops_of_a_full_receive_buffer_are_a_metric.)"""
    server = await _server(processor, "compact", receive_buffer_bytes=128 * 1024)
    registry = processor.metrics.registry
    labels = {"listener": "agent_compact"}
    try:
        payloads = [jt.encode_agent_message(_spans(10, Resource("s"), first_id=i * 10 + 1), "compact") for i in range(2000)]
        assert sum(len(p) for p in payloads) > 4 * server.effective_receive_buffer
        sender = threading.Thread(target=paced_send, args=(server.port, payloads, 1000))
        sender.start()
        sender.join()  # blocks the event loop for the whole send (~2 s): nothing is decoded meanwhile
        assert server.queued_bytes > 0 and server._handled == 0
        assert registry.get_sample_value("spyglass_udp_receive_queue_bytes", labels) == server.queued_bytes
        assert registry.get_sample_value("spyglass_udp_packets_dropped_total", labels) == 0
        await until(lambda: server.packets_received == 2000)
        assert counter(processor.metrics.spans_accepted, server.name, server.fmt) == 20_000
        assert server.queued_bytes == 0
        assert registry.get_sample_value("spyglass_udp_receive_queue_bytes", labels) == 0
    finally:
        await server.stop()


async def test_a_full_receive_queue_drops_and_counts_datagrams(processor: Any) -> None:
    packet = jt.encode_agent_message(_spans(2, Resource("s")), "compact")
    server = await _server(processor, "compact", receive_queue_bytes=10 * len(packet))
    try:
        sender = threading.Thread(target=paced_send, args=(server.port, [packet] * 30, 500))
        sender.start()
        sender.join()  # the loop is blocked: the queue fills after 10 datagrams
        await until(lambda: server.packets_received == 30)
        m = processor.metrics
        assert counter(m.requests_rejected, server.name, server.fmt, "receive_queue_full") == 20
        assert counter(m.spans_accepted, server.name, server.fmt) == 20
    finally:
        await server.stop()
