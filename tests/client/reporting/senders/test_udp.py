"""UDP Thrift compact packets as an independent Thrift implementation (thriftpy2 loading
our .thrift files) reads them, packet splitting at 65,000 bytes, and end to end into a
running all-in-one's agent port."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import thriftpy2
from opentracing.ext import tags as ext_tags
from support import wait_for
from thriftpy2.protocol import TCompactProtocolFactory
from thriftpy2.thrift import TMessageType
from thriftpy2.transport.memory import TMemoryBuffer

import spyglass.codecs.thrift as thrift_dir
from spyglass.agent.udp_server import set_receive_buffer
from spyglass.client import Config, ConstSampler, RemoteReporter, Tracer
from spyglass.client.reporting.senders import UDPSender
from spyglass.model import SpanKind, StatusCode

THRIFT_DIR = Path(thrift_dir.__file__).parent
TP2 = thriftpy2.load(str(THRIFT_DIR / "agent.thrift"), module_name="agent_client_test_thrift", include_dirs=[str(THRIFT_DIR)])
U64 = (1 << 64) - 1


def unsigned(v: int) -> int:
    return v & U64


def read_packets(sock: socket.socket, n: int) -> list:
    """Decode ``n`` emitBatch packets with thriftpy2's own compact protocol."""
    batches = []
    for _ in range(n):
        data = sock.recv(70_000)
        assert len(data) <= 65_000
        proto = TCompactProtocolFactory().get_protocol(TMemoryBuffer(data))
        name, mtype, _ = proto.read_message_begin()
        assert (name, mtype) == ("emitBatch", TMessageType.ONEWAY)
        args = TP2.Agent.emitBatch_args()
        args.read(proto)
        batches.append(args.batch)
    return batches


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    set_receive_buffer(sock, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


def test_packet_decoded_by_thriftpy2():
    sock = udp_socket()
    tracer = Tracer("checkout", RemoteReporter(UDPSender("127.0.0.1", sock.getsockname()[1]), flush_interval=60),
                    ConstSampler(True), tags={"region": "eu"}, generate_128bit_trace_id=True)
    with tracer.start_active_span("root", tags={ext_tags.SPAN_KIND: "server"}) as scope:
        child = tracer.start_span("child", tags={"n": 7, "ok": True, "ratio": 0.5, "blob": b"\x01"})
        child.log_kv({"event": "cache miss", "key": "k1"})
        child.finish()
    tracer.close()
    (batch,) = read_packets(sock, 1)
    assert batch.process.serviceName == "checkout"
    ptags = {t.key: t.vStr for t in batch.process.tags}
    assert ptags["region"] == "eu" and ptags["jaeger.version"].startswith("Python-spyglass")
    c, r = batch.spans
    root = scope.span
    assert unsigned(r.traceIdHigh) == root.trace_id >> 64 and unsigned(r.traceIdLow) == root.trace_id & U64
    assert unsigned(c.parentSpanId) == unsigned(r.spanId) == root.span_id and r.parentSpanId == 0
    assert c.flags == r.flags == 1 and c.operationName == "child"
    tags = {t.key: (t.vType, t.vStr, t.vLong, t.vBool, t.vDouble, t.vBinary) for t in c.tags}
    assert tags["n"][2] == 7 and tags["ok"][3] is True and tags["ratio"][4] == 0.5 and tags["blob"][5] == b"\x01"
    (log,) = c.logs
    assert {f.key: f.vStr for f in log.fields} == {"event": "cache miss", "key": "k1"}
    rtags = {t.key: t for t in r.tags}
    assert rtags["span.kind"].vStr == "server" and rtags["sampler.type"].vStr == "const"
    assert r.duration >= c.duration >= 0
    sock.close()


def test_large_volume_is_split_into_packets_under_65000_bytes():
    sock = udp_socket()
    sender = UDPSender("127.0.0.1", sock.getsockname()[1])
    reporter = RemoteReporter(sender, queue_size=1000, batch_size=1000, flush_interval=60)
    tracer = Tracer("svc", reporter, ConstSampler(True), max_tag_value_length=10_000)
    for i in range(120):
        tracer.start_span("op", tags={"payload": "x" * 3000, "i": i}).finish()  # ~360 KB in all
    batches: list = []

    def read() -> None:
        while sum(len(b.spans) for b in batches) < 120:
            batches.extend(read_packets(sock, 1))  # asserts each packet is <= 65,000 bytes

    reader = threading.Thread(target=read)
    reader.start()
    tracer.close()
    reader.join(10)
    assert sender.packets_sent == len(batches) >= 6
    assert max(len(b.spans) for b in batches) > 1  # packed, not one span per packet
    seen = sorted(next(t.vLong for t in s.tags if t.key == "i") for b in batches for s in b.spans)
    assert seen == list(range(120))
    sock.close()


def test_span_too_large_for_any_packet_is_counted():
    sock = udp_socket()
    reporter = RemoteReporter(UDPSender("127.0.0.1", sock.getsockname()[1]), flush_interval=60)
    tracer = Tracer("svc", reporter, ConstSampler(True), max_tag_value_length=100_000)
    tracer.start_span("huge", tags={"payload": "x" * 70_000}).finish()
    tracer.start_span("fine").finish()
    tracer.close()
    (batch,) = read_packets(sock, 1)
    assert [s.operationName for s in batch.spans] == ["fine"]
    assert reporter.failed == 1 and reporter.reported == 1
    sock.close()


def test_end_to_end_through_agent_port(all_in_one):
    tracer = Config(
        {"sampler": {"type": "const", "param": 1},
         "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": all_in_one.ports["agent_jaeger_compact"]}},
        service_name="udp-e2e",
    ).new_tracer()
    with tracer.start_active_span("parent", tags={ext_tags.SPAN_KIND: "server"}) as scope:
        with tracer.start_active_span("child") as inner:
            inner.span.log_kv({"event": "step", "n": 1})
            inner.span.set_tag("error", True)
    tracer.close()
    reader = all_in_one.app.storage.trace_reader()
    spans = wait_for(lambda: len(reader.get_trace(scope.span.trace_id)) == 2 and reader.get_trace(scope.span.trace_id))
    by_name = {s.name: s for s in spans}
    parent, child = by_name["parent"], by_name["child"]
    assert child.parent_span_id == parent.span_id and parent.parent_span_id == 0
    assert parent.kind is SpanKind.SERVER and child.status.code is StatusCode.ERROR
    assert dict(parent.attributes)["sampler.type"] == "const"
    assert child.events[0].name == "step" and dict(child.events[0].attributes) == {"n": 1}
    assert parent.resource.service_name == "udp-e2e"
