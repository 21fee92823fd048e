"""Where sampling strategies come from: a fixed default, or a strategies file (or URL)
that is re-read while the server runs.

Providers hand out the same response objects to every caller; treat them as read-only
(``strategies.copy_response`` makes a private copy). ``generation`` changes whenever the
strategies change, so the HTTP handlers can cache encoded answers until then.

Reloading runs on a daemon thread, never on the event loop: every ``reload_interval``
seconds the file (or URL) is read again and, when its bytes changed, parsed and swapped
in atomically. A change that does not parse is logged and the previous strategies stay,
so a half-written file never takes sampling down. At start-up, though, an unreadable or
invalid file is an error: a typo should stop the server, not silently sample at 0.1%.
"""

from __future__ import annotations

import abc
import logging
import threading
import urllib.request

from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.collector.sampling.strategies import (
    DEFAULT_SAMPLING_PROBABILITY,
    Strategies,
    StrategiesError,
    load_strategies,
    probabilistic_response,
)

log = logging.getLogger(__name__)

DEFAULT_RELOAD_INTERVAL = 1.0
_MAX_FILE_BYTES = 16 << 20


class StrategyProvider(abc.ABC):
    generation: int = 0

    @abc.abstractmethod
    def get_strategy(self, service: str) -> pb.SamplingStrategyResponse:
        """The strategy for ``service`` (shared; do not modify)."""

    def get_tenant_strategy(self, tenant: str, service: str) -> pb.SamplingStrategyResponse:
        """The strategy for ``service`` of ``tenant`` (multi-tenancy); a strategies file
        or the default probability is the same for every tenant."""
        return self.get_strategy(service)

    def close(self) -> None:
        """Stop reloading."""


class StaticStrategyProvider(StrategyProvider):
    """Fixed strategies; by default probabilistic ``default_sampling_probability`` for all."""

    def __init__(
        self, strategies: Strategies | None = None, default_sampling_probability: float = DEFAULT_SAMPLING_PROBABILITY
    ) -> None:
        self.strategies = strategies or Strategies(probabilistic_response(default_sampling_probability))

    def get_strategy(self, service: str) -> pb.SamplingStrategyResponse:
        return self.strategies.for_service(service)


def _read(source: str, timeout: float = 10.0) -> bytes:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=timeout) as resp:
            data = resp.read(_MAX_FILE_BYTES + 1)
    else:
        with open(source, "rb") as f:
            data = f.read(_MAX_FILE_BYTES + 1)
    if len(data) > _MAX_FILE_BYTES:
        raise StrategiesError(f"{source} is larger than {_MAX_FILE_BYTES} bytes")
    return data


class FileStrategyProvider(StrategyProvider):
    """Strategies from ``source`` (a path or an http(s) URL); see the module docstring.
    ``reload_interval`` 0 reads it once."""

    def __init__(
        self,
        source: str,
        reload_interval: float = DEFAULT_RELOAD_INTERVAL,
        default_sampling_probability: float = DEFAULT_SAMPLING_PROBABILITY,
    ) -> None:
        self.source = source
        self.reload_interval = reload_interval
        self.default_sampling_probability = default_sampling_probability
        self.reloads = 0
        self.reload_errors = 0
        self._problem: str | None = None  # the reload problem last logged, until it is solved
        self._raw = _read(source)
        self.strategies = load_strategies(self._raw, default_sampling_probability)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if reload_interval > 0:
            self._thread = threading.Thread(target=self._watch, name="spyglass-strategies-reload", daemon=True)
            self._thread.start()

    def get_strategy(self, service: str) -> pb.SamplingStrategyResponse:
        return self.strategies.for_service(service)

    def reload(self) -> bool:
        """Read the source again now; True when new strategies were swapped in.

        A problem is logged once when it appears (or changes), and its end once, not at
        every poll: a broken file left alone must not fill the log every second."""
        try:
            raw = _read(self.source)
            if raw == self._raw:
                self._problem_solved()
                return False
            strategies = load_strategies(raw, self.default_sampling_probability)
        except (OSError, StrategiesError) as exc:
            self.reload_errors += 1
            problem = str(exc)
            if problem != self._problem:
                log.warning("keeping the current sampling strategies: cannot reload %s: %s", self.source, problem)
                self._problem = problem
            return False
        self._problem_solved()
        self._raw = raw
        self.strategies = strategies
        self.generation += 1
        self.reloads += 1
        log.info("sampling strategies reloaded from %s", self.source)
        return True

    def _problem_solved(self) -> None:
        if self._problem is not None:
            log.warning("sampling strategies file %s is usable again", self.source)
            self._problem = None

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_interval):
            self.reload()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def build_provider(
    strategies_file: str = "",
    reload_interval: float = DEFAULT_RELOAD_INTERVAL,
    default_sampling_probability: float = DEFAULT_SAMPLING_PROBABILITY,
) -> StrategyProvider:
    """The provider for the server's settings: the file's strategies when a path or URL
    is given, else ``default_sampling_probability`` for every service."""
    if strategies_file:
        return FileStrategyProvider(strategies_file, reload_interval, default_sampling_probability)
    return StaticStrategyProvider(default_sampling_probability=default_sampling_probability)
