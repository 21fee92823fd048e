"""Never acknowledge what cannot be stored: start-up refuses storage it cannot use, and a
disk that fills up mid-run turns into retryable errors, not lost spans.

Each test runs the ``spyglass`` command as a user would (a child process on free ports).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import free_port, wait_for

COLLECTOR_FLAGS = ("collector.http-port", "collector.grpc-port", "collector.otlp-grpc-port", "collector.otlp-http-port",
                   "collector.zipkin-port", "admin.port", "agent.sampling-port")
UDP_FLAGS = ("agent.jaeger-compact-port", "agent.jaeger-binary-port", "agent.zipkin-compact-port")
QUERY_FLAGS = ("query.http-port", "query.grpc-port", "tempo-api.port")


def command(cmd: str, data_dir: str, *extra: str) -> tuple[list[str], dict[str, int]]:
    flags = {"all-in-one": (*COLLECTOR_FLAGS, *UDP_FLAGS, *QUERY_FLAGS), "collector": (*COLLECTOR_FLAGS, *UDP_FLAGS),
             "query": ("admin.port", *QUERY_FLAGS)}[cmd]
    ports = {f: free_port(udp=f in UDP_FLAGS) for f in flags}
    args = [sys.executable, "-m", "spyglass.cli", cmd, "--data-dir", data_dir, *extra]
    for flag, port in ports.items():
        args += [f"--{flag}", str(port)]
    return args, ports


def run_to_exit(args: list[str], **kw: object) -> tuple[int, str]:
    proc = subprocess.run(args, capture_output=True, timeout=60, **kw)  # type: ignore[call-overload]
    return proc.returncode, proc.stderr.decode()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def assert_one_line_failure(code: int, err: str, *needles: str) -> None:
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one clear line, no traceback
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- start-up -------------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["all-in-one", "collector", "query"])
def test_a_regular_file_as_data_dir_stops_start_up(tmp_path: Path, cmd: str) -> None:
    path = tmp_path / "not-a-dir"
    path.write_text("x")
    code, err = run_to_exit(command(cmd, str(path))[0])
    assert_one_line_failure(code, err, str(path), "not a directory")


def test_a_read_only_data_dir_stops_start_up(tmp_path: Path) -> None:
    data = tmp_path / "ro"
    data.mkdir()
    data.chmod(0o555)
    tmp_path.chmod(0o755)
    args = command("collector", str(data))[0]
    if os.getuid() == 0:  # root writes anywhere: run as nobody, as an operator's service would
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to drop privileges")
        args = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *args]
    code, err = run_to_exit(args, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert_one_line_failure(code, err, str(data), "not writable")


def test_a_second_writer_on_the_same_data_dir_stops_start_up(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    args, ports = command("all-in-one", data)
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: healthy(ports["admin.port"]) or first.poll() is not None, timeout=30)
        assert first.poll() is None
        for cmd in ("collector", "all-in-one"):
            code, err = run_to_exit(command(cmd, data)[0])
            assert_one_line_failure(code, err, data, "in use", f"pid {first.pid}")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)


def healthy(port: int) -> bool:
    try:
        return get(f"http://127.0.0.1:{port}/")[0] == 200
    except OSError:
        return False


# -- a disk that fills up mid-run --------------------------------------------------------------------
class Outage:
    """Where the data goes, and how to take its space away from the server and give it back."""

    def __init__(self, root: Path, kind: str) -> None:
        self.root = root
        self.kind = kind

    def start(self, pid: int) -> None:
        if self.kind == "tmpfs":
            fill(self.root / "filler")
        else:  # no file may grow any more: the kernel answers EFBIG (Python ignores SIGXFSZ)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))

    def end(self, pid: int) -> None:
        if self.kind == "tmpfs":
            (self.root / "filler").unlink()
        else:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@pytest.fixture(params=["tmpfs", "rlimit"])
def outage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    """A 16 MiB tmpfs the test fills up and frees again (needs root to mount, as CI has), and
    a file-size limit set on the running server (works for any user)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if request.param == "rlimit":
        yield Outage(mnt, "rlimit")
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (the rlimit variant still runs): {done.stderr.decode().strip()}")
    try:
        yield Outage(mnt, "tmpfs")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> None:
    """Write until the file system says it is full."""
    with open(path, "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()


def otlp_batch(trace: int, spans: int = 20) -> bytes:
    now = time.time_ns()
    return json.dumps({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "outage"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": f"{trace:032x}", "spanId": f"{i + 1:016x}", "name": f"op-{i}",
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000),
            "attributes": [{"key": "payload", "value": {"stringValue": os.urandom(64).hex()}}],
        } for i in range(spans)]}],
    }]}).encode()


def post(port: int, body: bytes) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


@pytest.mark.slow
def test_a_full_disk_refuses_spans_and_loses_none_acknowledged(outage: Outage) -> None:
    args, ports = command("all-in-one", str(outage.root / "data"), "--sqlite.commit-interval", "200ms")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    otlp, admin, query = ports["collector.otlp-http-port"], ports["admin.port"], ports["query.http-port"]
    acked: list[int] = []
    refused: list[int] = []
    trace = 0

    def send() -> int:
        nonlocal trace
        trace += 1
        status, headers = post(otlp, otlp_batch(trace))
        if status == 200:
            acked.append(trace)
        else:
            assert status == 503 and headers.get("Retry-After"), (status, headers)
            refused.append(trace)
        return status

    try:
        wait_for(lambda: healthy(admin) or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        for _ in range(10):
            assert send() == 200
        outage.start(proc.pid)
        # Keep sending: what is acknowledged before the failure shows is held, then 503s.
        wait_for(lambda: send() == 503, timeout=30, interval=0.05)
        status, body = get(f"http://127.0.0.1:{admin}/")
        assert status == 503 and body["reason"].startswith("storage unhealthy: "), body
        if outage.kind == "tmpfs":
            assert "the disk is full" in body["reason"], body
        for _ in range(5):  # nothing is acknowledged while storage cannot take it
            assert send() == 503
        outage.end(proc.pid)  # space comes back
        wait_for(lambda: healthy(admin), timeout=30, interval=0.1)
        wait_for(lambda: send() == 200, timeout=10, interval=0.1)
        for _ in range(5):
            assert send() == 200
        assert len(acked) > 15 and len(refused) >= 6, (acked, refused)
        for t in acked:
            status, body = get(f"http://127.0.0.1:{query}/api/traces/{t:032x}")
            assert status == 200 and len(body["data"][0]["spans"]) == 20, f"acknowledged trace {t} lost"
        for t in refused:
            assert get(f"http://127.0.0.1:{query}/api/traces/{t:032x}")[0] == 404
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10).read().decode()
        assert f'spyglass_spans_dropped_total{{reason="storage_unavailable"}} {len(refused) * 20}.0' in metrics
        assert 'reason="storage_error"' not in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
