"""Reporters take finished spans off the application's thread; senders deliver them."""

from spyglass.client.reporting.base import CompositeReporter, NullReporter, Reporter
from spyglass.client.reporting.in_memory import InMemoryReporter
from spyglass.client.reporting.logging_reporter import LoggingReporter
from spyglass.client.reporting.reporter import RemoteReporter

__all__ = [
    "CompositeReporter",
    "InMemoryReporter",
    "LoggingReporter",
    "NullReporter",
    "RemoteReporter",
    "Reporter",
]
