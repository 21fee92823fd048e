"""Adaptive sampling's options, with Jaeger's defaults (D.5); durations in seconds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class AdaptiveOptions:
    target_samples_per_second: float = 1.0
    delta_tolerance: float = 0.3
    calculation_interval_s: float = 60.0
    aggregation_buckets: int = 10
    delay_s: float = 120.0
    initial_sampling_probability: float = 0.001
    min_sampling_probability: float = 1e-5
    min_samples_per_second: float = 1.0 / 60.0
    leader_lease_refresh_interval_s: float = 5.0
    follower_lease_refresh_interval_s: float = 60.0

    def validate(self) -> None:
        if self.target_samples_per_second <= 0:
            raise ValueError("--sampling.target-samples-per-second must be positive")
        if self.calculation_interval_s <= 0:
            raise ValueError("--sampling.calculation-interval must be positive")
        if self.aggregation_buckets < 1:
            raise ValueError("--sampling.aggregation-buckets must be at least 1")
        if self.delay_s < 0:
            raise ValueError("--sampling.delay must not be negative")
        for name, p in (("initial-sampling-probability", self.initial_sampling_probability),
                        ("min-sampling-probability", self.min_sampling_probability)):
            if not 0 <= p <= 1:
                raise ValueError(f"--sampling.{name} must be between 0 and 1")
        if self.leader_lease_refresh_interval_s <= 0 or self.follower_lease_refresh_interval_s <= 0:
            raise ValueError("--sampling.*-lease-refresh-interval must be positive")
