"""Tail-based sampling in the collector: spans are held per trace for ``decision_wait``,
then the whole trace is kept or dropped by OpenTelemetry tail_sampling policies
(``policies``); ``sink`` is the SpanSink stage in front of storage, ``routing`` sends each
trace to one collector when there are several."""

from spyglass.collector.tailsampling.policies import TailConfig, load_tail_config, parse_tail_config
from spyglass.collector.tailsampling.sink import TailSamplingSink

__all__ = ["TailConfig", "TailSamplingSink", "load_tail_config", "parse_tail_config"]
