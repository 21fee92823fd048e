"""The image: built by ``make image``, run as the all-in-one with a named volume; spans sent
from real clients on the host reach it through published ports and survive a restart."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator

import pytest

import deploy_podman as podman
from support import free_port
from deploy_clients import send_otlp, send_udp

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(1500)]


@contextlib.contextmanager
def _container(name: str, volume: str, ports: dict[str, int]) -> Iterator[None]:
    try:
        args = ["podman", "run", "-d", "--init", "--name", name, "-v", f"{volume}:/data"]
        for inner, outer in ports.items():
            proto = "/udp" if inner.endswith("/udp") else ""
            args += ["-p", f"127.0.0.1:{outer}:{inner.removesuffix('/udp')}{proto}"]
        podman.run(*args, podman.IMAGE)  # no arguments: the all-in-one on 0.0.0.0, data in /data
        yield
    finally:
        podman.run("podman", "rm", "-f", "-v", "-t", "0", name, check=False)
        podman.run("podman", "volume", "rm", "-f", volume, check=False)


def test_all_in_one_container_keeps_traces_across_restart() -> None:
    podman.build_image()
    tag = secrets.token_hex(3)
    name, volume = f"spyglass-test-{tag}", f"spyglass-test-data-{tag}"
    ports = {"4317": free_port(), "16686": free_port(), "14269": free_port(), "6831/udp": free_port(udp=True)}
    query = f"http://127.0.0.1:{ports['16686']}"
    with _container(name, volume, ports):
        podman.wait_http(f"http://127.0.0.1:{ports['14269']}/")
        user = podman.run("podman", "exec", name, "id", "-u").stdout.strip()
        assert user == "10001", "the image runs as its non-root user"
        send_otlp(f"127.0.0.1:{ports['4317']}", "otlp-svc", 20)
        send_udp(ports["6831/udp"], "udp-svc", 10)
        before = podman.wait_trace_count(query, "otlp-svc", 20)
        assert all(len(t["spans"]) == 2 for t in before)
        podman.wait_trace_count(query, "udp-svc", 10)
        time.sleep(1.5)  # past --sqlite.commit-interval
        podman.run("podman", "restart", "-t", "10", name)
        podman.wait_http(f"http://127.0.0.1:{ports['14269']}/")
        after = podman.wait_trace_count(query, "otlp-svc", 20, timeout=30)
        assert {t["traceID"] for t in after} == {t["traceID"] for t in before}
        podman.wait_trace_count(query, "udp-svc", 10, timeout=30)
        health = podman.run("podman", "healthcheck", "run", name, check=False)
        assert health.returncode == 0, f"HEALTHCHECK failed: {health.stdout} {health.stderr}"


def test_image_metadata() -> None:
    podman.build_image()
    import json

    info = json.loads(podman.run("podman", "image", "inspect", podman.IMAGE).stdout)[0]
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert "/data" in config["Volumes"]
    assert config["Labels"]["org.opencontainers.image.title"] == "spyglass"
    assert config["Cmd"] == ["all-in-one"]
