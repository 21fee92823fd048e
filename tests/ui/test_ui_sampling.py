"""The search page shows how the selected service is sampled now (adaptive: the current
probability of each operation; static: the strategy) and each result's sampling decision
recorded on its root span (``sampler.type``/``sampler.param``). Chromium via Playwright
against an adaptive all-in-one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import RunningAllInOne
from ui.test_ui_e2e import Page, browser, expect, post_json  # noqa: F401  (browser is a fixture)

TRACE = "5a" * 16


@pytest.fixture(scope="module")
def adaptive_server() -> Iterator[Any]:
    running = RunningAllInOne(sampling_type="adaptive")
    running.app.sampling.processor._set({"shop": {"GET /cart": 0.25, "POST /pay": 1.0}})
    now = time.time_ns()
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": TRACE, "spanId": "00000000000000a1", "name": "GET /cart",
            "startTimeUnixNano": str(now - 10**9), "endTimeUnixNano": str(now - 10**9 + 10**7),
            "attributes": [{"key": "sampler.type", "value": {"stringValue": "probabilistic"}},
                           {"key": "sampler.param", "value": {"doubleValue": 0.25}}],
        }]}],
    }]}
    status, text = post_json(running.url("otlp_http", "/v1/traces"), body)
    assert status == 200, text
    running.base = running.url("query_http")
    yield running
    running.close()


def test_search_page_shows_sampling(browser: Any, adaptive_server: Any) -> None:
    page = Page(browser, adaptive_server)
    try:
        p = page.goto("/search?service=shop&lookback=1h")
        info = p.locator(".sampling-info")
        expect(info).to_contain_text("Sampling: adaptive")
        expect(info.locator(".sampling-ops li")).to_have_text(["GET /cart 25%", "POST /pay 100%"])
        item = p.locator(f'.result-item[data-trace-id="{TRACE}"]')
        expect(item.locator(".badge.sampling")).to_have_text("sampler: probabilistic 0.25")
        page.shots("search-sampling")
        assert not page.errors, page.errors
    finally:
        page.close()
