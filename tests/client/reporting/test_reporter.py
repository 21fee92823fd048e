"""The background reporter over real sockets: batching by size and by time, the bounded
queue that drops instead of blocking, failure counting, close, and fork."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from support import wait_for

from spyglass.agent.udp_server import set_receive_buffer
from spyglass.client import ConstSampler, RemoteReporter, Tracer
from spyglass.client.reporting.senders import HTTPSender, UDPSender
from spyglass.codecs.jaeger_thrift import decode_agent_message


@pytest.fixture
def udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    set_receive_buffer(sock, 8 << 20)  # bursts of packets must not be lost in the kernel
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def received_spans(sock: socket.socket, n: int) -> list:
    spans: list = []
    while len(spans) < n:
        spans.extend(decode_agent_message(sock.recv(70_000)))
    return spans


def make(sock: socket.socket, **kwargs) -> tuple[Tracer, RemoteReporter]:
    reporter = RemoteReporter(UDPSender("127.0.0.1", sock.getsockname()[1]), **kwargs)
    return Tracer("svc", reporter, ConstSampler(True)), reporter


def test_batch_size_triggers_a_send(udp):
    tracer, reporter = make(udp, batch_size=5, flush_interval=60, queue_size=100)
    for i in range(5):
        tracer.start_span(f"op{i}").finish()
    spans = received_spans(udp, 5)  # long before the 60 s interval
    assert sorted(s.name for s in spans) == [f"op{i}" for i in range(5)]
    wait_for(lambda: reporter.reported == 5)
    tracer.close()


def test_flush_interval_sends_a_partial_batch(udp):
    tracer, reporter = make(udp, batch_size=100, flush_interval=0.05)
    start = time.monotonic()
    tracer.start_span("lonely").finish()
    (span,) = received_spans(udp, 1)
    assert span.name == "lonely" and time.monotonic() - start < 2
    tracer.close()


def test_close_flushes_everything(udp):
    tracer, reporter = make(udp, batch_size=1000, flush_interval=60, queue_size=1000)
    for _ in range(50):
        tracer.start_span("op").finish()
    tracer.close()
    assert len(received_spans(udp, 50)) == 50
    tracer.start_span("late").finish()  # after close: dropped and counted, never raises
    assert reporter.dropped == 1


def test_full_queue_drops_without_blocking():
    # A collector that accepts the connection and never answers: the sender hangs.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    sender = HTTPSender(f"http://127.0.0.1:{server.getsockname()[1]}/api/traces", timeout=3)
    reporter = RemoteReporter(sender, queue_size=100, batch_size=1, flush_interval=0.01)
    tracer = Tracer("svc", reporter, ConstSampler(True))
    tracer.start_span("first").finish()
    time.sleep(0.2)  # the reporter thread is now stuck in the send
    start = time.perf_counter()
    for _ in range(10_000):
        tracer.start_span("op").finish()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, elapsed  # ~100 µs/span at most even with the GIL shared
    assert reporter.dropped >= 10_000 - 100 and reporter.queue_length == 100
    server.close()
    tracer.close(timeout=5)
    assert reporter.failed >= 1


def test_send_failures_are_counted_not_raised():
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{port.getsockname()[1]}/api/traces"
    port.close()  # nothing listens: connection refused
    reporter = RemoteReporter(HTTPSender(url, timeout=1), flush_interval=60)
    tracer = Tracer("svc", reporter, ConstSampler(True))
    tracer.start_span("op").finish()
    assert tracer.flush() is False
    tracer.close()
    assert reporter.failed == 1 and reporter.reported == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_reports_with_its_own_thread(udp):
    tracer, reporter = make(udp, batch_size=1000, flush_interval=0.05)
    tracer.start_span("parent").finish()
    assert received_spans(udp, 1)[0].name == "parent"
    pid = os.fork()
    if pid == 0:  # child: its reporter thread must have been restarted
        try:
            tracer.start_span("child").finish()
            time.sleep(0.5)  # delivered by the interval flush, not by close
            os._exit(0 if reporter.reported >= 1 else 3)
        finally:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert received_spans(udp, 1)[0].name == "child"
    tracer.close()


def test_concurrent_reporting_loses_nothing_below_capacity(udp):
    tracer, reporter = make(udp, batch_size=50, flush_interval=0.05, queue_size=100_000)
    def work() -> None:
        for _ in range(500):
            tracer.start_span("op").finish()
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(received_spans(udp, 2000)))
    reader.start()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tracer.close()
    reader.join(10)
    assert len(got) == 2000 and reporter.dropped == 0 and reporter.reported == 2000
