"""The remote sampler: the sampling server decides the strategy, polled in the background.

It starts with an initial sampler (probabilistic 0.001 unless configured) and asks
``GET {sampling_server_url}?service=<name>`` right away, then every
``sampling_refresh_interval`` seconds (with up to 10% jitter, so a fleet restarted at
once does not poll in lock-step). Sampling decisions never wait for the network: they use
whatever strategy was last received. When the server is unreachable or answers garbage,
the sampler keeps its current strategy, counts the failure and logs it once per outage.
A forked child (pre-fork servers) starts its own polling thread.
"""

from __future__ import annotations

import json
import logging
import os
import random
import ssl
import threading
import urllib.parse
import urllib.request
import weakref
from typing import Any

from spyglass.client.constants import (
    DEFAULT_MAX_OPERATIONS,
    DEFAULT_SAMPLING_INTERVAL,
    DEFAULT_SAMPLING_PORT,
    DEFAULT_SAMPLING_PROBABILITY,
)
from spyglass.client.sampling.base import Sampler, SamplerTags
from spyglass.client.sampling.probabilistic import ProbabilisticSampler
from spyglass.client.sampling.strategy import apply_strategy
from spyglass.client.suppress import suppressed

log = logging.getLogger(__name__)

DEFAULT_SAMPLING_URL = f"http://127.0.0.1:{DEFAULT_SAMPLING_PORT}/sampling"
MAX_RESPONSE_BYTES = 1 << 20


class StrategyFetcher:
    """GETs the strategy JSON for one service (plain urllib: no event loop, no extra
    dependency, and it runs on the poller's own thread). Instrumentation is suppressed
    so the polls are not traced themselves."""

    def __init__(self, sampling_server_url: str, service_name: str, timeout: float = 5.0,
                 ca_file: str | None = None) -> None:
        """``ca_file``: the CA that signed an ``https://`` sampling server's certificate
        (``--agent.sampling.tls.*`` on the agent); the system's CAs otherwise."""
        self.url = sampling_server_url
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self.service_name = service_name
        self.timeout = timeout
        sep = "&" if urllib.parse.urlsplit(sampling_server_url).query else "?"
        self.request_url = f"{sampling_server_url}{sep}{urllib.parse.urlencode({'service': service_name})}"

    def fetch(self) -> Any:
        with suppressed(), urllib.request.urlopen(self.request_url, timeout=self.timeout, context=self.context) as resp:
            body = resp.read(MAX_RESPONSE_BYTES + 1)
        if len(body) > MAX_RESPONSE_BYTES:
            raise ValueError("sampling strategy response is larger than 1 MiB")
        return json.loads(body)


class RemoteControlledSampler(Sampler):
    """Follows the strategy served for ``service_name``; see the module docstring."""

    def __init__(
        self,
        service_name: str,
        sampling_server_url: str = DEFAULT_SAMPLING_URL,
        initial_sampler: Sampler | None = None,
        sampling_refresh_interval: float = DEFAULT_SAMPLING_INTERVAL,
        max_operations: int = DEFAULT_MAX_OPERATIONS,
        timeout: float = 5.0,
        start: bool = True,
        ca_file: str | None = None,
    ) -> None:
        self.service_name = service_name
        self.sampler: Sampler = initial_sampler or ProbabilisticSampler(DEFAULT_SAMPLING_PROBABILITY)
        self.sampling_refresh_interval = float(sampling_refresh_interval)
        self.max_operations = max_operations
        self.fetcher = StrategyFetcher(sampling_server_url, service_name, timeout, ca_file)
        self.updates = 0
        self.errors = 0
        self.last_error: str | None = None
        self._failing = False
        self._stop = threading.Event()
        self._polled = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if start:
            self.start()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _restart_after_fork(ref))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll_loop, name="spyglass-sampling-poller", daemon=True)
            self._thread.start()

    def is_sampled(self, trace_id: int, operation: str = "") -> tuple[bool, SamplerTags]:
        return self.sampler.is_sampled(trace_id, operation)

    def update(self) -> bool:
        """Poll once now; True when a strategy was received and applied."""
        try:
            response = self.fetcher.fetch()
            with self._lock:
                self.sampler = apply_strategy(response, self.sampler, self.max_operations)
        except Exception as exc:  # network, HTTP status, JSON or strategy errors alike
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if not self._failing:
                log.warning("cannot get sampling strategy from %s: %s; keeping %r",
                            self.fetcher.url, self.last_error, self.sampler)
            self._failing = True
            return False
        finally:
            self._polled.set()
        if self._failing:
            log.info("sampling strategy from %s received again", self.fetcher.url)
        self._failing = False
        self.updates += 1
        return True

    def wait_for_poll(self, timeout: float | None = None) -> bool:
        """Block until the first poll finished (for tests and start-up scripts)."""
        return self._polled.wait(timeout)

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self.update()
            jitter = random.uniform(0, 0.1 * self.sampling_refresh_interval)
            if self._stop.wait(self.sampling_refresh_interval + jitter):
                return

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.fetcher.timeout + 1)
        self.sampler.close()

    def __repr__(self) -> str:
        return f"RemoteControlledSampler(service={self.service_name!r}, url={self.fetcher.url!r}, current={self.sampler!r})"


def _restart_after_fork(ref: weakref.ref[RemoteControlledSampler]) -> None:
    """Threads do not survive ``fork``: a forked worker polls with a thread of its own."""
    sampler = ref()
    if sampler is not None and sampler._thread is not None and not sampler._stop.is_set():
        sampler._lock = threading.Lock()
        sampler._thread = None
        sampler.start()
