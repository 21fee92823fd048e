"""The aiohttp application that serves the web UI.

The UI is a single-page app: every page path (``/``, ``/search``, ``/trace/{id}``,
``/trace/{a}...{b}``, ``/dependencies``, ``/monitor``, ...) answers with the same
``index.html`` and the browser-side router draws the page, so links pasted from Jaeger UI
keep working. Assets live under ``/static/``.

Why the assets are read into memory once and served from a versioned path: there is no
build step that could put content hashes in file names, yet browsers should cache the
assets for good and still never run a stale mix of modules after an upgrade. So the app
hashes all of ``static/`` at start-up and ``index.html`` points at
``/static/<hash>/js/main.js``; every relative ``import`` inside the modules then stays
under that versioned prefix, which is cached as immutable. ``index.html`` itself is never
cached. The unversioned ``/static/<file>`` path also works (revalidated with an ETag).

The app receives the full request path, the query server's ``base_path`` included, and
reads that base path (and the backend capabilities the page is told about) from the
parent application when it is mounted by ``spyglass.query.http_api.build_app``. It never
answers anything under ``/api``: the API owns that space, and a UI page there would hide
a wrong API URL behind an HTML page.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
LOGIN = "login.html"  # the sign-in page's template, served by spyglass.security.login

# Page paths the browser-side router knows. Others still get index.html (the router shows
# its own "page not found"), as Jaeger UI does; this list is for documentation and tests.
SPA_ROUTES = ("/", "/search", "/trace/{id}", "/trace/{a}...{b}", "/dependencies", "/deep-dependencies", "/monitor")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
COMPRESSIBLE = (".html", ".js", ".mjs", ".css", ".svg", ".json", ".txt")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# The page needs only its own origin: scripts, styles and API calls all come from here. No
# inline script or style is allowed: the UI builds elements with the DOM API and sets their
# styles through CSSOM (``el.style.x = ...``), which a policy does not restrict, and its one
# inline <script> is a JSON data block, which is never run. tests/ui checks the browser
# reports no violation on every page.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

_BASE_PATH_KEY = "spyglass_ui_base_path"


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file, ready to send."""

    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def _content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _make_asset(name: str, body: bytes) -> Asset:
    gz = None
    if name.lower().endswith(COMPRESSIBLE) and len(body) > 1024:
        packed = gzip.compress(body, 6, mtime=0)
        gz = packed if len(packed) < len(body) else None
    return Asset(body, gz, _content_type(name), '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def load_assets(root: Path = STATIC_DIR) -> tuple[dict[str, Asset], str]:
    """Every file under ``root`` keyed by its ``/``-separated relative path, and a short
    version hash over all of them (names and contents)."""
    assets: dict[str, Asset] = {}
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel or rel.endswith((".py", ".pyc")):
            continue
        body = path.read_bytes()
        digest.update(rel.encode() + b"\0" + body + b"\0")
        assets[rel] = _make_asset(rel, body)
    return assets, digest.hexdigest()[:12]


def _script_json(obj: Any) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element."""
    return json.dumps(obj, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_index(template: str, base: str, version: str, capabilities: dict[str, bool]) -> bytes:
    """``index.html`` with the base path, asset prefix and page config filled in."""
    static = f"{base}/static/{version}"
    config = {"basePath": base, "staticPath": static, "version": version, "capabilities": capabilities}
    page = template.replace("__SPYGLASS_STATIC__", html.escape(static)).replace("__SPYGLASS_BASE__", html.escape(base))
    return page.replace("__SPYGLASS_CONFIG__", _script_json(config)).encode()


def _parent_settings(request: web.Request) -> tuple[str, dict[str, bool]]:
    """The query server's base path and capabilities, when mounted by its ``build_app``."""
    base, caps = "", {"archiveStorage": False, "metricsStorage": False}
    try:
        from spyglass.query.http_api import BASE_PATH, CAPABILITIES
    except ImportError:
        return base, caps
    try:
        base = request.config_dict.get(BASE_PATH, "") or ""
        caps = {**caps, **(request.config_dict.get(CAPABILITIES) or {})}
    except (KeyError, TypeError):
        pass
    return base, caps


def _send(request: web.Request, asset: Asset, cache_control: str, body: bytes | None = None) -> web.Response:
    headers = {
        "Content-Type": asset.content_type,
        "Cache-Control": cache_control,
        "ETag": asset.etag,
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    payload = asset.body if body is None else body
    if body is None and asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        payload = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=payload, headers=headers)


def _plain(status: int, text: str) -> web.Response:
    return web.Response(
        status=status,
        body=(text + "\n").encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


def build_ui_app(static_dir: Path = STATIC_DIR, *, live_reload: bool = False) -> web.Application:
    """The UI application: ``index.html`` for page paths, files under ``/static/``.

    Mount it with ``spyglass.query.http_api.build_app(service, ui=build_ui_app())``; it can
    also be served on its own (base path ``/``), talking to the API on the same origin.
    ``live_reload`` re-reads the files on every page load (for working on the UI itself).
    """
    assets, version = load_assets(static_dir)
    if INDEX not in assets:
        raise FileNotFoundError(f"{static_dir / INDEX} is missing: the UI files are not installed")
    template = assets[INDEX].body.decode()
    rendered: dict[tuple[str, str], Asset] = {}

    def reload() -> None:
        nonlocal assets, version, template
        assets, version = load_assets(static_dir)
        template = assets[INDEX].body.decode()
        rendered.clear()

    def index_for(base: str, caps: dict[str, bool]) -> Asset:
        key = (base, json.dumps(caps, sort_keys=True))
        asset = rendered.get(key)
        if asset is None:
            asset = rendered[key] = _make_asset(INDEX, render_index(template, base, version, caps))
        return asset

    async def handle(request: web.Request) -> web.StreamResponse:
        base, caps = _parent_settings(request)
        path = request.path
        if base:
            if not (path == base or path.startswith(base + "/")):
                return _plain(404, "404 page not found")
            path = path[len(base) :] or "/"
        if path == "/api" or path.startswith("/api/"):
            return _plain(404, "404 page not found")
        if request.method not in ("GET", "HEAD"):
            return _plain(405, "405 method not allowed")
        if live_reload and not path.startswith("/static/"):
            reload()
        if path == "/favicon.ico":
            path = "/static/favicon.svg"
        if path.startswith("/static/"):
            rel = path[len("/static/") :]
            cache = REVALIDATE
            head, _, tail = rel.partition("/")
            if tail and len(head) == len(version) and all(c in "0123456789abcdef" for c in head):
                cache = IMMUTABLE if head == version else REVALIDATE
                rel = tail
            asset = assets.get(rel)
            if asset is None or rel in (INDEX, LOGIN):
                return _plain(404, "404 page not found")
            return _send(request, asset, cache)
        page = index_for(base, caps)
        response = _send(request, page, REVALIDATE)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app
