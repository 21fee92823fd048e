"""Podman for the deployment tests: a containers.conf that works in this VM, the image built
by ``make image``, and cleanup of every container, network and volume a test made.

Only an unusable podman skips a test (with the reason); a failing build or container fails it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "build" / "containers.conf"
IMAGE = "localhost/spyglass:latest"


def env(**extra: str) -> dict[str, str]:
    """The environment podman and podman-compose run with."""
    return {**os.environ, "CONTAINERS_CONF": str(CONF), **extra}


def run(*args: str, check: bool = True, timeout: float = 600, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(args), cwd=ROOT, env=env(**(extra_env or {})), capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def require_podman() -> None:
    """Skip (with the reason) when podman itself cannot run containers here; nothing else skips."""
    if shutil.which("podman") is None or shutil.which("podman-compose") is None:
        pytest.skip("podman/podman-compose not installed (make test installs them as root: make podman)")
    if not CONF.exists():
        subprocess.run(["make", "-s", "podman"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    info = subprocess.run(["podman", "info", "--format", "json"], env=env(), capture_output=True, text=True, timeout=120)
    if info.returncode != 0:
        pytest.skip(f"podman is unusable here: {info.stderr.strip()[-500:]}")


_built: list[str] = []


@contextlib.contextmanager
def _building() -> Iterator[None]:
    """One build at a time on this machine: the test processes (``pytest -n``) share the
    base image's root filesystem and the image tags, which two builds at once would break."""
    import fcntl

    CONF.parent.mkdir(parents=True, exist_ok=True)
    with open(CONF.parent / "image-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_image() -> str:
    """``make image`` once per session (the layer cache makes repeats quick)."""
    require_podman()
    if not _built:
        with _building():
            run("make", "-s", "image", timeout=1200)
        _built.append(IMAGE)
    return IMAGE


def build_infra_images() -> None:
    with _building():
        run("make", "-s", "infra-images", timeout=1200)


def http_json(url: str, timeout: float = 5) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError as exc:
            error = exc
        time.sleep(0.5)
    raise AssertionError(f"{url} not healthy after {timeout}s: {error}")


def wait_trace_count(query: str, service: str, count: int, timeout: float = 60) -> list[dict]:
    """Polls the Jaeger query API until ``service`` has ``count`` traces."""
    deadline = time.monotonic() + timeout
    data: list[dict] = []
    while time.monotonic() < deadline:
        try:
            data = http_json(f"{query}/api/traces?service={service}&limit=100000&lookback=1h")["data"]  # type: ignore[index]
        except OSError:
            data = []
        if len(data) >= count:
            return data
        time.sleep(0.5)
    raise AssertionError(f"{service}: {len(data)} traces of {count} after {timeout}s")


def host_port(container: str, port: str) -> int:
    out = run("podman", "port", container, port).stdout.strip().splitlines()[0]
    return int(out.rsplit(":", 1)[1])


@contextlib.contextmanager
def compose(project: str, file: str, extra_env: dict[str, str]) -> Iterator[None]:
    """``podman-compose up -d``; always ``down -t 0`` and remove the project's network and volumes."""
    try:
        run("podman-compose", "-p", project, "-f", file, "up", "-d", extra_env=extra_env, timeout=300)
        yield
    finally:
        run("podman-compose", "-p", project, "-f", file, "down", "-v", "-t", "0", check=False, extra_env=extra_env)
        ids = run("podman", "ps", "-aq", "--filter", f"label=io.podman.compose.project={project}", check=False).stdout.split()
        if ids:
            run("podman", "rm", "-f", "-v", "-t", "0", *ids, check=False)
        for net in run("podman", "network", "ls", "-q", "--filter", f"name={project}", check=False).stdout.split():
            run("podman", "network", "rm", "-f", net, check=False)
        for vol in run("podman", "volume", "ls", "-q", "--filter", f"name={project}", check=False).stdout.split():
            run("podman", "volume", "rm", "-f", vol, check=False)
