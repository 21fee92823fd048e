"""The web UI's Jaeger-v2 features and the rough edges of issue 9, end to end in Debian's
Chromium: the deep dependency graph (page, API and search-results view), semantic row
icons and badges, the results table, search time, collapsible search panel and compare
selection, navigable span links and backlinks; the scatter plot's time labels, find in
trace not hiding its match behind the span drawer, and legible trace-graph text.

The traces are built for these tests (see ``shop_trace`` and ``audit_trace``) on top of
the e2e module's standard ones, without its 10,000-span trace. Screenshots go to
``test-output/screenshots/`` like the e2e module's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ui.test_ui_e2e import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CLIENT,
    INTERNAL,
    MS,
    PRODUCER,
    SERVER,
    TRACE_CHECKOUT,
    Page,
    SpanSpec,
    UiServer,
    expect,
    get,
    otlp_payload,
    post_json,
    row,
    rows,
    trace_path,
)

CONSUMER = 5
TRACE_SHOP = "f6" * 16
TRACE_AUDIT = "a7" * 16


def shop_trace() -> list[SpanSpec]:
    """Five services: shop-web (HTTP server, HTTP client) -> cart-api (HTTP server, gRPC
    client, Kafka producer) -> cart-store (gRPC server, PostgreSQL client); the Kafka
    message -> cart-worker (consumer, HTTP client) -> mailer (HTTP server, 503)."""
    return [
        SpanSpec("shop-web", "GET /cart", 1, 0, 0, 120, SERVER,
                 {"http.request.method": "GET", "http.route": "/cart", "http.response.status_code": 200}),
        SpanSpec("shop-web", "GET", 2, 1, 2, 110, CLIENT,
                 {"http.request.method": "GET", "server.address": "cart-api", "http.response.status_code": 200}),
        SpanSpec("cart-api", "GET /api/cart", 3, 2, 4, 100, SERVER, {"http.method": "GET", "http.status_code": 200}),
        SpanSpec("cart-api", "CartStore/Load", 4, 3, 6, 40, CLIENT,
                 {"rpc.system": "grpc", "rpc.service": "CartStore", "rpc.method": "Load"}),
        SpanSpec("cart-store", "CartStore/Load", 5, 4, 8, 35, SERVER,
                 {"rpc.system": "grpc", "rpc.service": "CartStore", "rpc.method": "Load", "rpc.grpc.status_code": 0}),
        SpanSpec("cart-store", "SELECT carts", 6, 5, 10, 20, CLIENT,
                 {"db.system": "postgresql", "db.statement": "SELECT * FROM carts WHERE id = $1"}),
        SpanSpec("cart-api", "cart-events publish", 7, 3, 50, 5, PRODUCER,
                 {"messaging.system": "kafka", "messaging.destination.name": "cart-events"}),
        SpanSpec("cart-worker", "cart-events process", 8, 7, 60, 50, CONSUMER,
                 {"messaging.system": "kafka", "messaging.operation": "process"}),
        SpanSpec("cart-worker", "POST", 9, 8, 62, 40, CLIENT,
                 {"http.request.method": "POST", "http.response.status_code": 503}, error="mailer unavailable"),
        SpanSpec("mailer", "POST /send", 10, 9, 64, 35, SERVER,
                 {"http.request.method": "POST", "http.route": "/send", "http.response.status_code": 503}, error="overloaded"),
        SpanSpec("cart-api", "render cart", 11, 3, 60, 30, INTERNAL, {}),
    ]


def audit_trace() -> list[SpanSpec]:
    """A batch job whose span links to shop's publish span (another trace) and to a
    sibling span of its own trace."""
    return [
        SpanSpec("cart-audit", "audit batch", 1, 0, 0, 80, SERVER, {}),
        SpanSpec("cart-audit", "load rules", 2, 1, 2, 10, INTERNAL, {}),
        SpanSpec("cart-audit", "audit message", 3, 1, 20, 40, CONSUMER, {"messaging.system": "kafka"},
                 links=[(TRACE_SHOP, 7), (TRACE_AUDIT, 2)]),
    ]


class FeatureServer(UiServer):
    """The e2e module's server and traces (without the big trace) plus this module's."""

    def __init__(self) -> None:
        super().__init__(big_spans=0)

    def ingest(self, big_spans: int) -> None:
        super().ingest(big_spans)
        otlp = self.running.url("otlp_http", "/v1/traces")
        t0 = self.now_ns - 60_000 * MS
        extra = [(TRACE_SHOP, shop_trace(), t0), (TRACE_AUDIT, audit_trace(), t0 + 2_000 * MS)]
        for trace_id, spans, start in extra:
            status, body = post_json(otlp, otlp_payload(trace_id, spans, start))
            assert status == 200, body
        for trace_id, spans, _ in extra:
            deadline = time.monotonic() + 30
            while True:
                status, _, body = get(f"{self.base}/api/traces/{trace_id}")
                if status == 200 and len(json.loads(body)["data"][0]["spans"]) == len(spans):
                    break
                assert time.monotonic() < deadline, f"trace {trace_id} did not arrive"
                time.sleep(0.05)


@pytest.fixture(scope="module")
def server() -> Iterator[FeatureServer]:
    running = FeatureServer()
    yield running
    running.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (make setup does, as root)")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def ui(browser: Any, server: FeatureServer) -> Iterator[Page]:
    page = Page(browser, server)
    yield page
    page.close()
    assert not page.errors, f"uncaught errors in the page: {page.errors}"


# -- issue 9, item 7 -------------------------------------------------------------------------


def test_scatter_time_labels_are_distinct_at_any_span(ui: Page) -> None:
    """Each label is as precise as the tick spacing needs, so none repeats: results over
    1.5 s get half-second ticks labelled to the millisecond, over 3 s whole seconds, over
    two hours minutes."""
    page = ui.goto("/search")
    labels = page.evaluate(
        """async () => {
      const { renderScatter } = await import("/static/js/search/scatter.js");
      const { timeTicks } = await import("/static/js/format.js");
      const out = {};
      for (const [name, spanMs] of [["subsecond", 1500], ["seconds", 3000], ["hours", 7200000], ["ms", 40]]) {
        const t0 = Date.UTC(2026, 0, 5, 10, 0, 0) * 1000;
        const summaries = [0, 0.3, 0.55, 1].map((f, i) => ({ traceID: "t" + i, rootService: "s", rootOperation: "o",
          startTime: t0 + f * spanMs * 1000, duration: 1000 * (i + 1), spanCount: 1, errorCount: 0 }));
        const holder = document.createElement("div");
        holder.style.width = "900px";
        document.body.appendChild(holder);
        const stop = renderScatter(holder, summaries, { onOpen() {} });
        out[name] = [...holder.querySelectorAll(".axis-label[text-anchor=middle]")].map((e) => e.textContent);
        stop();
        holder.remove();
      }
      out.ticks = timeTicks(Date.UTC(2026, 0, 5, 10, 0, 0), Date.UTC(2026, 0, 5, 10, 0, 3), 6).map((t) => t.value % 500);
      return out;
    }"""
    )
    for name in ("subsecond", "seconds", "hours", "ms"):
        assert len(labels[name]) >= 3, labels
        assert len(set(labels[name])) == len(labels[name]), labels  # no repeated label
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.[05]00", t) for t in labels["subsecond"]), labels
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in labels["seconds"]), labels
    assert all(re.fullmatch(r"\d\d:\d\d", t) for t in labels["hours"]), labels
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", t) for t in labels["ms"]), labels
    assert set(labels["ticks"]) == {0}  # round steps (500 ms over 3 s)


def _row_visible_above_drawer(page: Any) -> None:
    box = page.locator(".tl-row.is-current-match").bounding_box()
    body = page.locator(".tl-body").bounding_box()
    drawer = page.locator(".detail-drawer").bounding_box()
    assert box is not None and drawer is not None and body is not None
    assert box["y"] >= body["y"] - 1 and box["y"] + box["height"] <= drawer["y"] + 1, (box, body, drawer)


def test_find_keeps_the_match_above_the_span_drawer(ui: Page) -> None:
    """In a short viewport, the matched row (the last span) would sit where the drawer
    opens; it is scrolled into the part of the timeline the drawer leaves."""
    ui.page.set_viewport_size({"width": 1280, "height": 560})
    page = ui.goto(trace_path(TRACE_SHOP))
    expect(rows(page)).to_have_count(11)
    page.locator(".find-input").fill("render cart")
    expect(page.locator(".find-count")).to_have_text("1 of 1")
    expect(page.locator(".span-detail .detail-title")).to_have_text("cart-api: render cart")
    _row_visible_above_drawer(page)
    page.locator(".find-input").fill("\"POST /send\"")
    expect(page.locator(".span-detail .detail-title")).to_have_text("mailer: POST /send")
    _row_visible_above_drawer(page)
    ui.shots("trace-find-above-drawer")
    # clicking a low row opens the drawer without hiding the clicked row
    page.locator(".find-input").press("Escape")
    page.click(".detail-close")
    expect(page.locator(".detail-drawer")).to_be_hidden()
    last = rows(page).last
    last.click()
    expect(page.locator(".span-detail")).to_have_count(1)
    box = page.locator(".tl-row.is-selected").bounding_box()
    drawer = page.locator(".detail-drawer").bounding_box()
    assert box["y"] + box["height"] <= drawer["y"] + 1


def _graph_text_px(page: Any) -> list[float]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.graph-svg text')].map((t) => {
             const m = t.getScreenCTM(); return parseFloat(getComputedStyle(t).fontSize) * m.a; })"""
    )


def test_trace_graph_text_is_legible_and_fit_enlarges_a_small_graph(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_SHOP) + "?view=graph")
    expect(page.locator(".graph-node")).to_have_count(11)
    sizes = _graph_text_px(page)
    assert sizes and min(sizes) >= 12, sizes
    ui.shots("trace-graph-default-zoom")
    # a two-span trace: Fit enlarges it beyond 1:1
    page = ui.goto("/trace/" + "d4" * 16 + "?view=graph")
    expect(page.locator(".graph-node")).to_have_count(2)
    page.click(".graph-toolbar button:has-text('Fit')")
    scale = page.evaluate("() => document.querySelector('.graph-viewport').transform.baseVal.consolidate().matrix.a")
    assert scale > 1.3, scale
    assert min(_graph_text_px(page)) > 15


# -- deep dependency graph --------------------------------------------------------------------


def test_deep_dependencies_api_computes_paths(server: FeatureServer) -> None:
    status, _, body = get(server.url("/api/deep-dependencies?service=cart-api&lookback=3600000"))
    assert status == 200
    paths = [[f"{e['service']}:{e['operation']}" for e in d["path"]] for d in json.loads(body)["dependencies"]]
    assert ["shop-web:GET /cart", "cart-api:GET /api/cart", "cart-store:CartStore/Load"] in paths
    assert ["shop-web:GET /cart", "cart-api:GET /api/cart", "cart-worker:cart-events process", "mailer:POST /send"] in paths
    exemplar = json.loads(body)["dependencies"][0]["attributes"][0]
    assert exemplar == {"key": "exemplar_trace_id", "value": TRACE_SHOP}


def _ddg_nodes(page: Any) -> list[str]:
    return sorted(page.locator(".ddg-node").evaluate_all("els => els.map(e => `${e.dataset.distance} ${e.dataset.service}`)"))


def test_deep_dependency_page_focus_hops_hide_and_traces(ui: Page) -> None:
    page = ui.goto("/deep-dependencies?service=cart-api")
    expect(page.locator(".ddg-node.focal")).to_have_count(1)
    assert _ddg_nodes(page) == ["-1 shop-web", "0 cart-api", "1 cart-store", "1 cart-worker", "2 mailer"]
    expect(page.locator(".graph-edge-label")).to_have_count(4)
    expect(page.locator("select[name=service]")).to_have_value("cart-api")
    ui.shots("deep-dependencies")
    # one downstream hop: mailer goes
    page.select_option("label:has-text('Downstream hops') select", "1")
    assert _ddg_nodes(page) == ["-1 shop-web", "0 cart-api", "1 cart-store", "1 cart-worker"]
    page.select_option("label:has-text('Downstream hops') select", "2")
    # hide a service from a node's menu, show it again from the service list
    page.click(".graph-node:has(.ddg-node[data-service=cart-worker])")
    page.click(".ddg-menu button:has-text('Hide cart-worker')")
    assert _ddg_nodes(page) == ["-1 shop-web", "0 cart-api", "1 cart-store"]
    page.click(".ddg-services summary")
    expect(page.locator(".ddg-services summary")).to_have_text("Services (1 hidden)")
    page.check(".ddg-service:has-text('cart-worker') input")
    assert len(_ddg_nodes(page)) == 5
    # focus on another node: the URL moves with it
    page.click(".graph-node:has(.ddg-node[data-service=cart-store])")
    page.click(".ddg-menu button:has-text('Focus on this node')")
    expect(page).to_have_url(re.compile(r"/deep-dependencies\?service=cart-store&operation=CartStore%2FLoad"))
    expect(page.locator(".ddg-node.focal")).to_have_attribute("data-service", "cart-store")
    assert _ddg_nodes(page) == ["-1 cart-api", "-2 shop-web", "0 cart-store"]
    # a node's traces
    page.click(".graph-node:has(.ddg-node[data-service=shop-web])")
    page.click(".ddg-menu button:has-text('View traces')")
    expect(page).to_have_url(re.compile(r"/search\?service=shop-web&operation=GET\+%2Fcart"))
    expect(page.locator(".result-item")).to_have_count(1)
    # without a service: a prompt, not an error
    page = ui.goto("/deep-dependencies")
    expect(page.locator(".empty-state")).to_contain_text("Choose a focal service")


def test_deep_dependency_graph_from_search_results(ui: Page) -> None:
    page = ui.goto("/search?service=cart-store&lookback=1h")
    expect(page.locator(".result-item")).to_have_count(1)
    page.click(".results-views [role=tab]:has-text('Deep Dependency Graph')")
    expect(page.locator(".ddg-node.focal")).to_have_attribute("data-service", "cart-store")
    assert _ddg_nodes(page) == ["-1 cart-api", "-2 shop-web", "0 cart-store"]
    expect(page.locator(".ddg-source")).to_contain_text("Computed from the 1 trace of these results")
    assert "view=ddg" in page.url
    ui.shots("search-deep-dependencies")
    # the view is in the URL: a reload keeps it
    page.reload()
    expect(page.locator(".ddg-node.focal")).to_have_count(1)
    # focus moves within the results
    page.click(".graph-node:has(.ddg-node[data-service=cart-api])")
    page.click(".ddg-menu button:has-text('Focus on this node')")
    expect(page.locator(".ddg-node.focal")).to_have_attribute("data-service", "cart-api")
    assert "-1 shop-web" in _ddg_nodes(page)


# -- timeline rows ------------------------------------------------------------------------------


def test_timeline_rows_show_kind_icons_and_semantic_badges(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_SHOP))
    expect(rows(page)).to_have_count(11)

    def kind(service: str, op: str) -> str:
        return row(page, service, op).locator(".tl-kind").get_attribute("data-kind")

    def badges(service: str, op: str) -> list[str]:
        return row(page, service, op).locator(".tl-badge").all_inner_texts()

    assert kind("shop-web", "GET /cart") == "http-server" and badges("shop-web", "GET /cart") == ["GET", "200"]
    assert kind("shop-web", "GET") == "http-client"
    assert kind("cart-api", "CartStore/Load") == "rpc-client" and badges("cart-api", "CartStore/Load") == ["Load"]
    assert kind("cart-store", "CartStore/Load") == "rpc-server"
    assert kind("cart-store", "SELECT carts") == "db-client" and badges("cart-store", "SELECT carts") == ["PostgreSQL"]
    assert kind("cart-api", "cart-events publish") == "messaging-producer" and badges("cart-api", "cart-events publish") == ["Kafka"]
    assert kind("cart-worker", "cart-events process") == "messaging-consumer"
    assert kind("cart-api", "render cart") == "generic-internal" and badges("cart-api", "render cart") == []
    assert badges("mailer", "POST /send") == ["POST", "503"]
    expect(row(page, "mailer", "POST /send").locator(".tl-badge.status-error")).to_have_text("503")
    expect(row(page, "mailer", "POST /send").locator(".tl-error")).to_have_count(1)
    expect(row(page, "cart-store", "SELECT carts").locator(".tl-kind")).to_have_attribute("aria-label", "Database call")
    # the span detail names the kind of work too
    row(page, "cart-store", "CartStore/Load").click()
    expect(page.locator(".span-detail .detail-meta")).to_contain_text("RPC server")
    ui.shots("trace-semantic-rows")


# -- search results -------------------------------------------------------------------------------


def test_results_table_sorting_search_time_panel_and_compare(ui: Page) -> None:
    page = ui.goto("/search?service=frontend&lookback=1h")
    expect(page.locator(".result-item")).to_have_count(4)
    expect(page.locator(".search-time")).to_have_text(re.compile(r"found in \d"))
    page.click(".results-views [role=tab]:has-text('Table')")
    table_rows = page.locator(".results-table tbody tr")
    expect(table_rows).to_have_count(4)
    assert "view=table" in page.url
    headers = page.locator(".results-table thead th").all_inner_texts()
    assert [h.strip(" ▲▼\n") for h in headers[1:]] == ["Trace name", "Services", "Spans", "Errors", "Duration", "Start time"]

    def ids() -> list[str]:
        return table_rows.evaluate_all("els => els.map(e => e.dataset.traceId)")

    page.click(".results-table th[data-col=spans] button")
    expect(page.locator(".results-table th[data-col=spans]")).to_have_attribute("aria-sort", "descending")
    assert ids()[0] == TRACE_CHECKOUT
    page.click(".results-table th[data-col=spans] button")
    expect(page.locator(".results-table th[data-col=spans]")).to_have_attribute("aria-sort", "ascending")
    assert ids()[0] == "d4" * 16  # two spans
    page.click(".results-table th[data-col=errors] button")
    assert ids()[0] == TRACE_CHECKOUT
    page.click(".results-table th[data-col=name] button")
    expect(page.locator(".results-table th[data-col=name]")).to_have_attribute("aria-sort", "ascending")
    names = page.locator(".results-table .result-table-title").all_inner_texts()
    assert names == sorted(names, key=str.lower)
    ui.shots("search-results-table")
    # a new search stays in the table view
    page.click(".search-panel button[type=submit] >> nth=0")
    expect(page.locator(".results-table tbody tr")).to_have_count(4)
    assert "view=table" in page.url

    # selection is shared with the list; two selected traces compare
    boxes = page.locator(".results-table .compare-check")
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(page.locator(".compare-button")).to_have_text("Compare traces (2/2)")
    first, second = ids()[:2]
    page.click(".results-views [role=tab]:has-text('List')")
    expect(page.locator(f'.result-item[data-trace-id="{first}"] .compare-check')).to_be_checked()
    page.click(".compare-button")
    expect(page).to_have_url(re.compile(f"/trace/{first}\\.\\.\\.{second}"))

    # the search panel folds away and stays folded
    page = ui.goto("/search?service=frontend&lookback=1h")
    expect(page.locator(".result-item")).to_have_count(4)
    wide_before = page.locator(".search-results").bounding_box()["width"]
    page.click("button.panel-toggle")
    expect(page.locator(".search-sidebar")).to_be_hidden()
    expect(page.locator("button.panel-toggle")).to_have_attribute("aria-expanded", "false")
    assert page.locator(".search-results").bounding_box()["width"] > wide_before + 200
    page.reload()
    expect(page.locator(".search-sidebar")).to_be_hidden()
    page.click("button:has-text('Show search')")
    expect(page.locator(".search-sidebar")).to_be_visible()


# -- span links -------------------------------------------------------------------------------------


def test_span_links_navigate_and_backlinks_are_found(ui: Page) -> None:
    page = ui.goto(trace_path(TRACE_AUDIT))
    expect(rows(page)).to_have_count(3)
    linking = row(page, "cart-audit", "audit message")
    expect(linking.locator(".tl-link-icon")).to_be_visible()
    # the row lists its links; the one inside this trace jumps to the span
    linking.locator(".tl-link-icon").click()
    popover = page.locator(".link-popover")
    expect(popover.locator("li")).to_have_count(2)
    popover.locator("a", has_text="cart-audit: load rules").click()
    expect(page.locator(".span-detail .detail-title")).to_have_text("cart-audit: load rules")
    expect(popover).to_be_hidden()
    # the other goes to the other trace with the linked span selected
    linking.locator(".tl-link-icon").click()
    popover.locator("a", has_text=TRACE_SHOP).click()
    expect(page).to_have_url(re.compile(f"/trace/{TRACE_SHOP}\\?uiFind=0000000000000007$"))
    expect(page.locator(".span-detail .detail-title")).to_have_text("cart-api: cart-events publish")

    # backlinks: the shop trace is linked from the audit trace's span
    page.click(".backlinks-button")
    panel = page.locator(".backlinks-panel")
    expect(panel).to_contain_text("Linked from 1 span in 1 other trace")
    expect(page.locator(".backlinks-button")).to_have_text("Linked from 1")
    expect(row(page, "cart-api", "cart-events publish").locator(".tl-backlink-icon")).to_have_count(1)
    expect(page.locator(".tl-backlink-icon")).to_have_count(1)
    back = page.locator(".span-detail .ref-list li.backlink")
    expect(back).to_contain_text("cart-audit: audit message")
    ui.shots("trace-backlinks")
    back.locator("a").click()
    expect(page).to_have_url(re.compile(f"/trace/{TRACE_AUDIT}\\?uiFind=0000000000000003$"))
    expect(page.locator(".span-detail .detail-title")).to_have_text("cart-audit: audit message")
    # a trace nothing links to says so
    page.click(".backlinks-button")
    expect(page.locator(".backlinks-panel")).to_contain_text("No stored trace links to this one")
