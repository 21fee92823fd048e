"""``/api/deep-dependencies``: call paths through a focal service, computed from stored
traces (spyglass.query.deep_dependencies), over a real query HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from spyglass.model import Resource, Span, SpanKind, Trace
from spyglass.query import QueryService
from spyglass.query.deep_dependencies import MAX_PATH_HOPS, compute_paths
from spyglass.query.http_api import build_app
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryStore

MS = 1_000_000
NOW = time.time_ns()


def span(trace: int, sid: int, parent: int, service: str, name: str, at_ms: int = 0, kind: SpanKind = SpanKind.SERVER) -> Span:
    return Span(trace, sid, name, NOW - 600_000 * MS + at_ms * MS, MS, Resource(service), parent_span_id=parent, kind=kind)


def shop_trace(trace: int) -> list[Span]:
    """web -> api (-> store -> mysql, -> worker -> notify); api's client span joins its hop."""
    return [
        span(trace, 1, 0, "web", "GET /cart"),
        span(trace, 2, 1, "web", "call api", 1, SpanKind.CLIENT),
        span(trace, 3, 2, "api", "GetCart", 2),
        span(trace, 4, 3, "api", "rpc store", 3, SpanKind.CLIENT),
        span(trace, 5, 4, "store", "Load", 4),
        span(trace, 6, 5, "mysql", "SELECT", 5),
        span(trace, 7, 3, "worker", "consume", 6),
        span(trace, 8, 7, "notify", "POST /send", 7),
    ]


@pytest.fixture
async def api() -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    store = MemoryStore()
    store.write_spans(shop_trace(0xA1) + shop_trace(0xA2))
    store.write_spans([span(0xB1, 1, 0, "cron", "tick"), span(0xB1, 2, 1, "store", "Purge", 1)])
    server = HttpServer("query", "127.0.0.1", 0, build_app(QueryService(store, store)))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def get(api: tuple[aiohttp.ClientSession, str], path: str) -> tuple[int, str]:
    session, base = api
    async with session.get(base + path) as r:
        return r.status, await r.text()


def paths(body: str) -> list[tuple[list[str], dict[str, list[str]]]]:
    out = []
    for dep in json.loads(body)["dependencies"]:
        attrs: dict[str, list[str]] = {}
        for a in dep["attributes"]:
            attrs.setdefault(a["key"], []).append(a["value"])
        out.append(([f"{e['service']}:{e['operation']}" for e in dep["path"]], attrs))
    return out


async def test_paths_through_a_focal_service(api: tuple[aiohttp.ClientSession, str]) -> None:
    status, body = await get(api, "/api/deep-dependencies?service=store")
    assert status == 200
    got = paths(body)
    # both shop traces share one path (count 2, both exemplars); cron's is its own
    assert got[0][0] == ["web:GET /cart", "api:GetCart", "store:Load", "mysql:SELECT"]
    assert sorted(got[0][1]["exemplar_trace_id"]) == ["00000000000000a1", "00000000000000a2"] and got[0][1]["count"] == ["2"]
    assert got[1] == (["cron:tick", "store:Purge"], {"exemplar_trace_id": ["00000000000000b1"], "count": ["1"]})
    assert len(got) == 2  # the worker branch does not pass through store


async def test_operation_narrows_the_focus(api: tuple[aiohttp.ClientSession, str]) -> None:
    _, body = await get(api, "/api/deep-dependencies?service=store&operation=Purge")
    assert [p for p, _ in paths(body)] == [["cron:tick", "store:Purge"]]
    # an operation inside a hop (api's client span) focuses that hop, which is named by it
    _, body = await get(api, "/api/deep-dependencies?service=api&operation=rpc%20store")
    assert [p for p, _ in paths(body)] == [
        ["web:GET /cart", "api:rpc store", "store:Load", "mysql:SELECT"],
        ["web:GET /cart", "api:rpc store", "worker:consume", "notify:POST /send"],
    ]


async def test_parameters_are_checked(api: tuple[aiohttp.ClientSession, str]) -> None:
    status, body = await get(api, "/api/deep-dependencies")
    assert status == 400 and "parameter 'service' is required" in body
    status, body = await get(api, "/api/deep-dependencies?service=store&limit=lots")
    assert status == 400 and "'limit'" in body
    status, body = await get(api, "/api/deep-dependencies?service=store&lookback=x")
    assert status == 400 and "'lookback'" in body
    # the window: nothing an hour before the traces
    end_ms = (NOW - 3_600_000 * MS) // MS
    status, body = await get(api, f"/api/deep-dependencies?service=store&endTs={end_ms}&lookback=60000")
    assert status == 200 and json.loads(body) == {"dependencies": []}
    # limit bounds the traces read: one trace gives count 1 on its path
    _, body = await get(api, "/api/deep-dependencies?service=api&limit=1")
    assert [a["count"] for _, a in paths(body)] == [["1"], ["1"]]


def test_deep_and_cyclic_traces_are_bounded() -> None:
    # a chain of 5,000 alternating services: no recursion error, the path is cut
    chain = [span(1, 1, 0, "s0", "op")] + [span(1, i, i - 1, f"s{i % 2}", "op", i) for i in range(2, 5001)]
    out = compute_paths([Trace(1, chain)], "s1")
    assert len(out["dependencies"]) == 1 and len(out["dependencies"][0]["path"]) == MAX_PATH_HOPS
    # a reference cycle (a's parent is b, b's parent is a) is walked once
    cyclic = [span(2, 1, 2, "a", "x"), span(2, 2, 1, "b", "y")]
    assert compute_paths([Trace(2, cyclic)], "a") == {"dependencies": []}
