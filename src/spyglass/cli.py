"""The ``spyglass`` command: parses flags (or ``SPYGLASS_*`` variables) and runs a component."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from spyglass import __version__, ports
from spyglass.config import add_arguments, settings_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spyglass", description="Distributed tracing that speaks Jaeger.")
    parser.add_argument("--version", action="version", version=f"spyglass {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    aio = commands.add_parser("all-in-one", help="receivers, storage and query in one process")
    add_arguments(aio)
    collector = commands.add_parser("collector", help="receivers and the storage writer only")
    add_arguments(collector)
    query = commands.add_parser("query", help="the query APIs and UI only, reading the storage")
    add_arguments(query, overrides={"admin_port": ports.QUERY_ADMIN_HTTP})
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command in ("all-in-one", "collector", "query"):
        from spyglass.cmd.all_in_one import AllInOne
        from spyglass.cmd.runner import serve_until_signalled

        try:
            app = AllInOne(settings, collector=args.command != "query", query=args.command != "collector")
        except ValueError as exc:
            print(f"spyglass: {exc}", file=sys.stderr)
            return 2
        try:
            asyncio.run(serve_until_signalled(app))
        except OSError as exc:
            print(f"spyglass: cannot start: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
