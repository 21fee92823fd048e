"""Bench of ``spyglass agent``: a steady, paced rate of Jaeger Thrift compact ``emitBatch``
UDP packets into an agent process that forwards over gRPC PostSpans to an all-in-one
collector process (memory storage), all on this machine.

For each packet size (10 and 100 spans per packet) it reports the kernel's drop counter of
the agent's UDP socket (/proc/net/udp), the spans the agent received, forwarded and
dropped, the spans the collector wrote to its storage, and the agent's CPU µs per span.

References measured in the same run:

* a bare Python UDP reader (a process doing nothing but ``recv_into`` on a socket with the
  agent's receive buffer) fed the same paced stream: its socket drops show what the kernel
  and the scheduler alone lose at this rate on this machine at this moment;
* the agent's transcoding in this process: the fast path (``agent.encode``: Thrift decoded
  by the C extension, transcoded straight to api_v2 bytes) against the library path
  (Thrift -> model spans -> api_v2), CPU µs per span on the same packets.

The packets come from a pool of 50,000 distinct spans (~4 unique tag values per span, as
URLs and IDs are), sent over and over: the agent's tag cache (50,000 entries, cleared when
full) has long forgotten a pool's values when they come round again, so repetition does
not make transcoding cheaper.

    flock /work/bench.lock .venv/bin/python bench/agent.py [--rate 50000] [--seconds 10] [--batch 10 --batch 100]
        [--decoder-processes 0 --decoder-processes 1 --decoder-processes 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, ServerProcess, free_port, machine, make_spans, write_section  # noqa: E402
from ingest import send_udp  # noqa: E402

from spyglass.agent.encode import packets_from_spans, transcode_agent_message  # noqa: E402
from spyglass.codecs import jaeger_thrift  # noqa: E402
from spyglass.config import Settings  # noqa: E402

POOL_SPANS = 50_000
BUFFER = Settings.from_env({}).agent_socket_buffer_size  # the agent's default, for the bare reader too


def cpu_seconds_of(pid: int) -> float:
    """User+system CPU of ``pid`` alone (the agent's own process)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_drops(port: int) -> int:
    """The kernel's drop counter of the UDP socket bound to ``port`` (last /proc/net/udp column)."""
    total = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            total += int(fields[-1])
    return total


def cpu_seconds(pid: int) -> float:
    """User+system CPU of ``pid`` and of its live children (the agent's decoder processes)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pool(batch: int) -> list[bytes]:
    spans = make_spans(POOL_SPANS, services=1, seed=3)
    return [jaeger_thrift.encode_agent_message(spans[i:i + batch], "compact") for i in range(0, POOL_SPANS, batch)]


def stream(payloads: list[bytes], total_packets: int) -> list[bytes]:
    return [payloads[i % len(payloads)] for i in range(total_packets)]


class AgentProcess:
    def __init__(self, collector_grpc: int, decoder_processes: int) -> None:
        self.udp, self.admin = free_port(socket.SOCK_DGRAM), free_port()
        args = [sys.executable, "-m", "spyglass.cli", "agent", "--log-level", "warning",
                "--reporter.grpc.host-port", f"127.0.0.1:{collector_grpc}",
                "--agent.jaeger-compact-port", str(self.udp), "--agent.jaeger-binary-port", "0",
                "--agent.zipkin-compact-port", "0", "--agent.sampling-port", "0", "--admin.port", str(self.admin),
                "--agent.decoder-processes", str(decoder_processes)]
        self.proc = subprocess.Popen(args, cwd=ROOT)
        self.ports = {"admin.port": self.admin}
        deadline = time.monotonic() + 30
        while True:
            try:
                self.metric_sum("spyglass_spans_received_total")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("agent did not start")
                time.sleep(0.1)

    metrics = ServerProcess.metrics
    metric_sum = ServerProcess.metric_sum

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


BARE_READER = """
import socket, sys
sys.path.insert(0, {src!r})
from spyglass.agent.udp_server import set_receive_buffer
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
set_receive_buffer(sock, {buffer})
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
buf = bytearray(65536)
n = 0
while True:
    if sock.recv_into(buf) == 1:  # the benchmark's stop byte
        break
    n += 1
print(n, flush=True)
"""


def bare_reader(rate: int, seconds: float, batch: int, payloads: list[bytes]) -> dict[str, float]:
    """The same paced stream into a process that only reads: the drops of the floor."""
    proc = subprocess.Popen([sys.executable, "-c", BARE_READER.format(src=str(ROOT / "src"), buffer=BUFFER)],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())  # type: ignore[union-attr]
        packets = stream(payloads, int(rate * seconds) // batch)
        drops0 = udp_drops(port)
        started = time.perf_counter()
        send_udp(port, packets, rate, batch)
        elapsed = time.perf_counter() - started
        time.sleep(0.5)
        drops = udp_drops(port) - drops0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\x00", ("127.0.0.1", port))
        read = int(proc.stdout.readline())  # type: ignore[union-attr]
        return {"packets": len(packets), "offered_rate": len(packets) * batch / elapsed, "socket_drops": drops,
                "read": read}
    finally:
        proc.kill()
        proc.wait()


def transcode_reference(payloads: list[bytes], batch: int) -> dict[str, float]:
    """CPU µs per span of the fast path and of the library path, on the same packets."""
    sample = payloads[: max(1, 20_000 // batch)]
    spans = len(sample) * batch
    out = {}
    for name, fn in (("fast", transcode_agent_message),
                     ("library", lambda p: packets_from_spans(jaeger_thrift.decode_agent_message(p)))):
        best = float("inf")
        for _ in range(3):
            t = time.process_time()
            for p in sample:
                fn(p)
            best = min(best, time.process_time() - t)
        out[name] = best / spans * 1e6
    return out


def run(rate: int, seconds: float, batch: int, payloads: list[bytes], decoder_processes: int) -> dict[str, Any]:
    # A collector queue large enough for the agent's catch-up bursts: the collector shares this
    # machine's two cores, and its refusals (RESOURCE_EXHAUSTED) would be counted against the agent.
    collector = ServerProcess("--storage", "memory", "--memory.max-traces", "20000", "--collector.queue-size", "1000000")
    agent = AgentProcess(collector.ports["collector.grpc-port"], decoder_processes)
    try:
        packets = stream(payloads, int(rate * seconds) // batch)
        total = len(packets) * batch
        drops0, cpu0, main_cpu0 = udp_drops(agent.udp), cpu_seconds(agent.proc.pid), cpu_seconds_of(agent.proc.pid)
        started = time.perf_counter()
        send_udp(agent.udp, packets, rate, batch)
        send_elapsed = time.perf_counter() - started
        cpu_at_end_of_send = cpu_seconds(agent.proc.pid) - cpu0
        main_cpu_at_end_of_send = cpu_seconds_of(agent.proc.pid) - main_cpu0
        received_at_end_of_send = agent.metric_sum("spyglass_spans_received_total")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            written = collector.metric_sum("spyglass_spans_written_total")
            if written >= total:
                break
            time.sleep(0.2)
            lost = (udp_drops(agent.udp) - drops0) * batch  # the kernel counts packets
            rejected = agent.metric_sum("spyglass_requests_rejected_total") * batch
            if agent.metric_sum("spyglass_spans_received_total") + lost + rejected >= total \
                    and agent.metric_sum("spyglass_queue_length") == 0 and written >= agent.metric_sum(
                        "spyglass_agent_spans_forwarded_total"):
                break
        caught_up = time.perf_counter() - started
        cpu = cpu_seconds(agent.proc.pid) - cpu0  # before stop: the decoder processes are still alive
        return {
            "sent": total,
            "offered_rate": total / send_elapsed,
            "socket_drops": udp_drops(agent.udp) - drops0,
            "queue_rejected": agent.metric_sum("spyglass_requests_rejected_total"),
            "received": agent.metric_sum("spyglass_spans_received_total"),
            "received_during_send": received_at_end_of_send,
            "forwarded": agent.metric_sum("spyglass_agent_spans_forwarded_total"),
            "dropped": agent.metric_sum("spyglass_spans_dropped_total"),
            "dropped_by_reason": {k.split('reason="')[1].split('"')[0]: v for k, v in agent.metrics().items()
                                  if k.startswith("spyglass_spans_dropped_total{") and v},
            "written": collector.metric_sum("spyglass_spans_written_total"),
            "agent_cpu_us": cpu / total * 1e6,
            "agent_cpu_share_during_send": cpu_at_end_of_send / send_elapsed,
            "main_cpu_share_during_send": main_cpu_at_end_of_send / send_elapsed,
            "caught_up_s": caught_up,
        }
    finally:
        agent.stop()
        collector.stop()


def reasons(r: dict) -> str:
    found = r["dropped_by_reason"]
    return " (" + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(found.items())) + ")" if found else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--decoder-processes", type=int, action="append",
                        help="agent --agent.decoder-processes values to run (default 0, 1 and 2)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows, refs = [], []
    for batch in args.batch or [10, 100]:
        payloads = pool(batch)
        ref = transcode_reference(payloads, batch)
        bare = bare_reader(args.rate, args.seconds, batch, payloads)
        print(batch, "bare reader", bare, "transcode", ref, flush=True)
        refs.append(f"| {batch} | {ref['fast']:.1f} | {ref['library']:.1f} | {ref['library'] / ref['fast']:.2f} |")
        for decoders in args.decoder_processes or [0, 1, 2]:
            r = run(args.rate, args.seconds, batch, payloads, decoders)
            print(batch, decoders, "agent", r, "load", os.getloadavg(), flush=True)
            rows.append(f"| {batch} | {decoders} | {r['sent']:,} | {r['offered_rate']:,.0f} | **{r['socket_drops']:,}** | "
                        f"{bare['socket_drops']:,} | {r['queue_rejected']:,.0f} | {r['received']:,.0f} | "
                        f"{r['forwarded']:,.0f} | {r['dropped']:,.0f}{reasons(r)} | {r['written']:,.0f} | "
                        f"{r['agent_cpu_us']:.1f} | {r['agent_cpu_share_during_send']:.0%} "
                        f"({r['main_cpu_share_during_send']:.0%}) | {r['received_during_send']:,.0f} | "
                        f"{r['caught_up_s']:.1f} |")
    load_end = os.getloadavg()
    if args.no_write:
        return
    body = "\n".join([
        "## Agent (`bench/agent.py`)", "",
        f"Command: `flock /work/bench.lock .venv/bin/python bench/agent.py --rate {args.rate} --seconds {args.seconds:g}`, "
        f"{started}, on {machine()}; load average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end "
        "(the machine is shared with other work). Jaeger Thrift compact `emitBatch` packets sent at a paced, steady "
        "rate from the benchmark process to a `spyglass agent` process, which forwards over gRPC PostSpans to an "
        "all-in-one (memory storage) process. Socket drops = the kernel's drop counter of the receiving UDP socket "
        "(/proc/net/udp, packets); agent CPU = user+system time of the agent process and its decoder processes per "
        "span sent, until it had forwarded everything; CPU share = their CPU seconds per second during the send "
        "(in brackets: the agent's own process); caught up = seconds from the first packet until the collector "
        "had written every span the agent received.", "",
        "| spans/packet | decoder processes | sent | offered spans/s | agent socket drops | bare reader socket drops "
        "(reference) | receive queue full | agent received | forwarded | agent dropped | collector wrote | "
        "agent CPU µs/span | CPU share during the send (agent's own process) | decoded during the send | "
        "caught up (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows, "",
        "Transcoding in the benchmark process, same packets (CPU µs per span, best of 3 over 20,000 spans): the "
        "agent's fast path (Thrift decoded by the C extension, written straight to api_v2 bytes) against the library "
        "path (Thrift -> model spans -> api_v2).", "",
        "| spans/packet | fast path | library path | library / fast |",
        "| ---: | ---: | ---: | ---: |",
        *refs, "",
        "Target (issue 11): a steady 50,000 spans/s with 0 socket drops.",
    ])
    write_section("agent", body)


if __name__ == "__main__":
    main()
