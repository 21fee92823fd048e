"""``spyglass clickhouse-schema``: print the clickhouse DDL for operators who create it by hand.

The DDL depends on the server version (TTL, codecs and skip indexes exist only on current
servers), so the command asks the server at ``--clickhouse.addresses`` for it; with
``--server-version`` it prints the DDL for that version without connecting. Pipe the
output to ``clickhouse-client --multiquery`` and run Spyglass with
``--clickhouse.create-schema=false``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from spyglass.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server-version", default="", metavar="X.Y",
                        help="print the DDL for this ClickHouse version instead of asking the server")


def run(settings: Settings, server_version: str = "", out: TextIO | None = None) -> int:
    from spyglass.storage.clickhouse.connection import ClickHouseUnavailable, Connector
    from spyglass.storage.clickhouse.factory import layout_for
    from spyglass.storage.clickhouse.options import config_from_options
    from spyglass.storage.clickhouse.schema import script

    options = {f: getattr(settings, f) for f in settings.__slots__ if f.startswith("clickhouse_")}  # type: ignore[attr-defined]
    try:
        config = config_from_options(options)
        config.validate()
        version = server_version or Connector(config).ping()
    except (ValueError, ClickHouseUnavailable) as exc:
        print(f"spyglass clickhouse-schema: {exc} (or pass --server-version)", file=sys.stderr)
        return 2
    (out or sys.stdout).write(script(layout_for(config, version)))
    return 0
