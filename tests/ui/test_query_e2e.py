"""The Query tab end to end: Debian's Chromium driven by Playwright against an all-in-one
fed through the OTLP/HTTP receiver.

Proves: the query box highlights the language, completes attribute names and values seen in
the time range (from the tag routes), runs a search whose results are the usual trace list
(opening a trace works), shows a syntax error with its caret, and draws a metrics query as
a line chart with a legend and a table.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
MS = 1_000_000


def _span(trace: int, sid: int, parent: int, name: str, kind: int, start: int, dur_ms: float, error: bool) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": f"{trace:032x}", "spanId": f"{sid:016x}", "name": name, "kind": kind,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + int(dur_ms * MS)),
        "status": {"code": 2, "message": "boom"} if error else {},
        "attributes": [{"key": "http.route", "value": {"stringValue": name}}],
    }
    if parent:
        span["parentSpanId"] = f"{parent:016x}"
    return span


def payload(now_ns: int) -> dict[str, Any]:
    """30 minutes of traffic: frontend GET / (every 5th trace fails: 18 of them) and POST
    /cart, each calling backend's GET /items."""
    by_service: dict[str, list[dict[str, Any]]] = {"frontend": [], "backend": []}
    trace = 0
    for minute in range(30):
        for i in range(6):
            trace += 1
            start = now_ns - (30 - minute) * 60_000 * MS + i * 5_000 * MS
            name = "GET /" if i % 2 == 0 else "POST /cart"
            error = name == "GET /" and trace % 5 == 0
            by_service["frontend"].append(_span(trace, 1, 0, name, 2, start, 40 + 10 * i, error))
            by_service["frontend"].append(_span(trace, 2, 1, "fetch items", 3, start + MS, 20, False))
            by_service["backend"].append(_span(trace, 3, 2, "GET /items", 2, start + 2 * MS, 15 + i, False))
            if i == 5:  # an exception event on the last backend span of each minute
                by_service["backend"][-1]["events"] = [{"timeUnixNano": str(start + 3 * MS), "name": "exception",
                                                        "attributes": [{"key": "exception.type",
                                                                        "value": {"stringValue": "Timeout"}}]}]
    return {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
         "scopeSpans": [{"scope": {"name": "query-test"}, "spans": spans}]}
        for svc, spans in by_service.items()]}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (make setup does, as root)")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from conftest import RunningAllInOne

    running = RunningAllInOne()
    try:
        body = payload(time.time_ns())
        request = urllib.request.Request(running.url("otlp_http", "/v1/traces"), json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.status == 200
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(running.url("query_http", "/api/services"), timeout=30) as r:
                if len(json.loads(r.read())["data"]) == 2:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield running
    finally:
        running.close()


def test_search_highlighting_completion_and_errors(page: Any, server: Any) -> None:
    base = server.url("query_http")
    page.goto(base + "/search")
    page.locator("a[data-nav='query']").click()
    expect(page).to_have_url(f"{base}/query")
    box = page.locator("#tql-input")
    box.click()
    box.type("{ span.http.ro")
    options = page.locator("#tql-suggest .tql-option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_text("span.http.route")
    box.press("Tab")
    box.type(' = "GET')
    expect(page.locator("#tql-suggest .tql-option")).to_have_text(["GET /", "GET /items"])
    page.locator("#tql-suggest .tql-option", has_text="GET /items").dispatch_event("mousedown")
    box.type(" && status = error }")  # the value's closing quote was added
    assert box.input_value() == '{ span.http.route = "GET /items" && status = error }'
    expect(page.locator(".tql-highlight .tql-attribute")).to_have_text(["span.http.route"])
    expect(page.locator(".tql-highlight .tql-intrinsic")).to_have_text(["status"])
    expect(page.locator(".tql-highlight .tql-keyword")).to_have_text(["error"])
    expect(page.locator(".tql-highlight .tql-string")).to_have_text(['"GET /items"'])
    box.press("Enter")
    expect(page.locator(".tql-results")).to_contain_text("No traces found")  # GET /items never fails

    box.fill('{ resource.service.name = "frontend" && name = "GET /" && status = error }')
    page.locator("#tql-run").click()
    rows = page.locator(".tql-results .result-item, .tql-results .trace-card, .tql-results [data-trace-id]")
    count = page.locator(".tql-results .results-count")
    expect(count).to_contain_text("Traces")
    n = int(count.inner_text().split()[0])
    assert n == 18, count.inner_text()  # 90 GET / traces, every 5th failing... within the default hour
    shot(page, "query-search")
    assert rows.count() >= 1

    box.fill("{ name = }")
    page.locator("#tql-run").click()
    error = page.locator(".tql-error-text")
    expect(error).to_contain_text("column 10")
    assert error.inner_text().split("\n")[-1].rstrip() == " " * 9 + "^"
    shot(page, "query-error")


def test_completion_of_tempo_scopes(page: Any, server: Any) -> None:
    """Event attributes seen in the window, Tempo's scoped intrinsics, and their values."""
    page.goto(server.url("query_http") + "/query")
    box = page.locator("#tql-input")
    box.click()
    box.type("{ event.exc")
    options = page.locator("#tql-suggest .tql-option")
    expect(options).to_have_text(["event.exception.type"])
    box.press("Tab")
    box.type(' = "')
    expect(page.locator("#tql-suggest .tql-option")).to_have_text(["Timeout"])
    box.press("Tab")
    box.type(" && span:")
    expect(page.locator("#tql-suggest .tql-option").first).to_have_text("span:id")
    box.type('name = "GET /items" } !> { } | count() > 0')
    expect(page.locator(".tql-highlight .tql-intrinsic")).to_have_text(["span:name"])
    expect(page.locator(".tql-highlight .tql-attribute")).to_have_text(["event.exception.type"])
    box.press("Enter")
    expect(page.locator(".tql-results .results-count")).to_contain_text("Traces")


def test_metrics_chart_legend_and_table(page: Any, server: Any) -> None:
    base = server.url("query_http")
    page.goto(base + "/query?q=" + urllib.request.quote("{ } | rate() by (resource.service.name)") + "&lookback=1h")
    chart = page.locator(".tql-chart")
    expect(chart.locator("svg path")).to_have_count(2)
    expect(chart.locator(".monitor-legend")).to_contain_text("resource.service.name=backend")
    rows = page.locator(".tql-table tbody tr")
    expect(rows).to_have_count(2)
    assert sorted(rows.locator("th").all_inner_texts()) == ["resource.service.name=backend", "resource.service.name=frontend"]
    shot(page, "query-metrics")
