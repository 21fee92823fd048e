"""Real processes for the pipeline tests: Debian's nats-server and spyglass roles, on free
loopback ports, logging to files in the test's temporary directory, always killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from support import free_port, wait_for

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"

UDP_FLAGS = ("agent.jaeger-compact-port", "agent.jaeger-binary-port", "agent.zipkin-compact-port")
TCP_FLAGS = ("collector.http-port", "collector.grpc-port", "collector.otlp-grpc-port", "collector.otlp-http-port",
             "collector.zipkin-port", "admin.port", "agent.sampling-port", "query.http-port", "query.grpc-port",
             "tempo-api.port")


def require_nats() -> None:
    if not os.access(NATS_SERVER, os.X_OK):
        pytest.fail("nats-server is missing: `make nats-server` (or apt-get install nats-server) installs it")


class NatsServer:
    """``nats-server -js`` on a free port with its store in ``root``."""

    def __init__(self, root: Path, extra: tuple[str, ...] = ()) -> None:
        """``extra``: more nats-server arguments (the TLS tests' ``--tls ...``)."""
        require_nats()
        self.extra = list(extra)
        self.root = root
        self.port = free_port()
        self.store = root / "jetstream"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = open(root / "nats.log", "ab")

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store), *self.extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._ready, timeout=20)

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"nats-server exited: {(self.root / 'nats.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(7) == b"INFO {\""[:7]
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def close(self) -> None:
        self.stop(signal.SIGKILL)
        self.log.close()


class Spyglass:
    """One ``spyglass COMMAND`` process on free ports; ``ports`` maps flag -> port."""

    def __init__(self, root: Path, name: str, command: str, *args: str, data_dir: Path | None = None,
                 ports: dict[str, int] | None = None) -> None:
        self.root = root
        self.name = name
        self.command = command
        self.args = args
        self.data_dir = data_dir or (root / f"{name}-data")
        if ports is None:
            ports = {f: free_port(udp=True) for f in UDP_FLAGS} | {f: free_port() for f in TCP_FLAGS}
            if command == "ingester":
                ports = {"admin.port": free_port()}
            elif command == "collector":  # each command takes the flags of its own listeners
                ports = {f: p for f, p in ports.items() if not f.startswith(("query.", "tempo-api."))}
            elif command == "query":
                ports = {f: p for f, p in ports.items() if f.startswith(("query.", "tempo-api.")) or f == "admin.port"}
        self.ports = ports
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = root / f"{name}.log"

    def start(self, wait: bool = True) -> Spyglass:
        argv = [sys.executable, "-m", "spyglass.cli", self.command]
        for flag, port in self.ports.items():
            argv += [f"--{flag}", str(port)]
        argv += ["--data-dir", str(self.data_dir), *self.args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.log_tail()}")
            try:
                return get_json(f"http://127.0.0.1:{self.ports['admin.port']}/")[0] == 200
            except OSError:
                return False

        wait_for(ready, timeout=timeout, interval=0.1)

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def url(self, flag: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[flag]}{path}"

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples matching ``labels`` on the admin port's /metrics."""
        with urllib.request.urlopen(self.url("admin.port", "/metrics"), timeout=5) as resp:
            text = resp.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            if key != name and not key.startswith(name + "{"):
                continue
            if all(f'{k}="{v}"' in key for k, v in labels.items()):
                total += float(value)
        return total

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def stop(self) -> int | None:
        self.kill(signal.SIGTERM)
        return self.proc.returncode if self.proc is not None else None


def get_json(url: str, timeout: float = 10) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def post(url: str, body: bytes, content_type: str, timeout: float = 10) -> int:
    """The HTTP status of one POST (0 when the connection failed)."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
    except OSError:
        return 0


def otlp_json(trace_id: int, spans: int, service: str, start_ns: int | None = None) -> bytes:
    """One OTLP/JSON request: a trace of ``spans`` spans (span IDs 1..n)."""
    start = start_ns or time.time_ns()
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": [{
            "traceId": f"{trace_id:032x}", "spanId": f"{i + 1:016x}", "name": f"op-{i}",
            "parentSpanId": f"{i:016x}" if i else "",
            "startTimeUnixNano": str(start + i * 1000), "endTimeUnixNano": str(start + i * 1000 + 500),
            "attributes": [{"key": "i", "value": {"intValue": str(i)}}],
        } for i in range(spans)]}],
    }]}).encode()


# The query's caps (``--query.max-traces`` 1000, spans per response) would cut the answer the
# tests count every acknowledged trace in; processes serving queries for them lift the caps.
UNCAPPED_QUERY = ("--query.max-traces", "0", "--query.max-spans-per-response", "0")


def traces_by_id(query: Spyglass, service: str, limit: int = 100_000) -> dict[int, list[dict[str, Any]]]:
    """Every trace of ``service`` in the last hour, through the query API (adjusted, deduped;
    ``query`` must run with ``UNCAPPED_QUERY``)."""
    status, body = get_json(query.url("query.http-port", f"/api/traces?service={service}&limit={limit}&lookback=1h"),
                            timeout=60)
    assert status == 200, body
    return {int(t["traceID"], 16): t["spans"] for t in body["data"] or []}
