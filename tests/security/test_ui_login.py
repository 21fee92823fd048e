"""The UI's sign-in with Debian's Chromium (Playwright) against a running all-in-one, and the
session cookie's rules checked over plain HTTP: HttpOnly, SameSite=Strict, scoped to the base
path, ended by sign-out, by revoking the credential, and useless from another origin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import RunningAllInOne
from security.creds import ADMIN_TOKEN, PASSWORDS, READ_TOKEN, write_htpasswd, write_tokens

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def basic_aio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAllInOne]:
    d = tmp_path_factory.mktemp("ui-basic")
    aio = RunningAllInOne(query_auth="basic", query_auth_htpasswd_file=str(write_htpasswd(d / "htpasswd")),
                          query_base_path="/jaeger")
    yield aio
    aio.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def test_browser_signs_in_sees_who_and_signs_out(basic_aio, browser):
    from playwright.sync_api import expect

    base = basic_aio.url("query_http", "/jaeger")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    csp_violations: list[str] = []
    page.on("console", lambda m: csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        page.goto(base + "/search?service=x")
        assert "/jaeger/login?next=" in page.url  # no session: sent to sign in
        expect(page.locator("#username")).to_be_visible()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "login.png"))
        page.fill("#username", "alice")
        page.fill("#password", "not-her-password")
        page.click("button[type=submit]")
        expect(page.locator(".login-error")).to_be_visible()
        assert "/jaeger/login?error=1&next=" in page.url  # where she wanted to go is kept
        page.fill("#username", "alice")
        page.fill("#password", PASSWORDS["alice"])
        page.click("button[type=submit]")
        page.wait_for_url("**/jaeger/search?service=x")  # back where she wanted to go
        expect(page.locator("#session-user .session-name")).to_have_text("alice")
        expect(page.locator("#session-user .session-tenant")).to_have_text("acme")
        page.screenshot(path=str(SHOTS / "signed-in.png"))
        cookie = next(c for c in context.cookies() if c["name"] == "spyglass_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/jaeger/"
        assert page.evaluate("document.cookie") == ""  # not readable by scripts
        # the UI's data calls go through with the cookie alone
        services = page.evaluate("fetch('/jaeger/api/services').then(r => r.status)")
        assert services == 200
        page.click("#sign-out")
        page.wait_for_url("**/jaeger/login")
        assert context.request.get(base + "/api/services").status == 401  # the cookie is dead
        assert not [c for c in context.cookies() if c["name"] == "spyglass_session"]
        page.goto(base + "/search")
        assert "/jaeger/login" in page.url
    finally:
        context.close()
    assert not errors, errors
    assert not csp_violations, csp_violations


def _sign_in(aio: RunningAllInOne, base: str, **form: str) -> requests.Session:
    s = requests.Session()
    r = s.post(aio.url("query_http", base + "/auth/login"), data=form, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    return s


def test_token_sign_in_session_is_revoked_with_its_token(tmp_path):
    tokens = write_tokens(tmp_path / "tokens")
    aio = RunningAllInOne(query_auth="bearer", query_auth_tokens_file=str(tokens))
    try:
        page = requests.get(aio.url("query_http", "/login"), timeout=10)
        assert 'name="token"' in page.text and 'name="password"' not in page.text
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        s = _sign_in(aio, "", token=READ_TOKEN, next="/search")
        set_cookie = s.cookies.get("spyglass_session")
        assert set_cookie and READ_TOKEN not in set_cookie
        assert s.get(aio.url("query_http", "/api/services"), timeout=10).status_code == 200
        assert s.get(aio.url("query_http", "/auth/me"), timeout=10).json()["mode"] == "bearer"
        # a cookie-authenticated change from another origin is refused (SameSite aside)
        r = s.post(aio.url("query_http", "/api/archive/" + "1" * 32), headers={"Origin": "http://evil.test"}, timeout=10)
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers
        assert r.headers["WWW-Authenticate"].startswith("Session")  # no browser password dialog
        # revoking the token ends its sessions
        tokens.write_text(f"{ADMIN_TOKEN} - read,admin\n")
        deadline = time.time() + 10
        while s.get(aio.url("query_http", "/api/services"), timeout=10).status_code != 401:
            assert time.time() < deadline, "session outlived its revoked token"
            time.sleep(0.2)
        # wrong token: back to the form with an error, no cookie
        bad = requests.post(aio.url("query_http", "/auth/login"), data={"token": "x" * 30}, allow_redirects=False)
        assert bad.status_code == 303 and bad.headers["Location"] == "/login?error=1&next=%2F"
        assert "spyglass_session" not in bad.cookies
    finally:
        aio.close()


def test_sign_in_never_redirects_off_site(basic_aio):
    for target in ("https://evil.test/", "//evil.test/x", "/\\evil.test", "/elsewhere", "/jaeger/login"):
        s = requests.Session()
        r = s.post(basic_aio.url("query_http", "/jaeger/auth/login"),
                   data={"username": "alice", "password": PASSWORDS["alice"], "next": target},
                   allow_redirects=False, timeout=10)
        assert r.status_code == 303 and r.headers["Location"] == "/jaeger/", target
    r = requests.get(basic_aio.url("query_http", "/jaeger/login?next=" + requests.utils.quote('"><b>x')), timeout=10)
    assert '"><b>x' not in r.text


def test_session_table_is_bounded_and_expires():
    from spyglass.security.authenticator import Credential
    from spyglass.security.principal import Principal
    from spyglass.security.sessions import SessionStore

    now = [1000.0]
    store = SessionStore(ttl_s=60, still_valid=lambda c: True, max_sessions=3, clock=lambda: now[0])
    cred = Credential(Principal("u", None, frozenset({"read"})), None, b"u")
    ids = [store.create(cred)[0] for _ in range(5)]
    assert len(store) == 3 and store.get(ids[0]) is None and store.get(ids[4]) == cred
    now[0] += 61
    assert store.get(ids[4]) is None
    jwt_cred = Credential(cred.principal, now[0] + 5, b"")  # a JWT's own expiry shortens the session
    sid, session = store.create(jwt_cred)
    assert session.expires == now[0] + 5


def test_oidc_sign_in_with_a_pasted_jwt_lasts_no_longer_than_the_token(tmp_path):
    from security.creds import AUDIENCE, ISSUER, Keys

    keys = Keys()
    aio = RunningAllInOne(query_auth="oidc", query_auth_oidc_jwks=str(keys.write_jwks(tmp_path / "jwks.json")),
                          query_auth_oidc_issuer=ISSUER, query_auth_oidc_audience=AUDIENCE)
    try:
        assert 'name="token"' in requests.get(aio.url("query_http", "/login"), timeout=10).text
        expired = requests.post(aio.url("query_http", "/auth/login"), allow_redirects=False, timeout=10,
                                data={"token": keys.token(exp=int(time.time()) - 3600)})
        assert expired.headers["Location"].startswith("/login?error=1") and "spyglass_session" not in expired.cookies
        exp = int(time.time()) + 3
        s = _sign_in(aio, "", token=keys.token(exp=exp))
        assert s.get(aio.url("query_http", "/auth/me"), timeout=10).json()["user"] == "carol"
        assert s.get(aio.url("query_http", "/api/services"), timeout=10).status_code == 200
        while time.time() < exp + 0.5:
            time.sleep(0.2)
        assert s.get(aio.url("query_http", "/api/services"), timeout=10).status_code == 401  # ended with the JWT
    finally:
        aio.close()


def test_sign_in_form_is_bounded(basic_aio):
    url = basic_aio.url("query_http", "/jaeger/auth/login")
    r = requests.post(url, data={"username": "alice", "password": "x" * 10_000}, allow_redirects=False, timeout=10)
    assert r.status_code == 413

    def chunks():  # no Content-Length: the size is checked while reading
        for _ in range(20):
            yield b"username=alice&password=" + b"y" * 1000

    r = requests.post(url, data=chunks(), allow_redirects=False, timeout=10,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
