"""``spyglass tracegen``: load-test any deployment (Spyglass or Jaeger) at a known rate.

The flags are ``Settings`` fields (role ``TRACEGEN``); Jaeger tracegen's single-dash flags
(``-traces``, ``-workers``, ``-duration``, ``-pause``, ``-service``, ``-services``) are accepted
as aliases so scripts written for Jaeger's tool run unchanged. Exit status: 0, or 1 when
``--verify`` found a lost trace or nothing was acknowledged, 2 for a bad flag.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import TYPE_CHECKING

from spyglass.config import Settings, _argument_type

if TYPE_CHECKING:
    from spyglass.tracegen.run import Options

JAEGER_ALIASES = {
    "-traces": "tracegen_traces",
    "-workers": "tracegen_workers",
    "-duration": "tracegen_duration",
    "-pause": "tracegen_pause",
    "-service": "tracegen_service",
    "-services": "tracegen_services",
}


def add_jaeger_aliases(parser: argparse.ArgumentParser) -> None:
    """Jaeger's spellings, parsed exactly as the ``--`` flags they stand for."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    for alias, name in JAEGER_ALIASES.items():
        parser.add_argument(alias, dest=name, type=_argument_type(fields[name]),
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def options_from_settings(settings: Settings) -> Options:
    """The run ``settings`` describe (imports lazily: keeps ``--help`` quick)."""
    from spyglass.gocompat.godur import parse_duration
    from spyglass.tracegen.generator import TraceShape
    from spyglass.server.tls import client_tls_from_settings
    from spyglass.tracegen.run import Options

    def seconds(text: str) -> float:
        return parse_duration(text.strip()) / 1e9

    shape = TraceShape(
        services=settings.tracegen_services, service_prefix=settings.tracegen_service,
        operations=settings.tracegen_operations, depth=settings.tracegen_depth,
        fan_out=settings.tracegen_fan_out, attributes=settings.tracegen_attributes,
        events=settings.tracegen_events, error_ratio=settings.tracegen_error_ratio,
        links=settings.tracegen_links,
    )
    return Options(
        protocol=settings.tracegen_protocol, endpoint=settings.tracegen_endpoint,
        rate=settings.tracegen_rate, duration=seconds(settings.tracegen_duration),
        traces=settings.tracegen_traces, workers=settings.tracegen_workers,
        pause=seconds(settings.tracegen_pause), batch_spans=settings.tracegen_batch_spans,
        concurrency=settings.tracegen_concurrency, shape=shape, seed=settings.tracegen_seed or None,
        verify_url=settings.tracegen_verify, verify_timeout=seconds(settings.tracegen_verify_timeout),
        verify_delay=seconds(settings.tracegen_verify_delay),
        tls=client_tls_from_settings(settings, ""),
    )


def run(settings: Settings) -> int:
    """Run tracegen; the exit status."""
    from spyglass.tracegen.run import run as run_load, write_report
    from spyglass.tracegen.senders import PROTOCOLS

    if settings.tracegen_protocol not in PROTOCOLS:
        print(f"spyglass tracegen: error: --protocol {settings.tracegen_protocol!r}: one of {', '.join(PROTOCOLS)}",
              file=sys.stderr)
        return 2
    try:
        options = options_from_settings(settings)
        from spyglass.tracegen.senders import endpoint_host_port

        endpoint_host_port(options.protocol, options.endpoint)
        if options.tls is not None:
            options.tls.validate()
            if options.tls.enabled and options.protocol == "jaeger-udp":
                raise ValueError("--tls.enabled: the jaeger-udp protocol has no TLS")
    except ValueError as exc:
        print(f"spyglass tracegen: error: {exc}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(run_load(options))
    except KeyboardInterrupt:
        return 130
    if settings.tracegen_report_file:
        write_report(report, settings.tracegen_report_file)
    if not report.totals["acknowledged"]:
        print("spyglass tracegen: nothing was acknowledged", file=sys.stderr)
        return 1
    if report.verify is not None and report.verify["traces_lost"]:
        return 1
    return 0
