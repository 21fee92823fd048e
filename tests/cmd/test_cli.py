"""The ``spyglass`` command as a user runs it: a child process, real ports, signals."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from support import free_port, wait_for

UDP_FLAGS = ("agent.jaeger-compact-port", "agent.jaeger-binary-port", "agent.zipkin-compact-port")
TCP_FLAGS = ("collector.http-port", "collector.grpc-port", "collector.otlp-grpc-port", "collector.otlp-http-port",
             "collector.zipkin-port", "admin.port", "agent.sampling-port", "query.http-port", "query.grpc-port",
             "tempo-api.port")


def start(*extra: str, data_dir: str = "", command: str = "all-in-one") -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {f: free_port(udp=True) for f in UDP_FLAGS} | {f: free_port() for f in TCP_FLAGS}
    args = [sys.executable, "-m", "spyglass.cli", command]
    for flag, port in ports.items():
        if (command == "query" and flag.startswith(("agent.", "collector."))) or \
                (command == "collector" and flag.startswith(("query.", "tempo-api."))):
            continue  # each command has only its own flags
        args += [f"--{flag}", str(port)]
    args += ["--data-dir", data_dir or tempfile.mkdtemp(prefix="spyglass-cli-")]
    args += extra  # last, so a test's own value for a flag wins
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE), ports


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def healthy(port: int) -> bool:
    try:
        return get_json(f"http://127.0.0.1:{port}/")[0] == 200
    except OSError:
        return False


OTLP_SPAN = {
    "resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cli-test"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": "op",
            "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 1000),
        }]}],
    }]
}


def test_serves_health_accepts_spans_and_exits_cleanly_on_sigterm(tmp_path) -> None:
    """The default (sqlite) storage keeps what was accepted across a SIGTERM and a restart."""
    proc, ports = start(data_dir=str(tmp_path))
    try:
        wait_for(lambda: healthy(ports["admin.port"]) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        status, body = get_json(f"http://127.0.0.1:{ports['admin.port']}/")
        assert body["status"] == "Server available" and body["upSince"] and body["uptime"]
        req = urllib.request.Request(
            f"http://127.0.0.1:{ports['collector.otlp-http-port']}/v1/traces",
            data=json.dumps(OTLP_SPAN).encode(), headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=5).status == 200
        proc.send_signal(signal.SIGTERM)  # at once: the queued span must still be written
        assert proc.wait(30) == 0
        assert b"stopped" in (proc.stderr.read() if proc.stderr else b"")
    finally:
        if proc.poll() is None:
            proc.kill()
    proc, ports = start(data_dir=str(tmp_path))
    try:
        wait_for(lambda: healthy(ports["admin.port"]) or proc.poll() is not None, timeout=30)
        status, body = get_json(f"http://127.0.0.1:{ports['query.http-port']}/api/traces/0102030405060708090a0b0c0d0e0f10")
        assert status == 200
        assert [s["operationName"] for s in body["data"][0]["spans"]] == ["op"]
        assert body["data"][0]["processes"]["p1"]["serviceName"] == "cli-test"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_a_port_in_use_is_a_clear_error() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc, _ = start("--admin.port", str(port))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert b"cannot start: --admin.port: cannot listen on 127.0.0.1:" in err, err
    assert len(err.strip().splitlines()) == 1, err


def test_unknown_storage_is_rejected() -> None:
    proc, _ = start("--storage", "nope")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert b"unknown storage backend 'nope'" in err


@pytest.mark.parametrize("argv", [["--help"], ["all-in-one", "--help"]])
def test_help_lists_flags_with_env_names(argv: list[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "spyglass.cli", *argv], capture_output=True, timeout=30).stdout
    assert b"all-in-one" in out
    if len(argv) == 2:
        assert b"SPYGLASS_MEMORY_MAX_TRACES" in out and b"--collector.queue-size" in out


def test_collector_and_query_processes_share_one_data_directory(tmp_path) -> None:
    """Jaeger's split deployment: one process writes, another serves queries, same storage."""
    collector, cports = start(data_dir=str(tmp_path), command="collector")
    query, qports = start(data_dir=str(tmp_path), command="query")
    try:
        for proc, port in ((collector, cports["admin.port"]), (query, qports["admin.port"])):
            wait_for(lambda: healthy(port) or proc.poll() is not None, timeout=30)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        with pytest.raises(OSError):  # the collector serves no query API ...
            urllib.request.urlopen(f"http://127.0.0.1:{cports['query.http-port']}/api/services", timeout=2)
        with pytest.raises(OSError):  # ... and the query process takes no spans
            urllib.request.urlopen(f"http://127.0.0.1:{qports['collector.otlp-http-port']}/v1/traces", timeout=2)
        req = urllib.request.Request(
            f"http://127.0.0.1:{cports['collector.otlp-http-port']}/v1/traces",
            data=json.dumps(OTLP_SPAN).encode(), headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=5).status == 200
        url = f"http://127.0.0.1:{qports['query.http-port']}/api/services"
        wait_for(lambda: get_json(url)[1]["data"] == ["cli-test"], timeout=15)
    finally:
        for proc in (collector, query):
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0


def test_start_up_says_where_the_ui_and_data_are_and_logs_each_listener_once(tmp_path) -> None:
    proc, ports = start("--sqlite.retention", "48h", data_dir=str(tmp_path))
    try:
        wait_for(lambda: healthy(ports["admin.port"]) or proc.poll() is not None, timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1].decode()
    assert f"UI: http://127.0.0.1:{ports['query.http-port']}/" in err, err
    assert f"storage: sqlite, data dir {tmp_path}, retention 48h" in err, err
    for name in ("agent_jaeger_compact", "agent_jaeger_binary", "agent_zipkin_compact", "otlp_http", "admin"):
        assert len(re.findall(rf"\b{name} listening on", err)) == 1, err
