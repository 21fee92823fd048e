"""The UI under its strict Content-Security-Policy (no inline script, no inline style):
Chromium visits every page and every trace view and reports no violation, and the page is
served with the security headers. A control shows the check sees a violation when there is one.

(Every test of ``test_ui_e2e`` also fails on a violation: its ``Page`` listens for them.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ui.test_ui_e2e import TRACE_BROWSE, TRACE_CHECKOUT, Page, UiServer, browser, get, trace_path  # noqa: F401

RECORD = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""
PAGES = ["/search", "/search?service=frontend&lookback=1h&limit=20", trace_path(TRACE_CHECKOUT),
         f"{trace_path(TRACE_CHECKOUT)}?view=graph", f"{trace_path(TRACE_CHECKOUT)}?view=stats",
         f"{trace_path(TRACE_CHECKOUT)}?view=flame", f"{trace_path(TRACE_CHECKOUT)}?view=spans",
         f"{trace_path(TRACE_CHECKOUT)}?view=json", f"/trace/{TRACE_CHECKOUT}...{TRACE_BROWSE}",
         "/dependencies", "/deep-dependencies", "/monitor", "/no-such-page"]


@pytest.fixture(scope="module")
def server() -> Iterator[UiServer]:
    running = UiServer(big_spans=0)
    yield running
    running.close()


@pytest.fixture
def page(browser: Any, server: UiServer) -> Iterator[Page]:
    p = Page(browser, server)
    p.context.add_init_script(RECORD)
    yield p
    p.close()


def test_the_page_policy_allows_nothing_inline(server: UiServer) -> None:
    status, headers, _ = get(server.url("/search"))
    policy = {k.lower(): v for k, v in headers.items()}["content-security-policy"]
    assert status == 200 and "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "frame-ancestors 'none'" in policy
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-frame-options"] == "DENY" and lower["x-content-type-options"] == "nosniff"


def test_no_page_or_view_violates_the_policy(page: Page) -> None:
    for path in PAGES:
        p = page.goto(path)
        p.wait_for_load_state("networkidle")
        p.wait_for_timeout(200)
        assert p.evaluate("window.__csp") == [], path
        if path.startswith("/search?"):  # open the first result's menus, hover the scatter plot
            p.locator(".result-item").first.hover()
    assert page.csp_violations == []
    assert page.errors == []


def test_a_violation_would_be_seen(page: Page) -> None:
    p = page.goto("/search")
    p.evaluate("document.body.setAttribute('style', 'color: red')")  # an inline style attribute
    p.wait_for_timeout(200)
    assert p.evaluate("window.__csp")
    assert any("Content Security Policy" in text for text in page.csp_violations)
