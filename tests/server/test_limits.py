"""Connection limits (issue 17 item 1): slow clients by the hundred against the real
``spyglass all-in-one`` in a child process with a low open-file limit. Every other port
must keep answering, the log must stay small, and slow connections must be closed."""

from __future__ import annotations

import asyncio
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import free_port, wait_for

from spyglass.server import HttpServer
from spyglass.server.limits import ConnectionLimits, raise_nofile_limit
from aiohttp import web

UDP_FLAGS = ("agent.jaeger-compact-port", "agent.jaeger-binary-port", "agent.zipkin-compact-port")
TCP_FLAGS = ("collector.http-port", "collector.grpc-port", "collector.otlp-grpc-port", "collector.otlp-http-port",
             "collector.zipkin-port", "admin.port", "agent.sampling-port", "query.http-port", "query.grpc-port",
             "tempo-api.port")
SLOW_REQUEST = b"POST /api/v2/spans HTTP/1.1\r\nHost: x\r\nContent-Ty"  # and then nothing


class Child:
    """``spyglass all-in-one`` with RLIMIT_NOFILE lowered to ``nofile`` (soft and hard, so
    raising it at start cannot help), its log in a file."""

    def __init__(self, tmp: Path, nofile: int, *flags: str) -> None:
        self.ports = {f: free_port(udp=True) for f in UDP_FLAGS} | {f: free_port() for f in TCP_FLAGS}
        args = [sys.executable, "-m", "spyglass.cli", "all-in-one", "--storage", "memory", "--data-dir", str(tmp)]
        for flag, port in self.ports.items():
            args += [f"--{flag}", str(port)]
        self.log = tmp / "stderr.log"
        self._log_file = open(self.log, "wb")

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen([*args, *flags], stdout=subprocess.DEVNULL, stderr=self._log_file, preexec_fn=limit)
        wait_for(lambda: self.answers("admin.port", "/"), timeout=30)

    def url(self, flag: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[flag]}{path}"

    def answers(self, flag: str, path: str, data: bytes | None = None) -> bool:
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url(flag, path), data=data, headers=headers), timeout=5) as r:
                return r.status < 300
        except (OSError, urllib.error.HTTPError):
            return False

    def metric(self, name: str, listener: str) -> float:
        with urllib.request.urlopen(self.url("admin.port", "/metrics"), timeout=5) as r:
            text = r.read().decode()
        m = re.search(rf'^{name}{{listener="{listener}"}} (\S+)$', text, re.M)
        return float(m.group(1)) if m else 0.0

    def close(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log_file.close()
        return self.log.read_text(errors="replace")


@pytest.fixture
def tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="spyglass-limits-") as d:
        yield Path(d)


def slow_clients(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(SLOW_REQUEST)
        socks.append(s)
    return socks


ANSWERS: dict[int, bytes] = {}


def closed_by_server(s: socket.socket) -> bool:
    """True once the server closed ``s`` (EOF or reset); what it sent is kept in ANSWERS."""
    s.settimeout(0.01)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
            ANSWERS[s.fileno()] = ANSWERS.get(s.fileno(), b"") + data
    except (TimeoutError, BlockingIOError):
        return False
    except ConnectionError:
        return True


def everything_answers(child: Child) -> None:
    assert child.answers("admin.port", "/")
    assert child.answers("query.http-port", "/api/services")
    assert child.answers("agent.sampling-port", "/sampling?service=s")
    assert child.answers("collector.otlp-http-port", "/v1/traces", b'{"resourceSpans":[]}')


def test_slow_clients_over_the_cap_leave_every_port_answering(tmp: Path) -> None:
    """300 half-sent requests against a cap of 100 in a process allowed 256 descriptors:
    without the cap they would use every descriptor and stop every port."""
    child = Child(tmp, 256, "--server.max-connections", "100", "--server.header-timeout", "2s")
    socks: list[socket.socket] = []
    try:
        socks = slow_clients(child.ports["collector.zipkin-port"], 300)
        wait_for(lambda: child.metric("spyglass_connections_refused_total", "zipkin_http") >= 200, timeout=10)
        assert child.metric("spyglass_connections_open", "zipkin_http") == 100
        everything_answers(child)
        # the 100 held ones are closed by the header timeout (without a word), the 200 over
        # the cap were answered 503 and closed at once
        wait_for(lambda: all(closed_by_server(s) for s in socks), timeout=15)
        answers = [ANSWERS.get(s.fileno(), b"") for s in socks]
        assert sum(a.startswith(b"HTTP/1.1 503 ") for a in answers) == 200
        assert answers.count(b"") == 100
        wait_for(lambda: child.metric("spyglass_connections_open", "zipkin_http") == 0, timeout=5)
        assert child.metric("spyglass_connections_timed_out_total", "zipkin_http") == 100
        everything_answers(child)
    finally:
        for s in socks:
            s.close()
        log = child.close()
    assert "Traceback" not in log and len(log) < 20_000, log[-3000:]


def test_descriptor_exhaustion_is_logged_once_and_recovers(tmp: Path) -> None:
    """With a cap above what the descriptor limit allows, accept() fails with EMFILE:
    one WARNING line (asyncio alone logs a traceback every second), and the port serves
    again once the header timeout has freed the descriptors."""
    child = Child(tmp, 200, "--server.max-connections", "1000", "--server.header-timeout", "3s")
    socks: list[socket.socket] = []
    try:
        for _ in range(400):  # past the limit connects still succeed: the kernel's backlog
            try:
                socks.extend(slow_clients(child.ports["collector.zipkin-port"], 1))
            except OSError:
                break
        wait_for(lambda: "cannot accept connections" in child.log.read_text(), timeout=10)
        time.sleep(2.5)  # asyncio retries accept() every second meanwhile
        wait_for(lambda: "accepting connections again" in child.log.read_text(), timeout=20)
        wait_for(lambda: child.answers("admin.port", "/"), timeout=10)
        everything_answers(child)
    finally:
        for s in socks:
            s.close()
        log = child.close()
    assert log.count("zipkin_http: cannot accept connections") == 1, log[-3000:]  # others may fail too
    assert "Traceback" not in log and len(log) < 20_000, log[-3000:]


# -- in process: the header and idle timeouts of one listener ------------------------------------


async def test_header_timeout_counts_from_each_request_and_idle_timeout_closes() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/", hello)
    server = HttpServer("t", "127.0.0.1", 0, app, ConnectionLimits(header_timeout=0.5, idle_timeout=3.0))
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"hi" in await reader.read(1000)
        await asyncio.sleep(0.8)  # idle past the header timeout: allowed between requests
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"hi" in await reader.read(1000)
        writer.write(b"GET / HTTP/1.1\r\nHo")  # a late second request
        t0 = time.monotonic()
        assert await asyncio.wait_for(reader.read(1000), 5) == b""
        assert 0.3 < time.monotonic() - t0 < 2.5  # the header timeout, well before the idle one
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"hi" in await reader.read(1000)
        t0 = time.monotonic()
        assert await asyncio.wait_for(reader.read(1000), 5) == b""  # closed when idle
        assert 2.0 < time.monotonic() - t0 < 10
        writer.close()
        assert server.open_connections == 0
    finally:
        await server.stop()


def test_nofile_soft_limit_is_raised_to_the_hard_limit() -> None:
    code = (
        "import resource; from spyglass.server.limits import raise_nofile_limit;"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 512)); print(raise_nofile_limit(),"
        "resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30).stdout
    assert out.strip() == "(512, 512) (512, 512)"
    assert raise_nofile_limit()[0] >= 64
