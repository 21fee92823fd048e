"""``spyglass demo`` as a user runs it: a real process reporting to a running all-in-one (UDP
for the spyglass.client services, OTLP gRPC for the OpenTelemetry ones); afterwards the
traces, the dependency graph, errors, baggage and the queue hop's span links are there."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from conftest import RunningAllInOne


def _get(server: RunningAllInOne, path: str) -> Any:
    with urllib.request.urlopen(server.url("query_http", path), timeout=10) as answer:
        return json.load(answer)


@pytest.fixture
def backend() -> Any:
    server = RunningAllInOne()
    yield server
    server.close()


def test_demo_process_shows_services_dependencies_errors_baggage_and_links(backend: RunningAllInOne) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "spyglass.cli", "demo", "--demo.backend", "remote",
         "--demo.agent-host", "127.0.0.1", "--agent.jaeger-compact-port", str(backend.ports["agent_jaeger_compact"]),
         "--demo.otlp-endpoint", f"127.0.0.1:{backend.ports['otlp_grpc']}",
         "--demo.rate", "5", "--demo.duration", "6s"],
        capture_output=True, text=True, timeout=90,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    wanted = {"frontend", "customer", "driver", "redis", "route", "notifier"}
    deadline = time.monotonic() + 20
    services: set[str] = set()
    while time.monotonic() < deadline and not wanted <= services:
        services = set(_get(backend, "/api/services")["data"] or [])
        time.sleep(0.5)
    assert wanted <= services

    now_ms = int(time.time() * 1000)
    deps = {(d["parent"], d["child"]) for d in _get(backend, f"/api/dependencies?endTs={now_ms}&lookback=3600000")["data"]}
    assert {("frontend", "customer"), ("frontend", "driver"), ("driver", "redis"), ("frontend", "route")} <= deps

    traces = _get(backend, "/api/traces?service=frontend&limit=50&lookback=1h")["data"]
    assert traces, "the load generator's rides were not stored"
    spans = [s for t in traces for s in t["spans"]]
    assert any(tag["key"] == "error" and tag["value"] is True for s in spans for tag in s["tags"]), "no error path"
    routes = _get(backend, "/api/traces?service=route&limit=20&lookback=1h")["data"]
    assert any(tag["key"] == "customer" and tag["value"] for t in routes for s in t["spans"]
               if t["processes"][s["processID"]]["serviceName"] == "route" for tag in s["tags"]), "baggage not seen"
    notified = _get(backend, "/api/traces?service=notifier&limit=20&lookback=1h")["data"]
    assert any(r["refType"] == "FOLLOWS_FROM" or r["traceID"] != t["traceID"]
               for t in notified for s in t["spans"] for r in s.get("references", [])), "no span link on the queue hop"
