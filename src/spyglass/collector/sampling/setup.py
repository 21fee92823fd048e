"""Builds sampling from the settings, so ``cmd/all_in_one.py`` only calls in here:
the strategy provider (file or adaptive), the sampling store, and the sink stages
(adaptive's aggregator, tail sampling) around the collector's sink."""

from __future__ import annotations

from typing import Any

from spyglass.collector.sampling.adaptive import AdaptiveOptions, AdaptiveProcessor, AdaptiveStrategyProvider
from spyglass.collector.sampling.provider import StrategyProvider
from spyglass.config import Settings
from spyglass.gocompat.godur import parse_duration
from spyglass.storage.api.sampling import SamplingStore


def _s(text: str) -> float:
    return parse_duration(text.strip()) / 1e9


def adaptive_options(s: Settings) -> AdaptiveOptions:
    return AdaptiveOptions(
        target_samples_per_second=s.sampling_target_samples_per_second,
        delta_tolerance=s.sampling_delta_tolerance,
        calculation_interval_s=_s(s.sampling_calculation_interval),
        aggregation_buckets=s.sampling_aggregation_buckets,
        delay_s=_s(s.sampling_delay),
        initial_sampling_probability=s.sampling_initial_sampling_probability,
        min_sampling_probability=s.sampling_min_sampling_probability,
        min_samples_per_second=s.sampling_min_samples_per_second,
        leader_lease_refresh_interval_s=_s(s.sampling_leader_lease_refresh_interval),
        follower_lease_refresh_interval_s=_s(s.sampling_follower_lease_refresh_interval),
    )


def open_sampling_store(s: Settings, storage: Any = None) -> SamplingStore:
    """The backend's sampling store: memory (this process), sqlite (``<data-dir>/sampling.db``),
    clickhouse (tables in the Spyglass database, through ``storage``'s connections)."""
    if s.storage == "memory":
        from spyglass.storage.memory.sampling import MemorySamplingStore

        return MemorySamplingStore()
    if s.storage == "sqlite":
        from spyglass.storage.sqlite.sampling import SqliteSamplingStore

        return SqliteSamplingStore(s.data_dir)
    connector = getattr(storage, "connector", None)
    if s.storage == "clickhouse" and connector is not None:
        from spyglass.storage.clickhouse.sampling import ClickHouseSamplingStore

        return ClickHouseSamplingStore(connector, storage.config.database, prepare=storage.open)
    raise ValueError(f"--sampling.type adaptive: the {s.storage} backend has no sampling store (memory, sqlite, clickhouse)")


def build_adaptive(s: Settings, pinned: StrategyProvider | None, storage: Any = None) -> AdaptiveStrategyProvider:
    options = adaptive_options(s)
    options.validate()
    return AdaptiveStrategyProvider(AdaptiveProcessor(open_sampling_store(s, storage), options), pinned)


def wrap_sink(s: Settings, sink: Any, provider: StrategyProvider) -> Any:
    """Adaptive's aggregator and/or tail sampling in front of ``sink``."""
    observe = None
    if isinstance(provider, AdaptiveStrategyProvider):
        observe = provider.processor.aggregator.observe
        _adaptive_metrics(sink.metrics.registry, provider.processor)
    if s.sampling_tail_policies:
        from spyglass.collector.tailsampling import TailSamplingSink, load_tail_config
        from spyglass.collector.tailsampling.routing import PeerRouter, parse_peers

        try:
            config = load_tail_config(s.sampling_tail_policies)
        except ValueError as exc:
            raise ValueError(f"--sampling.tail.policies: {exc}") from None
        router = PeerRouter(parse_peers(s.sampling_tail_peers)) if s.sampling_tail_peers else None
        if router is not None:
            router.tenant_header = s.multi_tenancy_header.strip().lower()
        return TailSamplingSink(sink, config, router=router, observe=observe)
    if observe is not None:
        from spyglass.collector.observing import ObservingSink

        return ObservingSink(sink, observe)
    return sink


def _adaptive_metrics(registry: Any, processor: AdaptiveProcessor) -> None:
    from prometheus_client import Gauge

    Gauge("spyglass_sampling_adaptive_leader", "1 while this collector computes adaptive probabilities",
          registry=registry).set_function(lambda: 1.0 if processor.is_leader else 0.0)
    Gauge("spyglass_sampling_adaptive_calculations", "Adaptive calculations this collector ran as leader",
          registry=registry).set_function(lambda: processor.calculations)
    Gauge("spyglass_sampling_adaptive_store_errors", "Failed sampling store operations",
          registry=registry).set_function(lambda: processor.store_errors)
    Gauge("spyglass_sampling_adaptive_roots", "Root spans with sampler tags counted by the aggregator",
          registry=registry).set_function(lambda: processor.aggregator.roots_seen)
