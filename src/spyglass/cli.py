"""The ``spyglass`` command: parses flags (or ``SPYGLASS_*`` variables) and runs a component."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from spyglass import __version__, ports
from spyglass.cmd.runner import Component
from spyglass.config import OneLineParser, Settings, add_arguments, settings_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="spyglass", description="Distributed tracing that speaks Jaeger.")
    parser.add_argument("--version", action="version", version=f"spyglass {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    aio = commands.add_parser("all-in-one", help="receivers, storage and query in one process")
    add_arguments(aio, command="all-in-one")
    collector = commands.add_parser("collector", help="receivers and the storage writer only")
    add_arguments(collector, command="collector")
    query = commands.add_parser("query", help="the query APIs and UI only, reading the storage")
    add_arguments(query, overrides={"admin_port": ports.QUERY_ADMIN_HTTP}, command="query")
    ch_schema = commands.add_parser("clickhouse-schema", help="print the clickhouse backend's DDL")
    add_arguments(ch_schema)
    from spyglass.cmd import clickhouse_schema

    clickhouse_schema.add_arguments(ch_schema)
    ingester = commands.add_parser("ingester", help="the NATS JetStream buffer into storage (see docs/pipeline.md)")
    add_arguments(ingester, overrides={"admin_port": 14270}, command="ingester")
    agent = commands.add_parser("agent", help="Jaeger's agent: UDP receivers and sampling, forwarding to collectors")
    add_arguments(agent, overrides={"admin_port": ports.AGENT_ADMIN_HTTP}, command="agent")
    demo = commands.add_parser("demo", help="a HotROD-like multi-service application, traced")
    add_arguments(demo)  # every setting: it may embed an all-in-one
    tracegen = commands.add_parser("tracegen", help="send generated traces at a set rate; check they read back (--verify)")
    add_arguments(tracegen, command="tracegen", own_only=True)
    from spyglass.cmd.tracegen import add_jaeger_aliases

    add_jaeger_aliases(tracegen)
    capacity = commands.add_parser("capacity", help="processes, cores, memory and disk a load needs (docs/scaling.md)")
    from spyglass.cmd import capacity as capacity_cmd

    capacity_cmd.add_arguments(capacity)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    from spyglass.security import redact

    redact.install(settings.log_level.upper(), sys.stderr)  # no credential in any log line (docs/security.md)
    if args.command == "clickhouse-schema":
        from spyglass.cmd import clickhouse_schema

        return clickhouse_schema.run(settings, args.server_version)
    if args.command in ("all-in-one", "collector", "query"):
        from spyglass.cmd.all_in_one import AllInOne

        return _serve(args.command, lambda: AllInOne(
            settings, collector=args.command != "query", query=args.command != "collector"))
    if args.command == "agent":
        from spyglass.cmd.agent import Agent

        return _serve("agent", lambda: Agent(settings))
    if args.command == "ingester":
        from spyglass.cmd.ingester import Ingester

        return _serve("ingester", lambda: Ingester(settings))
    if args.command == "demo":
        return _run_demo(settings)
    if args.command == "tracegen":
        from spyglass.cmd.tracegen import run as run_tracegen

        return run_tracegen(settings)
    if args.command == "capacity":
        from spyglass.cmd import capacity as capacity_cmd

        return capacity_cmd.run(args)
    return 0


def _serve(command: str, build: Callable[[], Component]) -> int:
    """Build a role and run it until signalled: exit 2 for a bad setting (one no single flag
    check could catch), 1 when it cannot start (storage, a port)."""
    from spyglass.cmd.all_in_one import StartupError
    from spyglass.cmd.runner import serve_until_signalled

    try:
        app = build()
    except ValueError as exc:
        print(f"spyglass {command}: error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"spyglass {command}: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(serve_until_signalled(app))
    except (StartupError, OSError) as exc:
        print(f"spyglass {command}: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_demo(settings: Settings) -> int:
    from spyglass.demo.app import run

    try:
        asyncio.run(run(settings))
    except ValueError as exc:
        print(f"spyglass: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"spyglass: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
