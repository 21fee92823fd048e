"""``spyglass tracegen`` against a real all-in-one: for every protocol the counts it reports are
what the query API returns, the Jaeger flag spellings work, and ``--verify`` notices spans
that were acknowledged and then lost (a server killed before its commit)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import RunningAllInOne
from spyglass.tracegen.generator import TraceGenerator, TraceShape
from spyglass.tracegen.run import Options, run
from spyglass.tracegen.senders import PROTOCOLS

PORT_OF = {
    "otlp-grpc": "otlp_grpc", "otlp-http": "otlp_http", "jaeger-grpc": "collector_grpc",
    "jaeger-http": "collector_http", "jaeger-udp": "agent_jaeger_compact", "zipkin": "zipkin_http",
}


def query_spans(base: str, service: str) -> dict[str, set[str]]:
    """Every trace the query API finds for ``service``: trace ID -> span IDs."""
    url = f"{base}/api/traces?service={service}&limit=100000&lookback=1h"
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = json.load(resp)
    return {t["traceID"]: {s["spanID"] for s in t["spans"]} for t in body["data"]}


def _listener(aio: RunningAllInOne, protocol: str) -> int:
    return aio.ports[PORT_OF[protocol]]


@pytest.fixture(scope="module")
def aio() -> Any:
    running = RunningAllInOne()
    yield running
    running.close()


def test_generator_shape() -> None:
    shape = TraceShape(services=3, depth=3, fan_out=2, attributes=10, events=2, error_ratio=1.0, links=1)
    gen = TraceGenerator(shape, seed=7)
    first, second = gen.trace(), gen.trace()
    assert len(first) == shape.spans_per_trace == 7
    root = first[0]
    assert root.parent_span_id == 0 and {s.service_name for s in first} == {"tracegen-00", "tracegen-01", "tracegen-02"}
    ids = {s.span_id for s in first}
    for span in first[1:]:  # every child inside its parent's time
        parent = next(p for p in first if p.span_id == span.parent_span_id)
        assert parent.start_time_ns <= span.start_time_ns and span.end_time_ns <= parent.end_time_ns
        assert span.parent_span_id in ids
    assert all(len(s.attributes) == 11 and len(s.events) == 2 and s.status.code == 2 for s in first)
    assert not root.links and second[0].links[0].trace_id == root.trace_id  # linked to the previous trace


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_counts_equal_what_the_query_api_returns(aio: RunningAllInOne, protocol: str) -> None:
    service = f"tg-{protocol}"
    options = Options(protocol=protocol, endpoint=f"127.0.0.1:{_listener(aio, protocol)}", traces=30,
                      batch_spans=50, shape=TraceShape(services=2, service_prefix=service, links=1),
                      verify_url=aio.url("query_http"), verify_timeout=10, interval=0.2)
    out = io.StringIO()
    report = asyncio.run(run(options, out))
    t = report.totals
    assert t["sent"] == t["acknowledged"] == 30 * 7 and t["refused"] == 0, out.getvalue()
    found = query_spans(aio.url("query_http"), f"{service}-00")
    assert len(found) == 30 and sum(len(ids) for ids in found.values()) == t["acknowledged"]
    assert report.verify is not None and report.verify["whole"] == 30 and report.verify["traces_lost"] == 0
    assert "acknowledged 210" in out.getvalue()


def test_cli_with_jaeger_flags_and_workers(aio: RunningAllInOne, tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    argv = [sys.executable, "-m", "spyglass.cli", "tracegen", "--endpoint", f"127.0.0.1:{_listener(aio, 'otlp-grpc')}",
            "-traces", "5", "-workers", "2", "-services", "2", "-service", "jaegerflags", "-pause", "1ms",
            "--depth", "2", "--fan-out", "3", "--verify", aio.url("query_http"), "--report-file", str(report_file)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_file.read_text())
    assert report["acknowledged"] == 2 * 5 * 4 and report["verify"]["whole"] == 10
    found = query_spans(aio.url("query_http"), "jaegerflags-00")
    assert len(found) == 10 and sum(map(len, found.values())) == 40
    assert "sent" in done.stdout and "verify: 10 acknowledged traces checked, 10 whole" in done.stdout


def test_bad_flags_are_one_line_errors() -> None:
    for args, text in ((["--protocol", "carrier-pigeon"], "carrier-pigeon"), (["-workers", "0"], "at least 1"),
                       (["--endpoint", "127.0.0.1:99999"], "port")):
        done = subprocess.run([sys.executable, "-m", "spyglass.cli", "tracegen", *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and text in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_nothing_acknowledged_is_exit_status_1(tmp_path: Path) -> None:
    from support import free_port

    port = free_port()  # nobody listens
    done = subprocess.run([sys.executable, "-m", "spyglass.cli", "tracegen", "--protocol", "otlp-http",
                           "--endpoint", f"127.0.0.1:{port}", "-traces", "2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "refused 14" in done.stdout and "nothing was acknowledged" in done.stderr


def test_verify_detects_spans_lost_by_a_killed_server(tmp_path: Path) -> None:
    """A collector that acknowledges before its commit loses the uncommitted spans to SIGKILL;
    restarted on the same data, it serves what was committed: --verify must report the loss,
    and the traces sent after the restart as whole. ``verify_delay`` (2 s, longer than the time
    to the kill) makes the first reads come after the kill: before it the all-in-one serves
    uncommitted spans too, so a read then would find them."""
    from pipeline_procs import Spyglass

    server = Spyglass(tmp_path, "aio", "all-in-one", "--storage", "sqlite", "--sqlite.commit-interval", "30s",
                      "--log-level", "warning").start()
    try:
        options = Options(protocol="otlp-grpc", endpoint=f"127.0.0.1:{server.ports['collector.otlp-grpc-port']}",
                          rate=700, duration=3.0, batch_spans=35, verify_url=server.url("query.http-port"),
                          verify_timeout=4.0, verify_delay=2.0, interval=0.5)
        result: dict[str, Any] = {}
        out = io.StringIO()
        worker = threading.Thread(target=lambda: result.update(report=asyncio.run(run(options, out))))
        worker.start()
        time.sleep(1.0)
        server.kill()  # SIGKILL: the last 30 s of acknowledged spans were never committed
        server.start()
        worker.join(60)
        assert not worker.is_alive()
        report = result["report"]
    finally:
        server.stop()
    v = report.verify
    assert v is not None, out.getvalue()
    assert v["traces_lost"] > 0 and v["spans_lost"] > 0, out.getvalue()
    assert v["whole"] > 0, out.getvalue()  # those sent after the restart, read back
    assert v["checked"] == v["whole"] + v["partial"] + v["missing"]
    assert "missing" in out.getvalue()


def test_rate_caps_what_is_sent(aio: RunningAllInOne) -> None:
    """Pacing: at 700 spans/s for 1 s no more than 700 spans (+ the request being built) go out;
    unpaced, the same second sends several thousand here."""
    options = Options(protocol="otlp-http", endpoint=f"127.0.0.1:{_listener(aio, 'otlp-http')}", rate=700,
                      duration=1.0, batch_spans=35, shape=TraceShape(service_prefix="paced"))
    report = asyncio.run(run(options, io.StringIO()))
    assert 0 < report.totals["acknowledged"] <= 700 + 35 and report.totals["refused"] == 0


@pytest.mark.parametrize("protocol", ["otlp-grpc", "otlp-http"])
def test_otlp_partial_success_counts_the_rejected_spans(aio: RunningAllInOne, protocol: str) -> None:
    from spyglass.tracegen.senders import make_sender

    spans = TraceGenerator(TraceShape(service_prefix=f"partial-{protocol}"), seed=3).trace()
    spans[-1].trace_id = 0  # unstorable: the collector's validation rejects it, keeps the others

    async def send() -> Any:
        sender = make_sender(protocol, f"127.0.0.1:{_listener(aio, protocol)}")
        try:
            return await sender.send(spans)
        finally:
            await sender.close()

    outcome = asyncio.run(send())
    assert outcome.acknowledged and outcome.rejected == 1, outcome


def test_endpoints_take_the_protocol_default_port() -> None:
    from spyglass.tracegen.senders import endpoint_host_port

    assert endpoint_host_port("otlp-grpc", "collector") == ("collector", 4317)
    assert endpoint_host_port("jaeger-udp", "127.0.0.1") == ("127.0.0.1", 6831)
    assert endpoint_host_port("zipkin", "http://z.example:1234/api/v2/spans") == ("z.example", 1234)
    with pytest.raises(ValueError, match="port"):
        endpoint_host_port("otlp-http", "h:http")
