"""``--workers`` from the command line: refused combinations, and a collector whose NATS is
unreachable (it must start, say it is unhealthy, and stop on SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spyglass.collector.workers.supervisor import resolve_workers
from spyglass.config import Settings
from tests.pipeline_procs import UNCAPPED_QUERY, Spyglass, get_json, otlp_json, post, require_nats, traces_by_id
from tests.support import free_port, wait_for


def test_adaptive_sampling_with_several_workers_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "spyglass.cli", "collector", "--workers", "2",
                           "--sampling.type", "adaptive", "--data-dir", str(tmp_path)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert b"--workers 2: adaptive sampling" in proc.stderr and b"--workers 1" in proc.stderr


def test_adaptive_sampling_by_default_runs_in_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SPYGLASS_WORKERS"}  # the default, not the suite's 1
    collector = Spyglass(tmp_path, "adaptive", "collector", "--sampling.type", "adaptive")
    argv = [sys.executable, "-m", "spyglass.cli", "collector", "--data-dir", str(collector.data_dir),
            "--sampling.type", "adaptive", *[x for f, p in collector.ports.items() for x in (f"--{f}", str(p))]]
    with open(collector.log_path, "ab") as log:
        collector.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        collector.wait_healthy()
        assert collector.metric("spyglass_collector_workers") == 0  # no pool: receivers in-process
        assert "collector worker processes" not in collector.log_tail()
    finally:
        assert collector.stop() == 0


@pytest.mark.parametrize(("cores", "collector", "all_in_one"), [(1, 1, 1), (2, 2, 2), (3, 3, 2), (4, 4, 3), (16, 16, 15)])
def test_default_workers_use_every_core(cores: int, collector: int, all_in_one: int) -> None:
    """One per core for a collector; the cores but one for the all-in-one (its parent writes
    and serves queries), but never in-process on a machine with 2 cores."""
    assert resolve_workers(Settings(), "collector", cores) == collector
    assert resolve_workers(Settings(), "all-in-one", cores) == all_in_one
    assert resolve_workers(Settings(collector_workers=5), "all-in-one", cores) == 5
    assert resolve_workers(Settings(sampling_type="adaptive"), "all-in-one", cores) == 1


def test_the_default_all_in_one_receives_in_workers_on_this_machine(tmp_path: Path) -> None:
    """``make run``'s all-in-one (no --workers) on this machine: its receivers run in worker
    processes whenever there are 2 cores or more, and what they receive is stored."""
    env = {k: v for k, v in os.environ.items() if k != "SPYGLASS_WORKERS"}  # the default, not the suite's 1
    aio = Spyglass(tmp_path, "default", "all-in-one", *UNCAPPED_QUERY)
    argv = [sys.executable, "-m", "spyglass.cli", "all-in-one", "--data-dir", str(aio.data_dir), *UNCAPPED_QUERY,
            *[x for f, p in aio.ports.items() for x in (f"--{f}", str(p))]]
    with open(aio.log_path, "ab") as log:
        aio.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        aio.wait_healthy()
        expected = resolve_workers(Settings(), "all-in-one")
        assert aio.metric("spyglass_collector_workers") == (expected if expected > 1 else 0)
        if len(os.sched_getaffinity(0)) >= 2:
            assert expected >= 2
        assert post(aio.url("collector.otlp-http-port", "/v1/traces"), otlp_json(0xD1, 3, "default-aio"),
                    "application/json") == 200
        wait_for(lambda: len(traces_by_id(aio, "default-aio").get(0xD1, [])) == 3, timeout=30)
    finally:
        assert aio.stop() == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_unreachable_nats_reports_unhealthy_and_stops_on_sigterm(tmp_path: Path, workers: str) -> None:
    require_nats()
    closed = free_port()  # nothing listens there
    collector = Spyglass(tmp_path, f"nats-{workers}", "collector", "--workers", workers, "--collector.buffer", "nats",
                         "--nats.url", f"nats://127.0.0.1:{closed}").start(wait=False)

    answers: list[int] = []

    def unhealthy() -> bool:
        assert collector.proc is not None and collector.proc.poll() is None, collector.log_tail()
        try:
            status, body = get_json(collector.url("admin.port", "/"), timeout=2)
        except OSError:
            return False
        answers.append(status)
        return status == 503 and "NATS" in body.get("reason", "")

    try:
        wait_for(unhealthy, timeout=60, interval=0.05)
        for _ in range(10):  # and it stays so
            assert unhealthy()
        # never healthy, not even in the first moments (a worker tells the parent its health
        # before it listens, and each change at once)
        assert 200 not in answers, answers
        assert collector.proc is not None
        started = time.monotonic()
        collector.proc.send_signal(signal.SIGTERM)
        assert collector.proc.wait(20) == 0
        assert time.monotonic() - started < 20
    finally:
        collector.kill(signal.SIGKILL)


def test_a_port_in_use_stops_start_up_naming_its_flag(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        zero = [x for f in ("collector.http-port", "collector.grpc-port", "collector.otlp-http-port",
                            "collector.zipkin-port", "agent.jaeger-compact-port", "agent.jaeger-binary-port",
                            "agent.zipkin-compact-port", "admin.port", "agent.sampling-port") for x in (f"--{f}", "0")]
        proc = subprocess.run([sys.executable, "-m", "spyglass.cli", "collector", "--workers", "2", "--data-dir",
                               str(tmp_path), "--collector.otlp-grpc-port", str(port), *zero],
                              capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert f"--collector.otlp-grpc-port: cannot listen on 127.0.0.1:{port}: Address already in use".encode() \
        in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # one line, no traceback
