"""Client instrumentation of urllib, requests and httpx against a real server that
echoes the headers it got; suppression for the tracer's own polls; uninstall."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import requests

from spyglass.client import ConstSampler, InMemoryReporter, Tracer
from spyglass.client.instrumentation import http_clients
from spyglass.client.suppress import suppressed


class Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def echo():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    tracer = Tracer("client", InMemoryReporter(), ConstSampler(True), propagation="jaeger,w3c")
    http_clients.instrument_http_clients(tracer)
    yield tracer, f"http://127.0.0.1:{httpd.server_port}"
    http_clients.uninstrument_http_clients()
    http_clients.clear_peer_services()
    httpd.shutdown()
    httpd.server_close()


def fetch_urllib(url: str) -> dict:
    try:
        return json.loads(urllib.request.urlopen(url).read())
    except urllib.error.HTTPError as err:
        return json.loads(err.read())


async def fetch_httpx_async(url: str) -> dict:
    async with httpx.AsyncClient() as client:
        return (await client.get(url)).json()


@pytest.mark.parametrize("client", ["urllib", "requests", "httpx", "httpx-async"])
def test_injects_and_records(echo, client):
    tracer, url = echo
    fetch = {
        "urllib": fetch_urllib,
        "requests": lambda u: requests.get(u).json(),
        "httpx": lambda u: httpx.get(u).json(),
        "httpx-async": lambda u: __import__("asyncio").run(fetch_httpx_async(u)),
    }[client]
    with tracer.start_active_span("parent") as parent:
        got = fetch(f"{url}/missing")
    span = tracer.reporter.spans[0]
    port = int(url.rsplit(":", 1)[1])
    assert span.parent_id == parent.span.span_id and span.operation_name == f"GET 127.0.0.1:{port}"
    assert got["uber-trace-id"].split(":")[1] == f"{span.span_id:x}"
    assert got["traceparent"].split("-")[2] == f"{span.span_id:016x}"
    tags = dict(span.tags)
    assert tags["http.status_code"] == 404 and tags["http.url"] == f"{url}/missing" and tags["span.kind"] == "client"
    # OpenTelemetry's current HTTP client conventions, beside the Jaeger-era names above
    assert tags["http.request.method"] == tags["http.method"] == "GET"
    assert tags["url.full"] == f"{url}/missing" and tags["http.response.status_code"] == 404
    assert tags["server.address"] == tags["net.peer.name"] == "127.0.0.1"
    assert tags["server.port"] == tags["net.peer.port"] == port
    assert tags["error.type"] == "404" and "error" not in tags and "peer.service" not in tags


def test_peer_service_and_names_tell_calls_apart(echo):
    """Per call (``http_call``), per session, and by host mapping, innermost first; the
    span is named after the route template, else the peer service, else the host."""
    tracer, url = echo
    port = int(url.rsplit(":", 1)[1])
    http_clients.set_peer_services({f"127.0.0.1:{port}": "echo"})
    requests.get(f"{url}/a")
    session = http_clients.set_session_peer_service(requests.Session(), "billing")
    session.get(f"{url}/b")
    with httpx.Client() as client:
        http_clients.set_session_peer_service(client, "inventory")
        client.get(f"{url}/c")
        with http_clients.http_call(peer_service="pricing", route="/prices/{sku}"):
            client.get(f"{url}/prices/7")
            with http_clients.http_call(route="/prices"):
                fetch_urllib(f"{url}/prices")
    http_clients.clear_peer_services()
    requests.get(f"{url}/d")
    got = [(s.operation_name, dict(s.tags).get("peer.service"), dict(s.tags).get("url.template"))
           for s in tracer.reporter.spans]
    assert got == [
        ("GET echo", "echo", None),
        ("GET billing", "billing", None),
        ("GET inventory", "inventory", None),
        ("GET /prices/{sku}", "pricing", "/prices/{sku}"),
        ("GET /prices", "pricing", "/prices"),
        (f"GET 127.0.0.1:{port}", None, None),
    ]


def test_suppressed_and_uninstrumented_requests_are_not_traced(echo):
    tracer, url = echo
    with suppressed():
        assert "uber-trace-id" not in fetch_urllib(f"{url}/x")
    http_clients.uninstrument_http_clients()
    assert "uber-trace-id" not in requests.get(f"{url}/x").json()
    assert tracer.reporter.spans == []


def test_connection_error_is_tagged(echo):
    tracer, _ = echo
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:9/")
    (span,) = tracer.reporter.spans
    assert ("error", True) in span.tags and dict(span.tags)["error.type"] == "ConnectionError"
    assert span.operation_name == "GET 127.0.0.1:9" and dict(span.tags)["server.port"] == 9
