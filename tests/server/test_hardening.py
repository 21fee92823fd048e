"""Hardening (issue 15, part 4): security headers on every HTTP answer of every listener,
a time limit on request bodies of the query API, and no secret in any log line."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from conftest import RunningAllInOne
from spyglass.security.redact import redact


@pytest.fixture(scope="module")
def aio() -> Iterator[RunningAllInOne]:
    running = RunningAllInOne()
    yield running
    running.close()


def fetch(url: str, data: bytes | None = None) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data), timeout=10) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


@pytest.mark.parametrize(("listener", "path", "status"), [
    ("query_http", "/api/services", 200), ("query_http", "/api/traces/zz", 400), ("query_http", "/api/nothing", 404),
    ("query_http", "/search", 200), ("admin", "/", 200), ("admin", "/metrics", 200), ("otlp_http", "/v1/traces", 405),
    ("collector_http", "/api/traces", 405), ("zipkin_http", "/nope", 404), ("agent_sampling", "/sampling", 400),
])
def test_every_answer_carries_the_security_headers(aio: RunningAllInOne, listener: str, path: str, status: int) -> None:
    got, headers = fetch(aio.url(listener, path))
    assert got == status
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] in ("no-referrer", "same-origin")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "strict-transport-security" not in headers  # only over TLS (tests/server/test_tls.py)


def test_a_trickled_request_body_is_cut_off(aio: RunningAllInOne, monkeypatch: pytest.MonkeyPatch) -> None:
    """One byte every 0.3 s never trips the stall timeout; the total time limit ends it."""
    from spyglass.collector.receivers import body

    monkeypatch.setattr(body, "DEFAULT_TOTAL_TIMEOUT", 1.0)
    with socket.create_connection(("127.0.0.1", aio.ports["query_http"]), timeout=10) as s:
        s.sendall(b"POST /api/transform HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        started = time.monotonic()
        answer = b""
        s.settimeout(0.3)
        while time.monotonic() - started < 10:
            try:
                s.sendall(b" ")
                answer += s.recv(4096)
                if b"\r\n\r\n" in answer:
                    break
            except TimeoutError:
                continue
            except OSError:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 5


def test_redaction() -> None:
    assert redact("NATS at ['nats://alice:s3cret@h:4222'] down") == "NATS at ['nats://***@h:4222'] down"
    assert "abcdef123456" not in redact("Authorization: Bearer abcdef123456")
    assert "dXNlcjpwYXNz" not in redact("{'authorization': 'Basic dXNlcjpwYXNz'}")
    assert redact("--clickhouse.password=hunter2 x") == "--clickhouse.password=*** x"
    assert redact("GET /api/services?token=t0k3n&x=1") == "GET /api/services?token=***&x=1"
    assert redact("use basic authentication") == "use basic authentication"


def test_no_secret_reaches_the_log() -> None:
    """A real process: NATS credentials in --nats.url are in its warnings, a request with an
    Authorization header too long to parse is in aiohttp's error; neither secret is printed."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nats_port = closed.getsockname()[1]
    argv = [sys.executable, "-m", "spyglass.cli", "collector", "--storage", "memory", "--collector.buffer", "nats",
            f"--nats.url", f"nats://alice:s3cretpass@127.0.0.1:{nats_port}", "--log-level", "debug",
            *[f"--{flag}=0" for flag in ("collector.http-port", "collector.grpc-port", "collector.otlp-grpc-port",
                                          "collector.otlp-http-port", "collector.zipkin-port", "admin.port",
                                          "agent.sampling-port", "agent.jaeger-compact-port", "agent.jaeger-binary-port",
                                          "agent.zipkin-compact-port")]]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline() if proc.stderr else ""
            if not line:
                break
            lines.append(line)
            if m := re.search(r"otlp_http listening on 127\.0\.0\.1:(\d+)", line):
                port = int(m.group(1))
        assert port is not None, "".join(lines)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0psecrettoken" + b"A" * 9000 + b"\r\n\r\n")
            s.recv(4096)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
        lines.append(rest or "")
    log = "".join(lines)
    assert "nats://***@127.0.0.1" in log  # the warning is there, without the password
    assert "s3cretpass" not in log and "t0psecrettoken" not in log


def test_a_client_that_reads_nothing_of_a_large_answer_is_dropped() -> None:
    """A slow reader holds the connection and the unsent answer; after --server.idle-timeout
    without taking any of it, the connection is closed and counted."""
    import json

    running = RunningAllInOne(server_idle_timeout="1s")
    try:
        spans = [{"traceId": "ab" * 16, "spanId": f"{i + 1:016x}", "name": "op" * 2000,
                  "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000000001000"} for i in range(3000)]
        body = json.dumps({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "big"}}]},
                                              "scopeSpans": [{"spans": spans}]}]}).encode()
        request = urllib.request.Request(running.url("otlp_http", "/v1/traces"), body, {"Content-Type": "application/json"})
        assert urllib.request.urlopen(request, timeout=30).status == 200
        reader = running.app.storage.trace_reader()
        deadline = time.monotonic() + 20
        while len(reader.get_trace(int("ab" * 16, 16))) < 3000:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", running.ports["query_http"]))
            s.sendall(f"GET /api/traces/{'ab' * 16} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            time.sleep(3)  # read nothing for longer than the idle timeout
            s.settimeout(10)
            received = 0
            try:
                while chunk := s.recv(1 << 16):
                    received += len(chunk)
            except ConnectionResetError:
                pass
        assert 0 < received < 10_000_000  # cut short: the answer is ~12 MB
        stalled = running.app.metrics.registry.get_sample_value("spyglass_connections_write_stalled_total",
                                                                {"listener": "query_http"})
        assert stalled == 1
    finally:
        running.close()
