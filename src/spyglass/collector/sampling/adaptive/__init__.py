"""Jaeger's adaptive sampling (``jaeger-reference.md`` D.5): collectors count root spans
(``aggregator``), a leader elected through the storage's lease recomputes per-operation
probabilities every interval (``calculator``, ``processor``), and every collector serves
them to SDKs (``provider``)."""

from spyglass.collector.sampling.adaptive.aggregator import Aggregator
from spyglass.collector.sampling.adaptive.calculator import Calculator
from spyglass.collector.sampling.adaptive.options import AdaptiveOptions
from spyglass.collector.sampling.adaptive.processor import AdaptiveProcessor
from spyglass.collector.sampling.adaptive.provider import AdaptiveStrategyProvider

__all__ = ["AdaptiveOptions", "AdaptiveProcessor", "AdaptiveStrategyProvider", "Aggregator", "Calculator"]
