"""``spyglass capacity``: the processes, cores, memory and disk a load needs, from the model in
``spyglass.capacity`` (docs/scaling.md). A calculator, not a server: its flags are its inputs,
not ``Settings`` of a running process."""

from __future__ import annotations

import argparse
import os
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spans-per-second", type=float, required=True, help="sustained spans/s to plan for (use the peak)")
    parser.add_argument("--retention", default="7d", help="how long spans are kept: 7d, 2w, 72h (default 7d)")
    parser.add_argument("--replicas", type=int, default=1, help="copies of each stored span (ClickHouse replicas; default 1)")
    parser.add_argument("--storage", choices=("sqlite", "clickhouse"), default="sqlite")
    parser.add_argument("--buffer", choices=("none", "nats"), default="none", help="a NATS JetStream buffer between collectors and ingesters")
    parser.add_argument("--protocol", default="otlp-grpc", help="the ingest format most spans arrive in (tracegen's --protocol names)")
    parser.add_argument("--utilisation", type=float, default=0.6, help="share of each core to use at this rate (default 0.6: room for peaks)")
    parser.add_argument("--min-collectors", type=int, default=1, help="at least this many collectors (availability)")
    parser.add_argument("--query-processes", type=int, default=1)
    parser.add_argument("--agent", action="store_true", help="add the CPU of spyglass agents in front of the collectors")
    parser.add_argument("--clickhouse-engine", choices=("18.16", "current"), default="18.16", help="bytes per span differ (143 vs 99)")
    parser.add_argument("--bytes-per-span", type=float, default=0.0, help="override the measured bytes per stored span")
    parser.add_argument("--buffer-window", default="1h", help="backlog NATS must hold when storage stops (default 1h)")
    parser.add_argument("--disk-per-node", type=float, default=1000.0, help="GB of data one ClickHouse node may hold (default 1000)")


def run(args: argparse.Namespace) -> int:
    from spyglass.capacity import Load, format_plan, parse_retention, plan

    try:
        load = Load(
            spans_per_second=args.spans_per_second, retention_s=parse_retention(args.retention),
            replicas=args.replicas, storage=args.storage, buffer="" if args.buffer == "none" else args.buffer,
            protocol=args.protocol, utilisation=args.utilisation, min_collectors=args.min_collectors,
            query_processes=args.query_processes, agent=args.agent, clickhouse_engine=args.clickhouse_engine,
            bytes_per_span=args.bytes_per_span, buffer_window_s=parse_retention(args.buffer_window),
            disk_per_node_gb=args.disk_per_node,
        )
        result = plan(load)
    except ValueError as exc:
        print(f"spyglass capacity: error: {exc}", file=sys.stderr)
        return 2
    try:
        print(format_plan(result))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (``| head -1``): the answer was not wanted whole, which is
        # no error. Point stdout at /dev/null so the interpreter's own flush at exit is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
