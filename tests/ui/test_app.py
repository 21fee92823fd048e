"""The UI's aiohttp application over real sockets: page paths get index.html, assets get
the right types and caching, the API space is never answered with a page, and the base
path and capabilities of the query server reach the page."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from spyglass.ui import build_ui_app
from spyglass.ui.app import STATIC_DIR, load_assets, render_index

PAGE_PATHS = [
    "/",
    "/search",
    "/search?service=frontend&lookback=1h&tags=%7B%22error%22%3A%22true%22%7D",
    "/trace/4bf92f3577b34da6a3ce929d0e0e4736",
    "/trace/4bf92f3577b34da6...00f067aa0ba902b7",
    "/trace/4bf92f3577b34da6?uiFind=00f067aa0ba902b7",
    "/dependencies",
    "/monitor",
    "/compare",
    "/some/unknown/page",
]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def standalone() -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    runner, base = await serve(build_ui_app())
    async with aiohttp.ClientSession() as session:
        yield session, base
    await runner.cleanup()


def page_config(body: bytes) -> dict:
    match = re.search(rb'<script id="spyglass-config" type="application/json">(.*?)</script>', body)
    assert match, "index.html carries no page config"
    return json.loads(match.group(1))


async def test_every_page_path_gets_index_html(standalone: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = standalone
    for path in PAGE_PATHS:
        async with session.get(base + path) as resp:
            body = await resp.read()
            assert resp.status == 200, path
            assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
            assert resp.headers["Cache-Control"] == "no-cache"
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            config = page_config(body)
            assert config["basePath"] == "" and config["capabilities"] == {"archiveStorage": False, "metricsStorage": False}
            assert f'src="/static/{config["version"]}/js/main.js"'.encode() in body
    async with session.head(base + "/search") as resp:
        assert resp.status == 200 and await resp.read() == b""


async def test_assets_types_and_caching(standalone: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = standalone
    async with session.get(base + "/") as resp:
        version = page_config(await resp.read())["version"]
    expected = {
        "js/main.js": "text/javascript; charset=utf-8",
        "js/trace/timeline.js": "text/javascript; charset=utf-8",
        "css/theme.css": "text/css; charset=utf-8",
        "favicon.svg": "image/svg+xml",
    }
    for rel, content_type in expected.items():
        async with session.get(f"{base}/static/{version}/{rel}") as resp:
            assert resp.status == 200, rel
            assert resp.headers["Content-Type"] == content_type
            assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert await resp.read() == (STATIC_DIR / rel).read_bytes()
        # unversioned (or an old version): served, but revalidated
        for path in (f"/static/{rel}", f"/static/000000000000/{rel}"):
            async with session.get(base + path) as resp:
                assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache", path

    async with session.get(f"{base}/static/{version}/js/main.js") as resp:
        etag = resp.headers["ETag"]
    async with session.get(f"{base}/static/{version}/js/main.js", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304 and await resp.read() == b""
    async with session.get(f"{base}/static/{version}/css/base.css", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["Content-Encoding"] == "gzip" and resp.headers["Vary"] == "Accept-Encoding"
        assert await resp.read() == (STATIC_DIR / "css/base.css").read_bytes()  # inflated by the client
    async with session.get(base + "/favicon.ico") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "image/svg+xml"


async def test_missing_assets_and_api_paths_are_not_pages(standalone: tuple[aiohttp.ClientSession, str]) -> None:
    session, base = standalone
    for path in ["/static/nope.js", "/static/index.html", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/api", "/api/services", "/api/v3/traces"]:
        async with session.get(URL(base + path, encoded=True)) as resp:  # sent as written
            assert resp.status == 404, path
            assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
            assert b"<html" not in await resp.read()
    async with session.post(base + "/search", data=b"{}") as resp:
        assert resp.status == 405


async def test_mounted_by_the_query_app_with_base_path_and_capabilities() -> None:
    from spyglass.query.http_api import build_app
    from spyglass.query.service import QueryService
    from spyglass.storage.memory import MemoryFactory

    storage = MemoryFactory()
    service = QueryService(storage.trace_reader(), storage.dependency_reader())
    app = build_app(service, base_path="/jaeger", ui=build_ui_app(), archive_enabled=True)
    runner, base = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/jaeger/trace/abc") as resp:
                body = await resp.read()
                config = page_config(body)
                assert resp.status == 200 and config["basePath"] == "/jaeger"
                assert config["capabilities"] == {"archiveStorage": True, "metricsStorage": False}
                assert f'href="/jaeger/static/{config["version"]}/css/base.css"'.encode() in body
                assert b'href="/jaeger/search"' in body
            async with session.get(f"{base}/jaeger/static/{config['version']}/js/api.js") as resp:
                assert resp.status == 200
            async with session.get(base + "/jaeger/api/services") as resp:
                assert resp.status == 200 and (await resp.json())["data"] == []
            async with session.get(base + "/search") as resp:  # outside the base path
                assert resp.status == 404
    finally:
        await runner.cleanup()


def test_version_follows_the_files(tmp_path: Path) -> None:
    copy = tmp_path / "static"
    shutil.copytree(STATIC_DIR, copy)
    _, before = load_assets(copy)
    assert load_assets(copy)[1] == before
    (copy / "js" / "main.js").write_text((copy / "js" / "main.js").read_text() + "\n// changed\n")
    assert load_assets(copy)[1] != before


async def test_live_reload_serves_edited_files(tmp_path: Path) -> None:
    copy = tmp_path / "static"
    shutil.copytree(STATIC_DIR, copy)
    runner, base = await serve(build_ui_app(copy, live_reload=True))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/") as resp:
                first = page_config(await resp.read())["version"]
            (copy / "css" / "theme.css").write_text("/* edited */")
            async with session.get(base + "/") as resp:
                second = page_config(await resp.read())["version"]
            assert second != first
            async with session.get(f"{base}/static/{second}/css/theme.css") as resp:
                assert await resp.text() == "/* edited */"
    finally:
        await runner.cleanup()


def test_page_config_cannot_break_out_of_its_script_element() -> None:
    html = render_index("<script>__SPYGLASS_CONFIG__</script>", "/a</script><b>", "v1", {"archiveStorage": False})
    inner = html.decode()[len("<script>") : -len("</script>")]
    assert "</script>" not in inner and "<b>" not in inner
    assert json.loads(inner)["basePath"] == "/a</script><b>"


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "main.js").write_text("")
    with pytest.raises(FileNotFoundError, match="index.html is missing"):
        build_ui_app(tmp_path)
