"""Gzip bombs against the OTLP/HTTP receiver in a child process (issue 17 item 8): eight
at once must all be refused while the process's peak RSS rises by far less than before
(aiohttp inflated each 64 KiB chunk whole: +689 MB for eight 1 MB bombs)."""

from __future__ import annotations

import gzip
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

SERVER = """
import asyncio, sys
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers import otlp_http
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryStore

async def main():
    processor = SpanProcessor(MemoryStore(), IngestMetrics(), ProcessorConfig(queue_size=1000))
    processor.start()
    server = HttpServer("otlp_http", "127.0.0.1", 0, otlp_http.build_app(processor))  # 64 MiB limit
    await server.start()
    print(server.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""

BOMB = gzip.compress(bytes(256 * 1024 * 1024), 9)  # ~250 KB inflating to 256 MiB


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def post(port: int, body: bytes, encoding: str = "gzip") -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces", data=body,
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": encoding},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_eight_concurrent_gzip_bombs_keep_rss_bounded() -> None:
    child = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        assert post(port, gzip.compress(b"")) == 200  # warm up every code path once
        before = peak_rss_kb(child.pid)
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: post(port, BOMB), range(8)))
        rise_mb = (peak_rss_kb(child.pid) - before) / 1024
        assert set(statuses) <= {413, 503} and 413 in statuses, statuses
        # one body at the 64 MiB limit plus inflate steps; at most the 256 MiB body budget
        print(f"peak RSS rise {rise_mb:.0f} MB")
        assert rise_mb < 160, rise_mb
    finally:
        child.stdin.close()
        child.kill()
        child.wait(10)
