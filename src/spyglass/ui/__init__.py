"""Spyglass's web UI: a single-page app (plain HTML, CSS and ES modules in ``static/``)
served by the query HTTP server. ``build_ui_app`` is the aiohttp application the query
server mounts for every path that is not an API path."""

from spyglass.ui.app import build_ui_app

__all__ = ["build_ui_app"]
