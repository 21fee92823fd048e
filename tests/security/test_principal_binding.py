"""The contract with tenancy: while a request runs, ``current_principal()`` is the caller's principal
(name, tenant, roles), in the aiohttp handler and in the gRPC servicer (unary and streaming), and
nothing is left bound after the request or leaks into a concurrent one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import grpc
from aiohttp import web

from security.creds import ADMIN_TOKEN, READ_TOKEN, bearer, write_tokens
from spyglass.security.authenticator import BearerAuth
from spyglass.security.grpc_auth import AuthInterceptor
from spyglass.security.http_auth import HttpAuth
from spyglass.security.policy import ingest_http_role
from spyglass.security.principal import current_principal
from spyglass.security.tokens import TokenFile
from spyglass.server import GrpcServer, HttpServer


def _describe() -> dict[str, object]:
    p = current_principal()
    return {"name": p.name, "tenant": p.tenant, "roles": sorted(p.roles)} if p else {}


async def test_http_handler_sees_the_principal(tmp_path: Path) -> None:
    tokens = tmp_path / "t"
    tokens.write_text(f"{READ_TOKEN} acme\n{ADMIN_TOKEN} - write,admin\n")
    auth = BearerAuth(TokenFile(str(tokens), frozenset({"write"})))

    async def who(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)  # overlap with the other request
        return web.json_response(_describe())

    app = web.Application(middlewares=[HttpAuth(auth, ingest_http_role, "test").middleware])
    app.router.add_post("/v1/traces", who)
    server = HttpServer("test", "127.0.0.1", 0, app)
    await server.start()
    try:
        async with aiohttp.ClientSession() as s:
            async def call(token: str) -> dict[str, object]:
                async with s.post(f"http://127.0.0.1:{server.port}/v1/traces",
                                  headers={"Authorization": bearer(token)}) as r:
                    assert r.status == 200
                    return await r.json()

            a, b = await asyncio.gather(call(READ_TOKEN), call(ADMIN_TOKEN))
    finally:
        await server.stop()
    assert a["tenant"] == "acme" and a["roles"] == ["write"] and str(a["name"]).startswith("token:")
    assert b == {"name": b["name"], "tenant": None, "roles": ["admin", "write"]}
    assert current_principal() is None


async def test_grpc_servicer_sees_the_principal(tmp_path: Path) -> None:
    auth = BearerAuth(TokenFile(str(write_tokens(tmp_path / "t")), frozenset({"read"})))

    async def unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await asyncio.sleep(0.05)
        return json.dumps(_describe()).encode()

    async def stream(request: bytes, context: grpc.aio.ServicerContext):  # type: ignore[no-untyped-def]
        for _ in range(3):
            await asyncio.sleep(0.01)
            yield json.dumps(_describe()).encode()

    handler = grpc.method_handlers_generic_handler("test.Who", {
        "Me": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
    })
    server = GrpcServer("test", "127.0.0.1", 0, [lambda srv: srv.add_generic_rpc_handlers((handler,))],
                        interceptors=[AuthInterceptor(auth, lambda method: "read", "test")])
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            me = ch.unary_unary("/test.Who/Me")
            st = ch.unary_stream("/test.Who/Stream")
            a, b = await asyncio.gather(me(b"", metadata=(("authorization", bearer(READ_TOKEN)),)),
                                        me(b"", metadata=(("authorization", bearer(ADMIN_TOKEN)),)))
            streamed = [json.loads(m) async for m in st(b"", metadata=(("authorization", bearer(READ_TOKEN)),))]
            try:
                await me(b"")
                raise AssertionError("an unauthenticated call went through")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await server.stop()
    assert json.loads(a)["tenant"] == "acme" and json.loads(b)["tenant"] is None
    assert json.loads(b)["roles"] == ["admin", "read"]
    assert [m["tenant"] for m in streamed] == ["acme"] * 3
