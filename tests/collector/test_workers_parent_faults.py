"""The parent of ``--workers`` answers every request a worker hands it, even when its own
handling fails in a way it did not plan for: the client gets a retryable error at once
instead of waiting for its timeout."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from conftest import RunningAllInOne

from tests.pipeline_procs import otlp_json


def test_a_request_the_parent_fails_on_is_answered_retryable() -> None:
    running = RunningAllInOne(collector_workers=2)
    try:
        assert running.app.pool is not None

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug in the parent's sink")

        running.app.pool.sink.accept = broken  # the parent's queue, as a bug would break it
        request = urllib.request.Request(running.url("otlp_http", "/v1/traces"), data=otlp_json(0xF00, 2, "faulty"),
                                         headers={"Content-Type": "application/json"})
        started = time.monotonic()
        try:
            urllib.request.urlopen(request, timeout=20)
            raise AssertionError("the spans were acknowledged")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503, exc.read()
        assert time.monotonic() - started < 5
    finally:
        running.close()
