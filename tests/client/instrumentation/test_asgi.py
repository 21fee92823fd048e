"""ASGI middleware on a real uvicorn server: concurrent requests stay apart, errors,
and non-HTTP scopes pass through."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
import uvicorn
from support import wait_for

from spyglass.client import ConstSampler, InMemoryReporter, Tracer
from spyglass.client.instrumentation.asgi import TracingASGIMiddleware


@pytest.fixture
def served():
    tracer = Tracer("api", InMemoryReporter(), ConstSampler(True))
    both_inside = asyncio.Event()
    inside = []

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":  # passed through untouched by the middleware
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/boom":
            raise KeyError("nope")
        if scope["path"] == "/mid-boom":  # the status went out before the failure
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            raise KeyError("mid")
        inside.append(scope["path"])
        if len(inside) == 2:
            both_inside.set()
        await asyncio.wait_for(both_inside.wait(), 5)  # two requests in flight at once
        tracer.start_span(f"work{scope['path']}").finish()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    server = uvicorn.Server(uvicorn.Config(TracingASGIMiddleware(app, tracer), host="127.0.0.1", port=0,
                                           log_level="critical", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    yield tracer, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(5)


async def test_concurrent_requests_are_separate_traces(served):
    tracer, url = served
    async with httpx.AsyncClient() as client:
        a, b = await asyncio.gather(client.get(f"{url}/a"), client.get(f"{url}/b"))
    assert a.status_code == b.status_code == 200
    spans = {s.operation_name: s for s in tracer.reporter.spans}
    for path in ("/a", "/b"):
        server, work = spans[f"GET {path}"], spans[f"work{path}"]
        assert work.parent_id == server.span_id and server.parent_id == 0
        assert ("http.status_code", 200) in server.tags and ("component", "asgi") in server.tags
    assert spans["GET /a"].trace_id != spans["GET /b"].trace_id


def test_exception_is_tagged(served):
    tracer, url = served
    assert httpx.get(f"{url}/boom").status_code == 500
    (span,) = tracer.reporter.spans
    assert ("error", True) in span.tags and dict(span.logs[0][1])["error.kind"] is KeyError
    assert ("http.status_code", 500) in span.tags  # what the caller got


def test_failure_after_the_status_was_sent_keeps_it(served):
    tracer, url = served
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/mid-boom")
    wait_for(lambda: tracer.reporter.spans)
    (span,) = tracer.reporter.spans
    assert ("http.status_code", 200) in span.tags and ("error", True) in span.tags
