"""``spyglass agent`` as an operator runs it: a child process with Jaeger's flags, spans
over UDP forwarded to a collector, metrics on its admin port, a clean SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request

from conftest import RunningAllInOne
from spyglass.codecs import jaeger_thrift as jt
from spyglass.model import Resource, Span
from support import free_port, wait_for


def test_agent_process_forwards_udp_spans_and_stops_on_sigterm() -> None:
    collector = RunningAllInOne()
    udp, sampling, admin = free_port(udp=True), free_port(), free_port()
    args = [sys.executable, "-m", "spyglass.cli", "agent",
            "--reporter.grpc.host-port", f"127.0.0.1:{collector.ports['collector_grpc']}",
            "--agent.jaeger-compact-port", str(udp), "--agent.jaeger-binary-port", "0",
            "--agent.zipkin-compact-port", "0", "--agent.sampling-port", str(sampling),
            "--admin.port", str(admin), "--agent.tags", "agent=cli"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def metrics() -> str:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
            except OSError:
                return "" if proc.poll() is None else "exited"

        assert wait_for(metrics, timeout=30) != "exited", proc.stderr.read().decode() if proc.stderr else ""
        span = Span(trace_id=0xABC, span_id=1, name="via-agent", start_time_ns=1_700_000_000_000_000_000,
                    duration_ns=5, resource=Resource("cli-svc"))
        import socket

        reader = collector.app.storage.trace_reader()
        packet = jt.encode_agent_message([span], "compact")
        sent_at = [0.0]

        def stored_trace() -> list[Span]:
            # UDP may drop a datagram (or arrive before the receiver is bound, as the admin
            # port can answer first): send again every half second until it is stored
            if time.monotonic() - sent_at[0] > 0.5:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(packet, ("127.0.0.1", udp))
                sent_at[0] = time.monotonic()
            return reader.get_trace(0xABC)

        stored = wait_for(stored_trace, timeout=20)
        assert dict(stored[0].resource.attributes)["agent"] == "cli"
        assert "spyglass_agent_spans_forwarded_total" in metrics()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        collector.close()
