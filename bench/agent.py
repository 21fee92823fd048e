"""Bench of ``spyglass agent``: a steady rate of Jaeger Thrift compact UDP into an agent
process that forwards over gRPC PostSpans to an all-in-one collector process (memory
storage), all on this machine. Reports kernel socket drops of the agent's UDP socket
(/proc/net/udp), spans the agent received and forwarded, spans the collector wrote, and the
agent's CPU µs per span.

    .venv/bin/python bench/agent.py [--rate 50000] [--seconds 10] [--batch 10 --batch 100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, ServerProcess, free_port, machine, make_spans, write_section  # noqa: E402
from ingest import send_udp  # noqa: E402

from spyglass.codecs import jaeger_thrift  # noqa: E402


def udp_drops(port: int) -> int:
    """The kernel's drop counter of the UDP socket bound to ``port`` (last /proc/net/udp column)."""
    total = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            total += int(fields[-1])
    return total


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AgentProcess:
    def __init__(self, collector_grpc: int) -> None:
        self.udp, self.admin = free_port(__import__("socket").SOCK_DGRAM), free_port()
        args = [sys.executable, "-m", "spyglass.cli", "agent", "--log-level", "warning",
                "--reporter.grpc.host-port", f"127.0.0.1:{collector_grpc}",
                "--agent.jaeger-compact-port", str(self.udp), "--agent.jaeger-binary-port", "0",
                "--agent.zipkin-compact-port", "0", "--agent.sampling-port", "0", "--admin.port", str(self.admin)]
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


def run(rate: int, seconds: float, batch: int) -> dict[str, float]:
    collector = ServerProcess("--storage", "memory", "--memory.max-traces", "20000")
    agent = AgentProcess(collector.ports["collector.grpc-port"])
    try:
        total = int(rate * seconds)
        spans = make_spans(total, services=1, seed=3)
        payloads = [jaeger_thrift.encode_agent_message(spans[i:i + batch], "compact") for i in range(0, total, batch)]
        drops0, cpu0 = udp_drops(agent.udp), cpu_seconds(agent.proc.pid)
        started = time.perf_counter()
        send_udp(agent.udp, payloads, rate, batch)
        send_elapsed = time.perf_counter() - started
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            written = collector.metric_sum("spyglass_spans_written_total")
            if written >= total:
                break
            time.sleep(0.2)
            lost = (udp_drops(agent.udp) - drops0) * batch  # the kernel counts packets
            if agent.metric_sum("spyglass_spans_received_total") + lost >= total \
                    and agent.metric_sum("spyglass_queue_length") == 0 and written >= agent.metric_sum(
                        "spyglass_agent_spans_forwarded_total"):
                break
        return {
            "sent": total,
            "offered_rate": total / send_elapsed,
            "socket_drops": udp_drops(agent.udp) - drops0,
            "received": agent.metric_sum("spyglass_spans_received_total"),
            "forwarded": agent.metric_sum("spyglass_agent_spans_forwarded_total"),
            "dropped": agent.metric_sum("spyglass_spans_dropped_total"),
            "written": collector.metric_sum("spyglass_spans_written_total"),
            "agent_cpu_us": (cpu_seconds(agent.proc.pid) - cpu0) / total * 1e6,
        }
    finally:
        agent.stop()
        collector.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = []
    for batch in args.batch or [10, 100]:
        r = run(args.rate, args.seconds, batch)
        print(batch, r, flush=True)
        rows.append(f"| {batch} | {r['sent']:,} | {r['offered_rate']:,.0f} | **{r['socket_drops']:,}** | "
                    f"{r['received']:,.0f} | {r['forwarded']:,.0f} | {r['dropped']:,.0f} | {r['written']:,.0f} | "
                    f"{r['agent_cpu_us']:.1f} |")
    if args.no_write:
        return
    load = os.getloadavg()[0]
    body = "\n".join([
        "## Agent (`bench/agent.py`)", "",
        f"Command: `.venv/bin/python bench/agent.py --rate {args.rate} --seconds {args.seconds:g}` on {machine()}, "
        f"load average {load:.1f} at the end (the machine is shared). Jaeger Thrift compact `emitBatch` packets "
        "sent at a steady rate from the benchmark process to a `spyglass agent` process, which forwards over gRPC "
        "PostSpans to an all-in-one (memory storage) process. Socket drops = the kernel's drop counter of the "
        "agent's UDP socket (/proc/net/udp); agent CPU = user+system time of the agent process per span sent.", "",
        "| spans/packet | sent | offered spans/s | socket drops (packets) | agent received | forwarded | agent dropped | "
        "collector wrote | agent CPU µs/span |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows, "",
        "Target (issue 11): a steady 50,000 spans/s with 0 socket drops.",
    ])
    write_section("agent", body)


if __name__ == "__main__":
    main()
