"""Strategy providers: the default when there is no file, a file reloaded on change
(a bad change keeps the old strategies), a bad file at start-up, and a URL source."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from support import wait_for

from spyglass.collector.sampling import FileStrategyProvider, StrategiesError, build_provider
from spyglass.server import HttpServer


def rate(provider, service="svc") -> float:
    return provider.get_strategy(service).probabilisticSampling.samplingRate


def test_no_file_serves_default_probability():
    assert rate(build_provider("", default_sampling_probability=0.001)) == 0.001
    assert rate(build_provider("", default_sampling_probability=1.0)) == 1.0


def test_reload_on_change_and_bad_change_is_ignored(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"default_strategy": {"type": "probabilistic", "param": 0.1}}))
    provider = build_provider(str(path), reload_interval=0.02)
    try:
        assert rate(provider) == 0.1 and provider.generation == 0
        path.write_text(json.dumps({"default_strategy": {"type": "probabilistic", "param": 0.7}}))
        wait_for(lambda: rate(provider) == 0.7)
        assert provider.generation == 1
        path.write_text("{ half written")
        wait_for(lambda: provider.reload_errors >= 1)
        assert rate(provider) == 0.7
        path.unlink()
        assert provider.reload() is False and rate(provider) == 0.7
    finally:
        provider.close()


def test_a_broken_file_is_logged_once_per_change_of_state(tmp_path, caplog):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"default_strategy": {"type": "probabilistic", "param": 0.1}}))
    provider = FileStrategyProvider(str(path), reload_interval=0)  # polled by hand below
    caplog.set_level("INFO", logger="spyglass.collector.sampling.provider")

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]

    path.write_text("{not json")
    for _ in range(5):
        assert provider.reload() is False
    assert len(warnings()) == 1 and "cannot reload" in warnings()[0]
    path.unlink()  # a different problem is news
    for _ in range(5):
        provider.reload()
    assert len(warnings()) == 2
    path.write_text(json.dumps({"default_strategy": {"type": "probabilistic", "param": 0.2}}))
    assert provider.reload() is True and rate(provider) == 0.2
    assert provider.reload() is False
    assert len(warnings()) == 3 and "usable again" in warnings()[2]
    assert provider.reload_errors == 10


def test_bad_file_at_start_is_an_error(tmp_path):
    with pytest.raises(OSError):
        FileStrategyProvider(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    with pytest.raises(StrategiesError):
        FileStrategyProvider(str(bad))


async def test_url_source():
    doc = {"default_strategy": {"type": "probabilistic", "param": 0.25}}
    app = web.Application()

    async def strategies(_: web.Request) -> web.Response:
        return web.json_response(doc)

    app.router.add_get("/strategies.json", strategies)
    server = HttpServer("files", "127.0.0.1", 0, app)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/strategies.json"
        provider = await asyncio.to_thread(FileStrategyProvider, url, 0)
        assert rate(provider) == 0.25
    finally:
        await server.stop()
