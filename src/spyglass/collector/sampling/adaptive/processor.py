"""Runs adaptive sampling on one collector, on a daemon thread (the store may block):

* every ``calculation_interval``: flush the aggregator's counts to the store; read every
  collector's throughput for the window that ended ``delay`` ago (contiguous windows, so no
  row is counted twice or missed); as leader, compute and store new probabilities; as
  follower, load the leader's;
* the lease (named ``sampling_lock``) lasts ``follower_lease_refresh_interval``: the leader
  renews it every ``leader_lease_refresh_interval``, a follower tries to take it every
  ``follower_lease_refresh_interval`` (and reloads the probabilities then), so a dead
  leader is replaced within about one follower interval.

Store failures are logged (once per kind of failure) and retried at the next tick; they
never stop serving the last known probabilities.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from spyglass.collector.sampling.adaptive.aggregator import Aggregator
from spyglass.collector.sampling.adaptive.calculator import Calculator
from spyglass.collector.sampling.adaptive.options import AdaptiveOptions
from spyglass.storage.api.sampling import SamplingStore, ServiceOperationProbabilities

log = logging.getLogger(__name__)

LEASE_NAME = "sampling_lock"


class AdaptiveProcessor:
    def __init__(
        self,
        store: SamplingStore,
        options: AdaptiveOptions,
        aggregator: Aggregator | None = None,
        clock: Callable[[], float] = time.time,
        owner: str = "",
    ) -> None:
        options.validate()
        self.store = store
        self.options = options
        self.aggregator = aggregator or Aggregator()
        self.calculator = Calculator(options)
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.is_leader = False
        self.probabilities: ServiceOperationProbabilities = {}
        self.generation = 0  # changes with the probabilities (HTTP answer caches)
        self.calculations = 0
        self.store_errors = 0
        self._window_end: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem = ""

    # -- one step each, public so tests can drive them without the thread ----------------
    def flush(self) -> None:
        rows = self.aggregator.flush()
        if rows:
            self.store.insert_throughput(rows, self.clock())

    def refresh_lease(self) -> bool:
        o = self.options
        was = self.is_leader
        self.is_leader = self.store.acquire_lease(LEASE_NAME, self.owner, o.follower_lease_refresh_interval_s, self.clock())
        if self.is_leader != was:
            log.info("adaptive sampling: %s the leader", "now" if self.is_leader else "no longer")
        if not self.is_leader:
            self._set(self.store.get_latest_probabilities())
        return self.is_leader

    def calculate(self) -> None:
        o = self.options
        end = self.clock() - o.delay_s
        start = self._window_end if self._window_end is not None else end - o.calculation_interval_s
        if end <= start:
            return
        rows = self.store.get_throughput(start, end + 1e-6)
        self._window_end = end + 1e-6
        self.calculator.add_bucket(rows, o.calculation_interval_s)
        if self.is_leader:
            probabilities, qps = self.calculator.calculate()
            self.store.insert_probabilities_and_qps(self.owner, probabilities, qps, self.clock())
            self.calculations += 1
            self._set(probabilities)
        else:
            latest = self.store.get_latest_probabilities()
            self.calculator.probabilities = {s: dict(ops) for s, ops in latest.items()}
            self._set(latest)

    def _set(self, probabilities: ServiceOperationProbabilities) -> None:
        if probabilities != self.probabilities:
            self.probabilities = probabilities
            self.generation += 1

    # -- the thread -------------------------------------------------------------------
    def start(self) -> None:
        self._guard(self.refresh_lease)
        if self.is_leader:  # a leader taking over continues from the stored probabilities
            self._guard(lambda: self._adopt(self.store.get_latest_probabilities()))
        self._thread = threading.Thread(target=self._run, name="spyglass-adaptive-sampling", daemon=True)
        self._thread.start()

    def _adopt(self, latest: ServiceOperationProbabilities) -> None:
        self.calculator.probabilities = {s: dict(ops) for s, ops in latest.items()}
        self._set(latest)

    def _run(self) -> None:
        o = self.options
        now = self.clock()
        next_tick = now + o.calculation_interval_s
        next_lease = now + (o.leader_lease_refresh_interval_s if self.is_leader else o.follower_lease_refresh_interval_s)
        while not self._stop.wait(max(0.0, min(next_tick, next_lease) - self.clock())):
            now = self.clock()
            if now >= next_lease:
                was_leader = self.is_leader
                self._guard(self.refresh_lease)
                if self.is_leader and not was_leader:
                    self._guard(lambda: self._adopt(self.store.get_latest_probabilities()))
                next_lease = now + (o.leader_lease_refresh_interval_s if self.is_leader else o.follower_lease_refresh_interval_s)
            if now >= next_tick:
                self._guard(self.flush)
                self._guard(self.calculate)
                next_tick += o.calculation_interval_s
                if next_tick < now:
                    next_tick = now + o.calculation_interval_s

    def _guard(self, step: Callable[[], object]) -> None:
        try:
            step()
            if self._problem:
                log.warning("adaptive sampling: the sampling store works again")
                self._problem = ""
        except Exception as exc:  # keep serving the last probabilities
            self.store_errors += 1
            if str(exc) != self._problem:
                log.warning("adaptive sampling: sampling store failed: %s", exc)
                self._problem = str(exc)

    def close(self) -> None:
        """Stop, flush what was counted and give up the lease so another collector leads at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._guard(self.flush)
        if self.is_leader:
            self._guard(lambda: self.store.forfeit_lease(LEASE_NAME, self.owner))
            self.is_leader = False
