"""TLS cost benchmark: what serving OTLP over (mutual) TLS costs the server, per span and per
new connection.

Starts ``spyglass all-in-one --storage memory`` twice in child processes, once plain and once
with ``--collector.otlp.{grpc,http}.tls.*`` and ``--query.http.tls.*`` (client certificates
required, certificates made with ``cryptography`` as the tests do). tracegen (in this
process) sends the same spans over kept-alive connections; the figure is the server's CPU
time (user + system, from ``/proc``) divided by the spans it wrote, with the plain run of the
same protocol as the reference. A second part opens and closes fresh connections to the query
port (a TCP connect, or a TCP connect and a TLS handshake) and divides the server's CPU time
by their number.

    flock /work/bench.lock .venv/bin/python bench/tls.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from _common import ServerProcess, machine, write_section  # noqa: E402
from tls_certs import make_pki  # noqa: E402

from spyglass.server.tls import ClientTlsConfig  # noqa: E402
from spyglass.tracegen.generator import TraceShape  # noqa: E402
from spyglass.tracegen.run import Options, run  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_written(server: ServerProcess, n: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while server.metric_sum("spyglass_spans_written_total") < n:
        if time.monotonic() > deadline:
            raise RuntimeError("spans were not all written")
        time.sleep(0.05)


def ingest(server: ServerProcess, protocol: str, port_flag: str, traces: int, tls: ClientTlsConfig | None) -> float:
    """Server CPU µs per span for ``traces`` traces of 10 spans sent by 2 workers."""
    before_written = server.metric_sum("spyglass_spans_written_total")
    before = cpu_seconds(server.proc.pid)
    options = Options(protocol=protocol, endpoint=f"127.0.0.1:{server.ports[port_flag]}", traces=traces // 2, workers=2,
                      batch_spans=100, concurrency=4, shape=TraceShape(depth=2, fan_out=9, attributes=8, events=1),
                      tls=tls, interval=3600)
    report = asyncio.run(run(options, open(os.devnull, "w")))
    sent = report.totals["acknowledged"]
    wait_written(server, before_written + sent)
    return (cpu_seconds(server.proc.pid) - before) / sent * 1e6


def connections(server: ServerProcess, n: int, ctx: ssl.SSLContext | None) -> float:
    """Server CPU µs per fresh connection (TCP, or TCP and a TLS handshake) to the query port."""
    port = server.ports["query.http-port"]
    before = cpu_seconds(server.proc.pid)
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            if ctx is None:
                raw.sendall(b"GET /api/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while raw.recv(65536):
                    pass
            else:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"GET /api/services HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    while tls.recv(65536):
                        pass
    time.sleep(0.2)
    return (cpu_seconds(server.proc.pid) - before) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer spans (a smoke run)")
    args = parser.parse_args()
    traces, conns = (400, 100) if args.quick else (6_000, 1_000)
    tmp = Path(tempfile.mkdtemp(prefix="spyglass-bench-tls-"))
    pki = make_pki(tmp)
    tls_flags: list[str] = []
    for prefix in ("collector.otlp.grpc", "collector.otlp.http", "query.http"):
        tls_flags += [f"--{prefix}.tls.enabled", f"--{prefix}.tls.cert", pki.server.cert, f"--{prefix}.tls.key",
                      pki.server.key, f"--{prefix}.tls.client-ca", pki.ca]
    client = ClientTlsConfig("", enabled=True, ca=pki.ca, cert=pki.client.cert, key=pki.client.key)
    handshake_ctx = client.ssl_context()
    rows = []
    results: dict[str, dict[str, float]] = {}
    for mode, extra, tls in (("plain", [], None), ("mutual TLS", tls_flags, client)):
        server = ServerProcess("--storage", "memory", "--memory.max-traces", "1000000", *extra)
        try:
            ingest(server, "otlp-grpc", "collector.otlp-grpc-port", 200, tls)  # warm-up
            results[mode] = {
                "otlp-grpc": ingest(server, "otlp-grpc", "collector.otlp-grpc-port", traces, tls),
                "otlp-http": ingest(server, "otlp-http", "collector.otlp-http-port", traces, tls),
                "connection": connections(server, conns, handshake_ctx if tls else None),
            }
        finally:
            server.stop()
    for key, unit in (("otlp-grpc", "µs/span"), ("otlp-http", "µs/span"), ("connection", "µs/connection")):
        plain, secure = results["plain"][key], results["mutual TLS"][key]
        rows.append(f"| {key} | {plain:.1f} {unit} | {secure:.1f} {unit} | {secure / plain:.2f} |")
        print(f"{key:12s} plain {plain:8.1f} {unit}   mutual TLS {secure:8.1f} {unit}   ratio {secure / plain:.2f}")
    extra = results["mutual TLS"]["connection"] - results["plain"]["connection"]
    load = os.getloadavg()
    body = (
        "## TLS cost (bench/tls.py)\n\n"
        f"`flock /work/bench.lock .venv/bin/python bench/tls.py{' --quick' if args.quick else ''}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.\n\n"
        f"Server CPU (user + system) of `spyglass all-in-one --storage memory` per span written, "
        f"{traces} traces of 10 spans from tracegen (2 workers, 100-span requests, kept-alive "
        f"connections), and per fresh connection to the query port ({conns} connections, each one "
        "`GET /api/services`), plain against mutual TLS (EC P-256 certificates, TLS 1.3). The "
        "reference is the plain run, measured in the same run.\n\n"
        "| | plain | mutual TLS | TLS / plain |\n|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"A new TLS connection costs the server {extra:.0f} µs more CPU than a plain one (the "
        "handshake, with the client certificate checked); on kept-alive connections the per-span "
        "difference is within the run-to-run noise of this shared machine (ratios on either side of 1).\n"
    )
    write_section("tls", body)


if __name__ == "__main__":
    main()
