"""The Monitor tab end to end: Debian's Chromium driven by Playwright against an
all-in-one whose spans (sent through the OTLP/HTTP receiver) feed the RED rollups.

Proves: the services table shows rate, error rate and p95 with sparklines; a service
opens its latency/rate/error charts and its operations table; an operation narrows the
charts; a point of the error chart opens the search for that window's failed traces; and
a server without a metrics store explains itself instead of drawing empty charts.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
MS = 1_000_000
SERVER, CLIENT = 2, 3


def _span(trace: int, sid: int, parent: int, name: str, kind: int, start: int, dur_ms: float, error: bool) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": f"{trace:032x}", "spanId": f"{sid:016x}", "name": name, "kind": kind,
        "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + int(dur_ms * MS)),
        "status": {"code": 2, "message": "boom"} if error else {},
    }
    if parent:
        span["parentSpanId"] = f"{parent:016x}"
    return span


def payload(now_ns: int) -> dict[str, Any]:
    """30 minutes of traffic: frontend GET / (every 5th fails) and POST /cart, each calling
    backend's GET /items."""
    by_service: dict[str, list[dict[str, Any]]] = {"frontend": [], "backend": []}
    trace = 0
    for minute in range(30):
        for i in range(6):
            trace += 1
            start = now_ns - (30 - minute) * 60_000 * MS + i * 5_000 * MS
            name = "GET /" if i % 2 == 0 else "POST /cart"
            error = name == "GET /" and trace % 5 == 0
            by_service["frontend"].append(_span(trace, 1, 0, name, SERVER, start, 40 + 10 * i, error))
            by_service["frontend"].append(_span(trace, 2, 1, "fetch items", CLIENT, start + MS, 20, False))
            by_service["backend"].append(_span(trace, 3, 2, "GET /items", SERVER, start + 2 * MS, 15 + i, False))
    return {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
         "scopeSpans": [{"scope": {"name": "monitor-test"}, "spans": spans}]}
        for svc, spans in by_service.items()]}


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from conftest import RunningAllInOne

    running = RunningAllInOne()
    try:
        body = json.dumps(payload(time.time_ns())).encode()
        request = urllib.request.Request(running.url("otlp_http", "/v1/traces"), body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as r:
            assert r.status == 200
        deadline = time.monotonic() + 30
        while True:  # spans are written asynchronously after the 200
            with urllib.request.urlopen(running.url("query_http", "/api/services"), timeout=30) as r:
                if len(json.loads(r.read())["data"]) == 2:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield running
    finally:
        running.close()


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


def test_services_charts_operations_and_links_to_traces(page: Any, server: Any) -> None:
    base = server.url("query_http")
    page.goto(base + "/monitor")
    rows = page.locator(".monitor-services tbody tr")
    expect(rows).to_have_count(2)
    front = page.locator(".monitor-services tr[data-service='frontend']")
    expect(front.locator("svg.sparkline path")).to_have_count(3)  # rate, errors, p95 all have points
    cells = front.locator("td.num .value").all_inner_texts()
    assert cells[0].endswith("/s") and cells[1].endswith("%") and cells[2].endswith("ms"), cells
    shot(page, "monitor-services")

    front.locator("a").click()
    expect(page).to_have_url(f"{base}/monitor?service=frontend")
    expect(page.locator(".monitor-chart")).to_have_count(3)
    expect(page.locator(".monitor-chart").first.locator(".monitor-legend")).to_contain_text("p95")
    ops = page.locator(".monitor-operations tbody tr")
    expect(ops).to_have_count(2)
    assert sorted(ops.evaluate_all("rows => rows.map(r => r.dataset.operation)")) == ["GET /", "POST /cart"]
    shot(page, "monitor-service")

    page.locator(".monitor-operations tr[data-operation='GET /'] a").click()
    expect(page.locator(".monitor-operations tr.selected")).to_have_attribute("data-operation", "GET /")
    assert "operation=GET+%2F" in page.url or "operation=GET%20%2F" in page.url

    errors_chart = page.locator(".monitor-chart", has_text="Error rate")
    point = errors_chart.locator("circle.point").last
    point.dispatch_event("click")
    expect(page).to_have_url(re.compile(r"/search\?"))
    assert "service=frontend" in page.url and "lookback=custom" in page.url and "error" in page.url


def test_without_a_metrics_store_the_page_explains(page: Any, server: Any) -> None:
    from spyglass.query.http_api import build_app
    from spyglass.query.service import QueryService
    from spyglass.server import HttpServer
    from spyglass.ui import build_ui_app

    storage = server.app.storage
    plain = HttpServer("query_ui", "127.0.0.1", 0,
                       build_app(QueryService(storage.trace_reader(), storage.dependency_reader()), ui=build_ui_app()))
    server.call(plain.start())
    try:
        page.goto(f"http://127.0.0.1:{plain.port}/monitor")
        expect(page.locator(".message-box")).to_contain_text("Service performance monitoring is not enabled")
        shot(page, "monitor-disabled")
    finally:
        server.call(plain.stop())
