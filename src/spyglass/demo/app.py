"""Assembles the demo's services, optionally an embedded all-in-one to receive their spans, and a
load generator asking for rides; runs until a signal or ``--demo.duration``."""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import signal
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from spyglass.config import Settings
from spyglass.demo.services import MISSING_CUSTOMER, CUSTOMERS, Customer, Driver, Frontend, Notifier, RouteService, http_get
from spyglass.demo.tracing import Tracing
from spyglass.gocompat.godur import parse_duration

log = logging.getLogger("spyglass.demo")


class Demo:
    """Every demo service on its own 127.0.0.1 port; ``frontend_url`` is where rides are asked."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        if settings.demo_backend not in ("embedded", "remote"):
            raise ValueError(f"--demo.backend must be embedded or remote, not {settings.demo_backend!r}")
        self.settings = settings
        self.backend: Any = None
        if settings.demo_backend == "embedded":
            from spyglass.cmd.all_in_one import AllInOne

            self.backend = AllInOne(settings)
        self.workdir = workdir
        self.tracing: Tracing | None = None
        self.parts: list[Any] = []
        self.frontend_url = ""
        self._stop = threading.Event()
        self._load: threading.Thread | None = None
        self.requests = {"ok": 0, "error": 0}

    async def start(self) -> None:
        s = self.settings
        agent_host, agent_port, otlp = s.demo_agent_host, s.agent_jaeger_compact_port, s.demo_otlp_endpoint
        if self.backend is not None:
            await self.backend.start()
            ports = self.backend.ports
            agent_host, agent_port = "127.0.0.1", ports["agent_jaeger_compact"]
            otlp = f"127.0.0.1:{ports['otlp_grpc']}"
            log.info("demo: open http://127.0.0.1:%s to see its traces", ports["query_http"])
        self.tracing = Tracing(agent_host, agent_port, otlp)
        messages: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1000)
        customer, driver, route = Customer(self.tracing, self.workdir / "customers.db"), Driver(self.tracing), RouteService(self.tracing)
        notifier = Notifier(self.tracing, messages)
        frontend = Frontend(self.tracing, customer.http.port, driver.port, route.http.port, messages)
        for part in (customer.http, driver, route.http, notifier, frontend.http):
            part.start()
        self.parts = [frontend, notifier, route.http, driver, customer.http]
        self.frontend_url = f"http://127.0.0.1:{frontend.http.port}/dispatch"
        log.info("demo: frontend at %s?customer=123 (customers %s; %s is missing)",
                 self.frontend_url, ", ".join(CUSTOMERS), MISSING_CUSTOMER)
        if s.demo_rate > 0:
            self._load = threading.Thread(target=self._drive, args=(s.demo_rate,), name="demo-load", daemon=True)
            self._load.start()

    def ride(self, customer: str) -> tuple[int, dict[str, Any]]:
        """One ride request, as the demo's load generator (or a user's curl) sends it."""
        status, body = http_get(f"{self.frontend_url}?{urllib.parse.urlencode({'customer': customer})}", {}, timeout=10)
        self.requests["ok" if status == 200 else "error"] += 1
        return status, body

    def _drive(self, rate: float) -> None:
        """Rides for the missing customer first, then every other once, then at random: even a
        short run (or a slow machine's few rides) shows an error path and every customer."""
        choices = [*CUSTOMERS, MISSING_CUSTOMER]
        weights = [1.0] * len(CUSTOMERS) + [0.2]
        first = [MISSING_CUSTOMER, *CUSTOMERS]
        while not self._stop.wait(1.0 / rate):
            try:
                self.ride(first.pop(0) if first else random.choices(choices, weights)[0])
            except OSError as exc:
                log.warning("demo: ride request failed: %s", exc)

    async def stop(self) -> None:
        self._stop.set()
        if self._load is not None:
            await asyncio.to_thread(self._load.join, 15)
        for part in self.parts:
            await asyncio.to_thread(part.stop)
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.close)
        if self.backend is not None:
            await self.backend.stop()
        log.info("demo: %d rides answered, %d errors", self.requests["ok"], self.requests["error"])


async def run(settings: Settings) -> None:
    """Runs the demo until SIGINT/SIGTERM or the end of ``--demo.duration``."""
    duration = parse_duration(settings.demo_duration) / 1e9
    with tempfile.TemporaryDirectory(prefix="spyglass-demo-") as workdir:
        demo = Demo(settings, Path(workdir))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await demo.start()
        try:
            await asyncio.wait_for(stop.wait(), timeout=duration if duration > 0 else None)
        except asyncio.TimeoutError:
            pass
        await demo.stop()
