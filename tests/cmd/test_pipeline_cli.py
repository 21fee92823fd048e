"""The pipeline's command-line surface: ``spyglass ingester`` and the buffer flags."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*argv: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "spyglass.cli", *argv], capture_output=True, timeout=60)


def test_ingester_help_lists_the_nats_and_storage_flags() -> None:
    out = run("ingester", "--help").stdout
    for flag in (b"--nats.url", b"--nats.stream", b"--nats.consumer", b"--nats.fetch-batch", b"--storage",
                 b"--data-dir", b"SPYGLASS_NATS_MAX_BYTES", b"default 14270"):
        assert flag in out, flag


@pytest.mark.parametrize("argv, message", [
    (("all-in-one", "--collector.buffer", "kafka"), b"unknown buffer 'kafka'"),
    (("collector", "--collector.buffer", "nats", "--nats.stream", "a.b"), b"--nats.stream"),
    (("ingester", "--nats.url", " , "), b"--nats.url must name at least one server"),
    (("ingester", "--nats.max-age", "soon"), b"--nats.max-age"),
])
def test_bad_buffer_settings_are_clear_errors(argv: tuple[str, ...], message: bytes) -> None:
    result = run(*argv, "--data-dir", "/nonexistent/never-created")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
