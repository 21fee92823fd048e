"""Log correlation: IDs of the active span on every record, empty outside spans."""

from __future__ import annotations

import logging

from spyglass.client import ConstSampler, InMemoryReporter, Tracer
from spyglass.client.instrumentation.logging import install_log_correlation, uninstall_log_correlation


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("[%(trace_id)s %(span_id)s %(trace_sampled)s] %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_records_carry_ids():
    tracer = Tracer("svc", InMemoryReporter(), ConstSampler(True))
    handler = Collect()
    logger = logging.getLogger("test.correlation")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    install_log_correlation(tracer)
    try:
        logger.info("outside")
        with tracer.start_active_span("op") as scope:
            logger.info("inside")
    finally:
        uninstall_log_correlation()
        logger.removeHandler(handler)
    span = scope.span
    assert handler.lines == ["[  False] outside", f"[{span.trace_id:016x} {span.span_id:016x} True] inside"]
    assert not hasattr(logging.getLogger("x").makeRecord("x", 20, "f", 1, "m", (), None), "trace_id")
