"""The web UI end to end: Debian's Chromium driven by Playwright against a running
all-in-one that holds real traces, ingested through the OTLP/HTTP receiver.

One server and one browser serve the whole module (the traces are written once); each
test opens its own page at 1280×800. Screenshots of every page, in both themes, go to
``test-output/screenshots/`` for a reviewer to look at.

Run the same server by hand (with the UI and the same traces) for manual checks:

    .venv/bin/python tests/ui/test_ui_e2e.py [port]
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"

# -- trace data (OTLP JSON) ----------------------------------------------------------------

SERVER, CLIENT, PRODUCER, INTERNAL = 2, 3, 4, 1
MS = 1_000_000  # ns

TRACE_CHECKOUT = "a1" * 16
TRACE_BROWSE = "b2" * 16
TRACE_BROWSE_SLOW = "c3" * 16
TRACE_SKEW = "d4" * 16
TRACE_BIG = "e5" * 16
TRACE_MISSING = "0f" * 16
BIG_SPANS = 10_000


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        v: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": str(value)}
    return {"key": key, "value": v}


@dataclass
class SpanSpec:
    """One span of a test trace; times are offsets from the trace's start, in ms."""

    service: str
    name: str
    span_id: int
    parent: int = 0
    start_ms: float = 0
    dur_ms: float = 1
    kind: int = SERVER
    attrs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    links: list[tuple[str, int]] = field(default_factory=list)


def otlp_payload(trace_id: str, spans: list[SpanSpec], t0_ns: int) -> dict[str, Any]:
    """The spans as an OTLP/JSON export request, one ResourceSpans per service."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        start = t0_ns + int(s.start_ms * MS)
        span: dict[str, Any] = {
            "traceId": trace_id,
            "spanId": f"{s.span_id:016x}",
            "name": s.name,
            "kind": s.kind,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + int(s.dur_ms * MS)),
            "attributes": [_attr(k, v) for k, v in s.attrs.items()],
            "events": [
                {"timeUnixNano": str(t0_ns + int(at * MS)), "name": name, "attributes": [_attr(k, v) for k, v in a.items()]}
                for at, name, a in s.events
            ],
            "links": [{"traceId": tid, "spanId": f"{sid:016x}"} for tid, sid in s.links],
            "status": {"code": 2, "message": s.error} if s.error else {},
        }
        if s.parent:
            span["parentSpanId"] = f"{s.parent:016x}"
        by_service.setdefault(s.service, []).append(span)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", svc), _attr("host.name", f"{svc}-host-1"), _attr("service.version", "1.4.2")]},
                "scopeSpans": [{"scope": {"name": "spyglass-ui-test", "version": "1.0"}, "spans": items}],
            }
            for svc, items in by_service.items()
        ]
    }


def checkout_trace() -> list[SpanSpec]:
    """frontend -> payments (error, logs, a link to another trace) -> db; frontend -> redis."""
    return [
        SpanSpec("frontend", "GET /checkout", 1, 0, 0, 250, SERVER,
                 {"http.method": "GET", "http.route": "/checkout", "http.status_code": 500, "user.tier": "gold"},
                 error="payment failed",
                 events=[(1, "request received", {"bytes": 512}), (240, "responding", {"status": "error"})]),
        SpanSpec("frontend", "POST /pay", 2, 1, 10, 200, CLIENT, {"http.method": "POST", "peer.service": "payments"}),
        SpanSpec("payments", "POST /pay", 3, 2, 15, 190, SERVER, {"http.status_code": 402, "card.brand": "visa"},
                 error="card declined",
                 events=[(150, "exception", {"exception.type": "CardDeclined", "exception.message": "insufficient funds"})]),
        SpanSpec("payments", "SELECT cards", 4, 3, 20, 60, CLIENT, {"db.system": "postgresql", "db.statement": "SELECT * FROM cards WHERE id = $1"}),
        SpanSpec("postgres", "query cards", 8, 4, 22, 55, SERVER, {"db.rows": 1}),
        SpanSpec("payments", "publish receipt", 7, 3, 185, 12, PRODUCER, {"messaging.system": "kafka"},
                 links=[(TRACE_BROWSE, 1)]),
        SpanSpec("frontend", "GET cache", 5, 1, 215, 10, CLIENT, {"db.system": "redis"}),
        SpanSpec("redis", "GET", 6, 5, 216, 8, SERVER, {"db.statement": "GET cart:42"}),
    ]


def browse_trace(slow: bool = False) -> list[SpanSpec]:
    """frontend -> catalog -> (db, redis×1); the slow variant calls redis three times and
    its database query takes four times longer (for the compare page)."""
    db_ms = 80 if slow else 20
    spans = [
        SpanSpec("frontend", "GET /products", 1, 0, 0, 40 + db_ms + 40, SERVER, {"http.method": "GET", "http.status_code": 200}),
        SpanSpec("frontend", "GET /catalog", 2, 1, 5, 30 + db_ms + 30, CLIENT, {"peer.service": "catalog"}),
        SpanSpec("catalog", "list products", 3, 2, 8, 24 + db_ms + 24, SERVER, {"page": 1}),
        SpanSpec("catalog", "SELECT products", 4, 3, 10, db_ms, CLIENT, {"db.system": "postgresql"}),
    ]
    for i in range(3 if slow else 1):
        spans.append(SpanSpec("redis", "GET", 10 + i, 3, 12 + db_ms + i * 5, 3, SERVER, {"db.statement": f"GET product:{i}"}))
    return spans


def skew_trace() -> list[SpanSpec]:
    """inventory's clock runs 5 ms behind: its span starts before its parent."""
    return [
        SpanSpec("frontend", "GET /stock", 1, 0, 0, 100, SERVER),
        SpanSpec("inventory", "check stock", 2, 1, -5, 60, SERVER, {"sku": "A-1"}),
    ]


def big_trace(n: int = BIG_SPANS, fanout: int = 99) -> list[SpanSpec]:
    """A root, ``fanout`` children and the rest as grandchildren spread over five worker
    services: ``n`` spans in all."""
    spans = [SpanSpec("report-api", "GET /report", 1, 0, 0, 9_000, SERVER, {"http.method": "GET"})]
    children = list(range(2, 2 + fanout))
    for i, sid in enumerate(children):
        spans.append(SpanSpec("report-api", f"fetch chunk {i % 7}", sid, 1, 5 + i * 90, 88, CLIENT))
    next_id = 2 + fanout
    i = 0
    while len(spans) < n:
        parent = children[i % fanout]
        pi = parent - 2
        spans.append(SpanSpec(f"worker-{i % 5}", f"process row {i % 11}", next_id, parent, 6 + pi * 90 + (i // fanout) % 80, 1 + (i % 7),
                              SERVER, {"row": i}, error="bad row" if i % 997 == 0 else None))
        next_id += 1
        i += 1
    return spans


def post_json(url: str, body: Any, timeout: float = 60) -> tuple[int, bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# -- the running server --------------------------------------------------------------------


class UiServer:
    """An all-in-one with the test traces ingested, and the URL its UI is served at."""

    def __init__(self, big_spans: int = BIG_SPANS) -> None:
        from conftest import RunningAllInOne

        self.running = RunningAllInOne()
        self.extra = None
        try:
            self.base = self._ui_base()
            self.now_ns = time.time_ns()
            self.ingest(big_spans)
        except BaseException:
            self.close()
            raise

    def _ui_base(self) -> str:
        """The all-in-one's own query server when it serves the UI; otherwise a query
        server with the UI mounted, over the same storage, in the same event loop."""
        base = self.running.url("query_http") if "query_http" in self.running.ports else None
        if base:
            status, _, body = get(base + "/")
            if status == 200 and b"spyglass-config" in body:
                return base
        from spyglass.query.http_api import build_app
        from spyglass.query.service import QueryService
        from spyglass.server import HttpServer
        from spyglass.ui import build_ui_app

        storage = self.running.app.storage
        service = QueryService(storage.trace_reader(), storage.dependency_reader())
        self.extra = HttpServer("query_ui", "127.0.0.1", 0, build_app(service, ui=build_ui_app()))
        self.running.call(self.extra.start())
        return f"http://127.0.0.1:{self.extra.port}"

    def ingest(self, big_spans: int) -> None:
        otlp = self.running.url("otlp_http", "/v1/traces")
        t0 = self.now_ns - 120_000 * MS
        traces = [
            (TRACE_CHECKOUT, checkout_trace(), t0),
            (TRACE_BROWSE, browse_trace(), t0 - 300_000 * MS),
            (TRACE_BROWSE_SLOW, browse_trace(slow=True), t0 - 200_000 * MS),
            (TRACE_SKEW, skew_trace(), t0 - 100_000 * MS),
        ]
        if big_spans:
            traces.append((TRACE_BIG, big_trace(big_spans), t0 - 500_000 * MS))
        for trace_id, spans, start in traces:
            for chunk in range(0, len(spans), 5000):
                status, body = post_json(otlp, otlp_payload(trace_id, spans[chunk:chunk + 5000], start))
                assert status == 200, body
        for trace_id, spans, _ in traces:
            deadline = time.monotonic() + 30
            while True:
                status, _, body = get(f"{self.base}/api/traces/{trace_id}")
                if status == 200 and len(json.loads(body)["data"][0]["spans"]) == len(spans):
                    break
                assert time.monotonic() < deadline, f"trace {trace_id} did not arrive"
                time.sleep(0.05)

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        if self.extra is not None:
            self.running.call(self.extra.stop())
        self.running.close()



# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[UiServer]:
    running = UiServer()
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (make setup does, as root)")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Page:
    """A browser page at 1280×800 on the test server, failing the test on any uncaught
    script error."""

    def __init__(self, browser: Any, server: UiServer, color_scheme: str = "light") -> None:
        self.server = server
        self.context = browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme, accept_downloads=True)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # the page's Content-Security-Policy allows no inline script or style: Chromium reports
        # each thing it blocked on the console ("Refused to ... Content Security Policy ...")
        self.csp_violations: list[str] = []
        self.page.on("console", lambda m: self.csp_violations.append(m.text) if "Content Security Policy" in m.text else None)

    def goto(self, path: str, base: str | None = None) -> Any:
        self.page.goto((base or self.server.base) + path)
        return self.page

    def shots(self, name: str) -> None:
        """Screenshots in the light and the dark theme (switched with the theme button)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        start = page.evaluate("document.documentElement.dataset.theme")
        for _ in range(2):
            theme = page.evaluate("document.documentElement.dataset.theme")
            page.wait_for_timeout(150)
            page.screenshot(path=str(SHOTS / f"{name}-{theme}.png"))
            # a programmatic click: a modal dialog may be in front of the button
            page.evaluate("document.getElementById('theme-toggle').click()")
        assert page.evaluate("document.documentElement.dataset.theme") == start

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def ui(browser: Any, server: UiServer) -> Iterator[Page]:
    page = Page(browser, server)
    yield page
    page.close()
    assert not page.errors, f"uncaught errors in the page: {page.errors}"
    assert not page.csp_violations, f"Content-Security-Policy violations: {page.csp_violations}"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def trace_path(trace_id: str) -> str:
    return f"/trace/{trace_id}"


# -- search --------------------------------------------------------------------------------


def result_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".result-title").all_inner_texts()]


def test_search_results_scatter_and_sort_orders(ui: Page) -> None:
    page = ui.goto("/search?service=frontend&lookback=1h&limit=20")
    items = page.locator(".result-item")
    expect(items).to_have_count(4)
    assert result_titles(page)[0] == "frontend: GET /checkout"  # most recent first
    checkout = page.locator(f'.result-item[data-trace-id="{TRACE_CHECKOUT}"]')
    expect(checkout.locator(".badge.error")).to_have_text("2 Errors")
    expect(checkout.locator(".result-counts")).to_contain_text("8 Spans")
    expect(checkout.locator(".result-services .pill")).to_have_text(["frontend3", "payments3", "postgres1", "redis1"])
    expect(page.locator(".scatter-point")).to_have_count(4)
    expect(page.locator(".scatter-point.has-error")).to_have_count(1)
    assert page.locator("select[name=service]").input_value() == "frontend"
    ui.shots("search-results")

    orders = {
        "LONGEST_FIRST": TRACE_CHECKOUT,
        "SHORTEST_FIRST": TRACE_BROWSE,
        "MOST_SPANS": TRACE_CHECKOUT,
        "LEAST_SPANS": TRACE_SKEW,
        "MOST_RECENT": TRACE_CHECKOUT,
    }
    for order, first in orders.items():
        page.select_option(".sort-select", order)
        expect(items.first).to_have_attribute("data-trace-id", first)
    page.select_option(".sort-select", "SHORTEST_FIRST")
    ids = items.evaluate_all("els => els.map(e => e.dataset.traceId)")
    assert ids == [TRACE_BROWSE, TRACE_SKEW, TRACE_BROWSE_SLOW, TRACE_CHECKOUT]
    page.select_option(".sort-select", "MOST_RECENT")


def test_search_form_writes_jaeger_urls(ui: Page) -> None:
    page = ui.goto("/search")
    expect(page.locator(".empty-state")).to_contain_text("Find traces")
    expect(page.locator("select[name=service] option")).to_have_count(13)  # 12 services + prompt
    page.click("button:has-text('Find traces') >> nth=0")
    expect(page.locator("select[name=service] + .hint, .field-error").first).to_contain_text("Choose a service")

    page.select_option("select[name=service]", "frontend")
    expect(page.locator("select[name=operation] option", has_text="GET /products")).to_have_count(1)
    page.fill("input[name=tags]", "error=true")
    page.click(".search-panel button[type=submit] >> nth=0")
    expect(page.locator(".result-item")).to_have_count(1)
    assert result_titles(page) == ["frontend: GET /checkout"]
    from urllib.parse import parse_qs, urlparse

    q = parse_qs(urlparse(page.url).query)
    assert q["service"] == ["frontend"] and json.loads(q["tags"][0]) == {"error": "true"}
    assert q["lookback"] == ["1h"] and q["limit"] == ["20"] and int(q["end"][0]) > int(q["start"][0])

    # operations are filtered by span kind
    page.select_option("select[name=spanKind]", "client")
    expect(page.locator("select[name=operation] option", has_text="GET /products")).to_have_count(0)
    expect(page.locator("select[name=operation] option", has_text="GET cache")).to_have_count(1)
    page.select_option("select[name=spanKind]", "")
    page.fill("input[name=tags]", "")
    page.select_option("select[name=operation]", "GET /products")
    page.fill("input[name=minDuration]", "110ms")
    page.click(".search-panel button[type=submit] >> nth=0")
    expect(page.locator(".result-item")).to_have_count(1)
    expect(page.locator(".result-item")).to_have_attribute("data-trace-id", TRACE_BROWSE_SLOW)
    assert "operation=GET+%2Fproducts" in page.url and "minDuration=110ms" in page.url

    # fields the API would reject are caught with a message next to them
    page.fill("input[name=minDuration]", "fast")
    page.fill("input[name=tags]", 'http.status_code=500 broken')
    page.click(".search-panel button[type=submit] >> nth=0")
    expect(page.locator("#" + page.locator("input[name=tags]").get_attribute("id") + "-error")).to_contain_text('Tag "broken" has no value')
    expect(page.locator("#" + page.locator("input[name=minDuration]").get_attribute("id") + "-error")).to_contain_text("is not a duration")

    # a custom time range: the last minutes before now hold the checkout trace only
    page.fill("input[name=minDuration]", "")
    page.fill("input[name=tags]", "")
    page.select_option("select[name=operation]", "")
    page.select_option("select[name=lookback]", "custom")
    start = page.locator("input[name=start]")
    expect(start).to_be_visible()
    page.evaluate(
        """() => { const pad = (n) => String(n).padStart(2, "0");
                   const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
                   const now = Date.now();
                   document.querySelector("input[name=start]").value = local(new Date(now - 150000));
                   document.querySelector("input[name=end]").value = local(new Date(now + 60000)); }"""
    )
    page.click(".search-panel button[type=submit] >> nth=0")
    expect(page.locator(".result-item")).to_have_count(1)
    expect(page.locator(".result-item")).to_have_attribute("data-trace-id", TRACE_CHECKOUT)
    assert "lookback=custom" in page.url

    # Back goes through the earlier searches
    page.go_back()
    expect(page.locator(".result-item")).to_have_attribute("data-trace-id", TRACE_BROWSE_SLOW)
    page.go_back()
    expect(page.locator(".result-item")).to_have_count(1)
    expect(page.locator(".result-item")).to_have_attribute("data-trace-id", TRACE_CHECKOUT)


def test_search_by_trace_ids(ui: Page) -> None:
    page = ui.goto("/search")
    page.click("[role=tab]:has-text('Trace ID')")
    page.fill("textarea[name=traceID]", f"{TRACE_CHECKOUT}\n{TRACE_MISSING}")
    page.click(".search-panel:visible button[type=submit]")
    expect(page.locator(".result-item")).to_have_count(1)
    expect(page.locator(".message-box.warning")).to_contain_text(TRACE_MISSING)
    assert f"traceID={TRACE_CHECKOUT}&traceID={TRACE_MISSING}" in page.url
    ui.shots("search-trace-ids")
    # the navigation bar's look-up box goes straight to one trace
    page.fill("#trace-lookup-input", TRACE_SKEW)
    page.press("#trace-lookup-input", "Enter")
    expect(page.locator(".th-title")).to_have_text("frontend: GET /stock")


def test_scatter_click_opens_the_trace(ui: Page) -> None:
    page = ui.goto("/search?service=frontend&lookback=1h")
    page.click(".scatter-point.has-error")
    expect(page).to_have_url(re.compile(f"/trace/{TRACE_CHECKOUT}$"))
    expect(page.locator(".th-title")).to_have_text("frontend: GET /checkout")


def test_download_search_results(ui: Page) -> None:
    page = ui.goto("/search?service=payments&lookback=1h")
    expect(page.locator(".result-item")).to_have_count(1)
    with page.expect_download() as info:
        page.click("button:has-text('Download results')")
    data = json.loads(Path(info.value.path()).read_text())
    assert [t["traceID"] for t in data["data"]] == [TRACE_CHECKOUT]
    assert len(data["data"][0]["spans"]) == 8


# -- trace page ----------------------------------------------------------------------------


def rows(page: Any) -> Any:
    return page.locator(".tl-row")


def row(page: Any, service: str, operation: str) -> Any:
    return page.locator(".tl-row", has=page.locator(".tl-svc", has_text=re.compile(f"^{re.escape(service)}$"))).filter(
        has=page.locator(".tl-op", has_text=re.compile(f"^{re.escape(operation)}$"))
    )


def test_trace_timeline_expand_collapse_and_critical_path(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_CHECKOUT))
    expect(page.locator(".timeline")).to_have_attribute("data-ready", "true")
    expect(rows(page)).to_have_count(8)
    stats = dict(zip(page.locator(".th-stats dt").all_inner_texts(), page.locator(".th-stats dd").all_inner_texts()))
    assert stats["DURATION"] == "250ms" and stats["SERVICES"] == "4" and stats["DEPTH"] == "5"
    assert stats["TOTAL SPANS"] == "8" and stats["ERRORS"] == "2"
    expect(page.locator(".tl-row .tl-error")).to_have_count(2)
    # critical path: the root, the payment call chain and the database, not the cache call
    assert page.locator(".tl-crit").count() > 0
    expect(row(page, "postgres", "query cards").locator(".tl-crit")).to_have_count(1)
    expect(row(page, "redis", "GET").locator(".tl-crit")).to_have_count(1)
    expect(row(page, "payments", "publish receipt").locator(".tl-crit")).to_have_count(1)
    ui.shots("trace-timeline")
    page.click("button:has-text('Critical path')")
    expect(page.locator(".tl-crit")).to_have_count(0)
    expect(page.locator("button:has-text('Critical path')")).to_have_attribute("aria-pressed", "false")

    payments = row(page, "payments", "POST /pay")
    payments.locator(".tl-toggle").click()
    expect(rows(page)).to_have_count(5)
    expect(payments).to_have_attribute("aria-expanded", "false")
    expect(payments.locator(".tl-hidden-count")).to_have_text("+3")
    payments.locator(".tl-toggle").click()
    expect(rows(page)).to_have_count(8)
    page.click("button:has-text('Collapse all')")
    expect(rows(page)).to_have_count(3)
    page.click("button:has-text('Expand all')")
    expect(rows(page)).to_have_count(8)


def test_span_detail_logs_references_and_links(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_CHECKOUT))
    row(page, "payments", "POST /pay").click()
    detail = page.locator(".span-detail")
    expect(detail.locator(".detail-title")).to_have_text("payments: POST /pay")
    tags = detail.locator(".detail-section", has_text="Tags")
    expect(tags.locator("tr", has_text="card.brand")).to_contain_text("visa")
    expect(tags.locator("tr", has_text="otel.status_description")).to_contain_text("card declined")
    logs = detail.locator(".detail-section", has_text="Logs")
    expect(logs.locator(".log-time")).to_have_text(["+150ms"])
    expect(logs).to_contain_text("exception")
    expect(logs).to_contain_text("insufficient funds")
    refs = detail.locator(".ref-list li")
    expect(refs).to_have_count(1)
    expect(refs).to_contain_text("Parent (child of)")
    detail.locator(".detail-section", has_text="Process").locator("summary").click()
    expect(detail.locator(".detail-section", has_text="Process")).to_contain_text("payments-host-1")
    ui.shots("trace-span-detail")
    # the parent reference moves to the parent span in this trace
    refs.locator("a").click()
    expect(detail.locator(".detail-title")).to_have_text("frontend: POST /pay")
    expect(page.locator(".tl-row.is-selected .tl-op")).to_have_text("POST /pay")

    # a link to a span of another trace opens that trace at that span
    row(page, "payments", "publish receipt").click()
    link = page.locator(".span-detail .ref-list a", has_text=TRACE_BROWSE)
    expect(link).to_contain_text(f"span 0000000000000001 in trace {TRACE_BROWSE}")
    link.click()
    expect(page).to_have_url(re.compile(f"/trace/{TRACE_BROWSE}\\?uiFind=0000000000000001$"))
    expect(page.locator(".th-title")).to_have_text("frontend: GET /products")
    expect(page.locator(".find-count")).to_have_text("1 of 1")
    expect(page.locator(".span-detail .detail-id")).to_have_text("0000000000000001")
    page.press(".tl-body", "Escape")
    expect(page.locator(".span-detail")).to_have_count(0)


def test_clock_skew_and_adjuster_warnings_are_shown(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_SKEW))
    row(page, "inventory", "check stock").click()
    warnings = page.locator(".span-detail .detail-warnings")
    expect(warnings).to_contain_text("starts 5ms before its parent")
    expect(warnings).to_contain_text("clock skew")
    expect(warnings).to_contain_text("clock skew adjustment disabled")  # the server's adjuster note
    ui.shots("trace-clock-skew")


def test_find_in_trace(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_CHECKOUT))
    find = page.locator(".find-input")
    find.fill("payments")
    count = page.locator(".find-count")
    # payments' three spans and frontend's call with peer.service=payments
    expect(count).to_have_text("1 of 4")
    expect(page.locator(".tl-row.is-match")).to_have_count(4)
    expect(page.locator(".tl-row.is-current-match")).to_have_count(1)
    find.press("Enter")
    expect(count).to_have_text("2 of 4")
    page.click("button[aria-label='Previous match']")
    page.click("button[aria-label='Previous match']")
    expect(count).to_have_text("4 of 4")
    expect(page.locator(".tl-row.is-current-match .tl-op")).to_have_text("publish receipt")
    assert "uiFind=payments" in page.url
    ui.shots("trace-find")
    find.fill("db.system=redis")
    expect(count).to_have_text("1 of 1")
    expect(page.locator(".tl-row.is-current-match .tl-op")).to_have_text("GET cache")
    find.fill("no-such-thing")
    expect(count).to_have_text("No matches")
    expect(page.locator(".tl-row.is-match")).to_have_count(0)
    find.press("Escape")
    expect(count).to_have_text("")
    assert "uiFind" not in page.url


def test_keyboard_use(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_CHECKOUT))
    expect(rows(page)).to_have_count(8)
    page.focus(".tl-body")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator(".tl-row.is-focused .tl-op")).to_have_text("POST /pay")
    expect(page.locator(".tl-row.is-focused .tl-svc")).to_have_text("payments")
    page.keyboard.press("Enter")
    expect(page.locator(".span-detail .detail-title")).to_have_text("payments: POST /pay")
    page.keyboard.press("ArrowLeft")
    expect(rows(page)).to_have_count(5)
    page.keyboard.press("ArrowRight")
    expect(rows(page)).to_have_count(8)
    page.keyboard.press("Escape")
    expect(page.locator(".span-detail")).to_have_count(0)
    page.keyboard.press("2")
    expect(page.locator("[role=tab][aria-selected=true]")).to_have_text("Trace graph")
    page.keyboard.press("1")
    expect(page.locator(".view-tabs [aria-selected=true]")).to_have_text("Timeline")
    page.keyboard.press("f")
    expect(page.locator(".find-input")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Keyboard shortcuts")
    expect(dialog).to_contain_text("Find in trace")
    ui.shots("keyboard-help")
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    # the minimap's zoom window edges are sliders
    page.focus(".mm-handle >> nth=0")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator(".mm-handle >> nth=0")).to_have_attribute("aria-valuenow", "20.0")
    expect(page.locator(".tl-tick.first")).to_have_text("50ms")
    page.keyboard.press("0")
    expect(page.locator(".tl-tick.first")).to_have_text("0μs")


def test_minimap_drag_zooms_the_timeline(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_CHECKOUT))
    box = page.locator(".mm-surface").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 30)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + 30, steps=5)
    page.mouse.up()
    expect(page.locator(".mm-reset")).to_be_visible()
    first = float(page.locator(".mm-handle >> nth=0").get_attribute("aria-valuenow"))
    last = float(page.locator(".mm-handle >> nth=1").get_attribute("aria-valuenow"))
    assert 48 < first < 52 and 73 < last < 77
    expect(page.locator(".tl-tick.first")).to_have_text(re.compile(r"^12\dms$"))
    ui.shots("trace-zoomed")
    page.click(".mm-reset")
    expect(page.locator(".tl-tick.first")).to_have_text("0μs")


def test_alternative_views(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_CHECKOUT))
    tabs = page.locator(".view-tabs")

    tabs.locator("text=Trace graph").click()
    expect(page.locator(".view-graph .graph-node")).to_have_count(8)
    expect(page.locator(".view-graph")).to_contain_text("×1")
    assert "view=graph" in page.url
    ui.shots("view-graph")
    page.locator(".view-graph .graph-node", has_text="SELECT cards").click()
    expect(page.locator(".view-tabs [aria-selected=true]")).to_have_text("Timeline")
    expect(page.locator(".tl-row.is-current-match .tl-op")).to_have_text("SELECT cards")

    tabs.locator("text=Statistics").click()
    table = page.locator(".stats-table tbody tr")
    expect(table).to_have_count(8)
    expect(table.first).to_contain_text("GET /checkout")  # sorted by total time
    page.select_option(".view-stats select", "service")
    expect(table).to_have_count(4)
    payments = page.locator(".stats-table tbody tr", has_text="payments")
    expect(payments.locator("td").nth(1)).to_have_text("3")
    page.click(".stats-table th button:has-text('Spans')")
    expect(table.first).to_contain_text("frontend")
    ui.shots("view-statistics")

    tabs.locator("text=Flame graph").click()
    canvas = page.locator(".flame-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box["width"] > 1000 and box["height"] >= 5 * 20
    ui.shots("view-flame-graph")
    canvas.click(position={"x": 300, "y": 50})  # depth 2: payments POST /pay
    expect(page.locator(".flame-crumbs")).to_contain_text("payments: POST /pay")
    page.click(".view-flame button:has-text('Reset zoom')")
    canvas.dblclick(position={"x": 300, "y": 50})
    expect(page.locator(".span-detail .detail-title")).to_have_text("payments: POST /pay")

    tabs.locator("text=Spans table").click()
    table_rows = page.locator(".st-body .st-row")
    expect(table_rows).to_have_count(8)
    ui.shots("view-spans-table")
    page.fill(".view-spans input[type=search]", "postgres")
    expect(table_rows).to_have_count(1)
    table_rows.first.click()
    expect(page.locator(".span-detail .detail-title")).to_have_text("postgres: query cards")

    tabs.locator("text=JSON").click()
    pre = page.locator(".json-pre")
    expect(pre).to_contain_text(f'"traceID": "{TRACE_CHECKOUT}"')
    ui.shots("view-json")
    page.click(".view-json [role=tab]:has-text('Raw')")
    expect(pre).to_contain_text('"operationName": "GET /checkout"')
    with page.expect_download() as info:
        page.click(".view-json button:has-text('Download JSON')")
    assert json.loads(Path(info.value.path()).read_text())["data"][0]["traceID"] == TRACE_CHECKOUT
    expect(page.locator(".json-links a").first).to_have_attribute("href", f"/api/traces/{TRACE_CHECKOUT}?prettyPrint=true")


# -- compare and dependencies --------------------------------------------------------------


def test_compare_two_traces(ui: Page) -> None:
    page = ui.goto("/search?service=catalog&lookback=1h")
    expect(page.locator(".result-item")).to_have_count(2)
    page.locator(f'.result-item[data-trace-id="{TRACE_BROWSE}"] .compare-check').check()
    page.locator(f'.result-item[data-trace-id="{TRACE_BROWSE_SLOW}"] .compare-check').check()
    page.click("button.compare-button")
    expect(page).to_have_url(re.compile(f"/trace/({TRACE_BROWSE}\\.\\.\\.{TRACE_BROWSE_SLOW}|{TRACE_BROWSE_SLOW}\\.\\.\\.{TRACE_BROWSE})$"))
    page = ui.goto(f"/trace/{TRACE_BROWSE}...{TRACE_BROWSE_SLOW}")
    nodes = page.locator(".diff-node")
    expect(nodes).to_have_count(5)
    expect(page.locator(".diff-node.changed")).to_have_count(1)  # redis: 1 call -> 3
    expect(page.locator(".diff-node.changed")).to_contain_text("×1 → ×3")
    expect(page.locator(".diff-node.slower", has_text="SELECT products")).to_contain_text("+300%")
    expect(page.locator(".compare-summary")).to_contain_text("1 call count changed")
    expect(page.locator(".diff-table tbody tr")).to_have_count(5)
    ui.shots("compare")

    # reversed: the slow trace first, so the database call is faster in B
    page.click("button[aria-label='Swap A and B']")
    expect(page).to_have_url(re.compile(f"/trace/{TRACE_BROWSE_SLOW}\\.\\.\\.{TRACE_BROWSE}$"))
    expect(page.locator(".diff-node.faster", has_text="SELECT products")).to_have_count(1)

    page = ui.goto(f"/trace/{TRACE_BROWSE}...{TRACE_MISSING}")
    expect(page.locator(".message-box.error")).to_contain_text("Trace B not found")
    expect(page.locator(".message-box.error")).to_contain_text(TRACE_MISSING)
    page = ui.goto("/compare")
    expect(page.locator(".message-box")).to_contain_text("Choose two traces")
    page.fill("input[placeholder='Trace ID'] >> nth=0", TRACE_CHECKOUT)
    page.fill("input[placeholder='Trace ID'] >> nth=1", TRACE_CHECKOUT)
    page.click(".compare-form button[type=submit]")
    expect(page.locator(".diff-node.same")).to_have_count(8)


def test_dependencies_graph(ui: Page) -> None:
    page = ui.goto("/dependencies")
    nodes = page.locator(".graph-node")
    expect(nodes).to_have_count(12)
    expect(page.locator(".graph-edge-label", has_text="1,980")).to_have_count(5)
    expect(page.locator(".deps-table tbody tr", has_text="payments").filter(has_text="postgres")).to_contain_text("1")
    expect(page.locator(".deps-header")).to_contain_text("12 services, 11 dependencies")
    ui.shots("dependencies")
    page.select_option(".deps-controls select", "1h")
    expect(nodes).to_have_count(12)
    page.locator(".graph-node[data-id='payments']").click()
    expect(page).to_have_url(re.compile(r"/search\?service=payments$"))
    expect(page.locator(".result-item")).to_have_count(1)


# -- opening files ---------------------------------------------------------------------------


def open_files(page: Any, files: list[tuple[str, bytes]]) -> None:
    page.click("[role=tab]:has-text('JSON file')")
    page.set_input_files(".file-input", files=[{"name": n, "mimeType": "application/json", "buffer": b} for n, b in files])


def test_open_jaeger_and_otlp_json_files(ui: Page, server: UiServer) -> None:
    _, _, jaeger_json = get(server.url(f"/api/traces/{TRACE_SKEW}"))
    upload_id = "f6" * 16
    otlp = otlp_payload(upload_id, [
        SpanSpec("upload-svc", "import batch", 1, 0, 0, 40, SERVER, {"batch": 7}),
        SpanSpec("upload-svc", "write rows", 2, 1, 5, 30, CLIENT, error="disk full"),
    ], time.time_ns())
    page = ui.goto("/search")
    open_files(page, [("jaeger.json", jaeger_json), ("otlp.json", json.dumps(otlp).encode())])
    expect(page.locator(".result-item")).to_have_count(2)
    expect(page.locator(".message-box.info")).to_contain_text("2 traces opened from files")
    expect(page.locator(f'.result-item[data-trace-id="{upload_id}"] .result-title')).to_have_text("upload-svc: import batch")
    expect(page.locator(f'.result-item[data-trace-id="{upload_id}"] .badge.error')).to_have_text("1 Error")
    ui.shots("search-opened-files")
    page.click(f'.result-item[data-trace-id="{upload_id}"] .result-title')
    expect(page.locator(".th-sub .badge")).to_have_text("Opened from a file")
    expect(rows(page)).to_have_count(2)
    expect(page.locator(".tl-row .tl-error")).to_have_count(1)
    page.go_back()
    expect(page.locator(".result-item")).to_have_count(2)  # still open in this tab
    page.click(f'.result-item[data-trace-id="{TRACE_SKEW}"] .result-title')
    expect(page.locator(".th-title")).to_have_text("frontend: GET /stock")


def test_bad_files_are_reported(ui: Page) -> None:
    page = ui.goto("/search")
    bad_otlp = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz", "spanId": "01", "name": "x"}]}]}]}
    open_files(page, [
        ("broken.json", b'{"data": [ {"traceID": '),
        ("other.json", b'{"hello": "world"}'),
        ("bad-otlp.json", json.dumps(bad_otlp).encode()),
        ("no-spans.json", b'{"data": [{"traceID": "ab", "spans": [{"traceID": "ab", "spanID": "01"}]}]}'),
    ])
    errors = page.locator(".message-box.error")
    expect(errors).to_have_count(4)
    expect(errors.nth(0)).to_contain_text("broken.json is not valid JSON")
    expect(errors.nth(1)).to_contain_text("other.json is neither Jaeger trace JSON nor OTLP JSON")
    expect(errors.nth(2)).to_contain_text("The server could not read the OTLP JSON in bad-otlp.json")
    expect(errors.nth(3)).to_contain_text('no-spans.json trace 1, span 1 has no numeric "startTime"')
    expect(page.locator(".result-item")).to_have_count(0)
    ui.shots("error-bad-files")


# -- failures --------------------------------------------------------------------------------


def test_unknown_and_malformed_trace_ids(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_MISSING))
    alert = page.locator(".message-box.error")
    expect(alert.locator(".message-title")).to_have_text("Trace not found")
    expect(alert).to_contain_text(f"No trace with ID {TRACE_MISSING} is in storage")
    expect(alert.locator("a:has-text('Search traces')")).to_be_visible()
    ui.shots("error-trace-not-found")
    page = ui.goto("/trace/not-a-trace-id")
    expect(alert.locator(".message-title")).to_have_text("This is not a valid trace ID")
    expect(alert).to_contain_text("not-a-trace-id")
    page = ui.goto("/no/such/page")
    expect(page.locator(".message-box.warning")).to_contain_text("Page not found")


def test_api_error_is_shown(ui: Page) -> None:
    page = ui.goto("/search?service=frontend&lookback=1h&minDuration=2s&maxDuration=1s")
    alert = page.locator(".search-results .message-box.error")
    expect(alert.locator(".message-title")).to_have_text("The query service rejected the request")
    expect(alert).to_contain_text("'maxDuration' should be greater than 'minDuration'")
    expect(alert).to_contain_text("HTTP 400")
    ui.shots("error-api")


def test_unreachable_backend_is_shown(ui: Page, server: UiServer) -> None:
    from spyglass.query.http_api import build_app
    from spyglass.query.service import QueryService
    from spyglass.server import HttpServer
    from spyglass.ui import build_ui_app

    storage = server.running.app.storage
    doomed = HttpServer("doomed", "127.0.0.1", 0, build_app(QueryService(storage.trace_reader(), storage.dependency_reader()), ui=build_ui_app()))
    server.running.call(doomed.start())
    base = f"http://127.0.0.1:{doomed.port}"
    page = ui.goto("/search?service=frontend&lookback=1h", base=base)
    expect(page.locator(".result-item")).to_have_count(4)
    expect(page.locator("html")).to_have_attribute("data-pages-loaded", "true")
    server.running.call(doomed.stop())
    page.click(".search-panel button[type=submit] >> nth=0")
    alert = page.locator(".search-results .message-box.error")
    expect(alert.locator(".message-title")).to_have_text("Cannot reach the query service")
    expect(alert).to_contain_text("No answer from the Spyglass query service")
    expect(alert.locator("button:has-text('Try again')")).to_be_visible()
    ui.shots("error-unreachable")
    page.fill("#trace-lookup-input", TRACE_CHECKOUT)
    page.press("#trace-lookup-input", "Enter")
    expect(page.locator(".page-trace .message-box.error .message-title")).to_have_text("Cannot reach the query service")
    page.click("a[data-nav=dependencies]")
    expect(page.locator(".page-dependencies .message-box.error .message-title")).to_have_text("Could not load the service dependencies")


def test_archive_button_reports_the_outcome(ui: Page, server: UiServer) -> None:
    """With the archive capability on, the trace page offers Archive; this server has no
    archive store, so the API's 500 is reported."""
    from spyglass.query.http_api import build_app
    from spyglass.query.service import QueryService
    from spyglass.server import HttpServer
    from spyglass.ui import build_ui_app

    storage = server.running.app.storage
    app = build_app(QueryService(storage.trace_reader(), storage.dependency_reader()), ui=build_ui_app(), archive_enabled=True)
    extra = HttpServer("archive", "127.0.0.1", 0, app)
    server.running.call(extra.start())
    try:
        page = ui.goto(trace_path(TRACE_CHECKOUT), base=f"http://127.0.0.1:{extra.port}")
        page.click(".th-actions button:has-text('Archive')")
        expect(page.locator(".toast.error")).to_contain_text("Archiving failed: archive span storage was not configured")
        expect(page.locator(".th-actions button:has-text('Archive')")).to_be_enabled()
    finally:
        server.running.call(extra.stop())
    # without the capability there is no button
    page = ui.goto(trace_path(TRACE_CHECKOUT))
    expect(rows(page)).to_have_count(8)
    expect(page.locator(".th-actions button:has-text('Archive')")).to_have_count(0)


# -- themes and the monitor page -------------------------------------------------------------


def test_themes_follow_the_system_and_the_toggle(browser: Any, server: UiServer) -> None:
    dark = Page(browser, server, color_scheme="dark")
    try:
        page = dark.goto("/search")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.click("#theme-toggle")
        assert page.evaluate("document.documentElement.dataset.theme") == "light"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") != bg
        page.reload()
        assert page.evaluate("document.documentElement.dataset.theme") == "light"  # remembered
        page.keyboard.press("t")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        expect(page.locator("#theme-toggle")).to_have_attribute("aria-label", "Switch to light theme")
        assert not dark.errors
    finally:
        dark.close()


# The monitor page (with and without a metrics store): tests/ui/test_monitor_e2e.py.


# -- the browser-side logic, module by module -------------------------------------------------


def test_js_logic_in_the_browser(ui: Page) -> None:
    """The pure parts of the UI (logfmt, durations, trace model, critical path, find,
    layered layout), run in Chromium on hand-made inputs with known answers."""
    page = ui.goto("/search")
    result = page.evaluate(
        """async () => {
      const js = (p) => import(`/static/js/${p}`);
      const { parseLogfmt, toLogfmt, parseTagsParam } = await js("logfmt.js");
      const { formatDuration, isGoDuration } = await js("format.js");
      const { buildTraceModel } = await js("trace/model.js");
      const { criticalPath } = await js("trace/critical-path.js");
      const { findSpans } = await js("trace/find.js");
      const { layoutDag } = await js("ui/dag-layout.js");
      const out = {};
      out.logfmt = parseLogfmt('a=1 b="x y" c="q\\\\"uote" d=');
      out.roundTrip = parseLogfmt(toLogfmt(out.logfmt));
      try { parseLogfmt("a=1 lonely"); } catch (e) { out.logfmtError = e.message; }
      try { parseLogfmt('a="open'); } catch (e) { out.quoteError = e.message; }
      out.tagsJson = parseTagsParam('{"http.status_code":"500","retry":true}');
      out.durations = [0, 7, 1500, 250000, 1500000, 61000000, 7200000000].map(formatDuration);
      out.goDurations = ["1.5s", "1h30m", "250us", "100µs", "fast", "10", ""].map(isGoDuration);

      const span = (id, parent, start, duration, extra = {}) => ({
        traceID: "t1", spanID: id, operationName: "op-" + id, processID: "p1", startTime: start, duration,
        references: parent ? [{ refType: "CHILD_OF", traceID: "t1", spanID: parent }] : [], tags: [], logs: [], ...extra });
      const trace = { traceID: "t1", processes: { p1: { serviceName: "svc", tags: [] } }, spans: [
        span("r", null, 0, 100), span("a", "r", 10, 40), span("b", "r", 20, 70), span("c", "b", 30, 30),
        span("o", "missing", 5, 5),
        span("x", "y", 40, 1), span("y", "x", 41, 1),
      ] };
      const model = buildTraceModel(trace);
      out.order = model.spans.map((s) => s.spanID);
      out.depths = Object.fromEntries(model.spans.map((s) => [s.spanID, s.depth]));
      out.self = Object.fromEntries(model.spans.map((s) => [s.spanID, s.selfTime]));
      out.orphans = model.orphanCount;
      out.warnings = model.warnings;
      out.subtreeEnd = model.spans[0].subtreeEnd;
      const cp = criticalPath(model);
      out.critical = Object.fromEntries([...cp].map(([s, segs]) => [s.spanID, segs]));
      out.find = findSpans(model, "op-b").map((s) => s.spanID);
      out.findPhrase = findSpans(model, '"op-c"').map((s) => s.spanID);

      const layout = layoutDag({ nodes: ["a", "b", "c", "d"].map((id) => ({ id, width: 100, height: 40 })),
        edges: [{ from: "a", to: "b" }, { from: "b", to: "c" }, { from: "c", to: "a" }, { from: "a", to: "d" }, { from: "c", to: "d" }] });
      out.layers = Object.fromEntries([...layout.nodes].map(([id, n]) => [id, n.layer]));
      out.reversed = layout.edges.filter((e) => e.reversed).map((e) => `${e.from}->${e.to}`);
      const byLayer = {};
      for (const [, n] of layout.nodes) (byLayer[n.layer] ||= []).push(n);
      out.overlaps = Object.values(byLayer).some((ns) => ns.some((p, i) => ns.some((q, j) => i !== j && Math.abs(p.x - q.x) < 100)));
      out.longEdgePoints = layout.edges.find((e) => e.from === "a" && e.to === "d").points.length;
      return out;
    }"""
    )
    assert result["logfmt"] == {"a": "1", "b": "x y", "c": 'q"uote', "d": ""}
    assert result["roundTrip"] == result["logfmt"]
    assert 'Tag "lonely" has no value' in result["logfmtError"]
    assert "no closing quote" in result["quoteError"]
    assert result["tagsJson"] == {"http.status_code": "500", "retry": "true"}
    assert result["durations"] == ["0μs", "7μs", "1.5ms", "250ms", "1.5s", "1m 1s", "2h"]
    assert result["goDurations"] == [True, True, True, True, False, False, False]

    # r{a, b{c}}, then the orphan, then the cycle x/y cut into roots
    assert result["order"][:5] == ["r", "a", "b", "c", "o"] and sorted(result["order"][5:]) == ["x", "y"]
    assert result["depths"]["c"] == 2 and result["subtreeEnd"] == 4
    # self time: r = 100 − the union of a and b (10..90); b = 70 − c's 30
    assert result["self"] == {"r": 20, "a": 40, "b": 40, "c": 30, "o": 5, "x": 1, "y": 1}
    assert result["orphans"] == 1 and any("cycle" in w for w in result["warnings"])
    # a ran in parallel with b, which finished last: a is off the path
    assert result["critical"] == {"r": [[0, 20], [90, 100]], "b": [[20, 30], [60, 90]], "c": [[30, 60]]}
    assert result["find"] == ["b"] and result["findPhrase"] == ["c"]

    assert result["reversed"] == ["c->a"]
    assert result["layers"] == {"a": 0, "b": 1, "c": 2, "d": 3}
    # a -> d skips two layers: it gets two waypoints
    assert not result["overlaps"] and result["longEdgePoints"] == 4


# -- big traces ------------------------------------------------------------------------------


def test_big_trace_opens_fast_and_scrolls(ui: Page) -> None:
    """A 10,000-span trace: time from navigation to an interactive timeline (a benchmark
    figure, printed, not asserted), only the rows in view exist, and the last span can be
    reached."""
    page = ui.goto("/search")
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        page.goto(ui.server.url(trace_path(TRACE_BIG)))
        expect(page.locator(".timeline")).to_have_attribute("data-ready", "true", timeout=60_000)
        wall = time.perf_counter() - start
        marks = page.evaluate("() => Object.fromEntries(performance.getEntriesByType('mark').map(m => [m.name, m.startTime]))")
        timings.append((wall, marks))
    best = min(timings, key=lambda t: t[1]["spyglass:timeline-ready"])
    marks = best[1]
    print(
        f"\n10,000-span trace: navigation to interactive timeline {marks['spyglass:timeline-ready']:.0f} ms "
        f"(fetch done {marks['spyglass:trace-fetched']:.0f} ms, model {marks['spyglass:trace-model']:.0f} ms; "
        f"wall {best[0] * 1000:.0f} ms)"
    )
    expect(page.locator(".th-stats")).to_contain_text("10,000")
    rendered = rows(page).count()
    assert 10 < rendered < 120, rendered  # virtualised
    assert page.evaluate("document.querySelector('.tl-canvas').style.height") == f"{BIG_SPANS * 28}px"
    page.focus(".tl-body")
    page.keyboard.press("End")
    last_id = page.evaluate("document.querySelector('.tl-row.is-focused').dataset.spanId")
    assert int(last_id, 16) >= 100
    frame_ms = page.evaluate(
        """async () => { const b = document.querySelector('.tl-body'); b.scrollTop = 0;
           const t0 = performance.now();
           for (let i = 0; i < 40; i++) { b.scrollTop += 1500; await new Promise(r => requestAnimationFrame(r)); }
           return (performance.now() - t0) / 40; }"""
    )
    print(f"10,000-span trace: {frame_ms:.1f} ms per scrolled frame")
    assert 10 < rows(page).count() < 120
    page.locator(".find-input").fill('"process row 7"')  # a quoted phrase
    expect(page.locator(".find-count")).to_have_text("1 of 900")
    ui.shots("trace-10k-spans")


if __name__ == "__main__":  # a server to look at by hand
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    server = UiServer()
    if len(sys.argv) > 1:
        from spyglass.query.http_api import build_app
        from spyglass.query.service import QueryService
        from spyglass.server import HttpServer
        from spyglass.ui import build_ui_app

        storage = server.running.app.storage
        fixed = HttpServer("dev", "127.0.0.1", int(sys.argv[1]),
                           build_app(QueryService(storage.trace_reader(), storage.dependency_reader()), ui=build_ui_app(live_reload=True)))
        server.running.call(fixed.start())
        print(f"UI at http://127.0.0.1:{fixed.port}/", flush=True)
    print(f"UI at {server.base}/", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()
