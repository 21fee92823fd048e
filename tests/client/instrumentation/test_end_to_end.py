"""Every HTTP and database instrumentation together against a running all-in-one.

A client span calls a WSGI app with ``requests``; the WSGI app queries sqlite3 and calls
an ASGI app (served by uvicorn) with ``httpx``; the ASGI app logs and queries sqlite3 too.
Two services, two tracers, real sockets everywhere: the stored trace must have one
parent chain through all of it, with the HTTP, DB and error tags and the logs."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
import requests
import uvicorn
from support import wait_for

from spyglass.client import Config
from spyglass.client.instrumentation.asgi import TracingASGIMiddleware
from spyglass.client.instrumentation.dbapi import traced_connection
from spyglass.client.instrumentation.http_clients import (
    clear_peer_services, http_call, instrument_http_clients, uninstrument_http_clients)
from spyglass.client.instrumentation.wsgi import TracingMiddleware
from spyglass.model import SpanKind, StatusCode


def tracer_for(service: str, all_in_one):
    return Config({"sampler": {"type": "const", "param": 1}, "reporter_flush_interval": 0.05,
                   "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": all_in_one.ports["agent_jaeger_compact"]}},
                  service_name=service, environ={}).new_tracer()


class Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


class WsgiServer:
    def __init__(self, app) -> None:
        self.httpd = make_server("127.0.0.1", 0, app, handler_class=Quiet)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class UvicornServer:
    def __init__(self, app) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)


def make_pricing_app(tracer):
    db = traced_connection(sqlite3.connect(":memory:", check_same_thread=False), tracer, "sqlite", "prices")
    db.execute("CREATE TABLE price (sku TEXT, cents INT)")
    db.execute("INSERT INTO price VALUES ('sku-7', 4200)")

    async def app(scope, receive, send):
        tracer.active_span.log_kv({"event": "pricing", "sku": "sku-7"})
        cents = db.execute("SELECT cents FROM price WHERE sku = ?", ("sku-7",)).fetchone()[0]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps({"cents": cents}).encode()})

    return TracingASGIMiddleware(app, tracer)


class Untraced(BaseHTTPRequestHandler):
    """A downstream service with no tracer: it shows on the dependency graph only through
    the caller's ``peer.service``."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"19")

    def log_message(self, *args) -> None:
        pass


def make_orders_app(tracer, pricing_url, tax_url):
    db = traced_connection(sqlite3.connect(":memory:", check_same_thread=False), tracer, "sqlite", "orders")
    db.execute("CREATE TABLE orders (id INT, cents INT)")

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("orders are down")
        cents = httpx.get(f"{pricing_url}/price").json()["cents"]
        with http_call(route="/rate"):
            requests.get(f"{tax_url}/rate")
        db.executemany("INSERT INTO orders VALUES (?, ?)", [(7, cents), (8, cents)])
        count = db.execute("SELECT count(*) FROM orders").fetchone()[0]
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [str(count).encode()]

    return TracingMiddleware(app, tracer)


@pytest.fixture
def services(all_in_one):
    orders_tracer, pricing_tracer = tracer_for("orders", all_in_one), tracer_for("pricing", all_in_one)
    pricing = UvicornServer(make_pricing_app(pricing_tracer))
    tax = ThreadingHTTPServer(("127.0.0.1", 0), Untraced)
    threading.Thread(target=tax.serve_forever, args=(0.05,), daemon=True).start()
    orders = WsgiServer(make_orders_app(orders_tracer, pricing.url, f"http://127.0.0.1:{tax.server_port}"))
    instrument_http_clients(orders_tracer, peer_services={pricing.url.split("//")[1]: "pricing",
                                                          f"127.0.0.1:{tax.server_port}": "tax"})
    yield orders_tracer, pricing_tracer, orders, pricing
    uninstrument_http_clients()
    clear_peer_services()
    orders.close()
    pricing.close()
    tax.shutdown()
    tax.server_close()
    orders_tracer.close()
    pricing_tracer.close()


def test_trace_through_wsgi_asgi_http_clients_and_sqlite(all_in_one, services):
    orders_tracer, pricing_tracer, orders, _ = services
    with orders_tracer.start_active_span("checkout") as root:
        resp = requests.post(f"{orders.url}/orders?id=7")
        failed = requests.get(f"{orders.url}/fail")
    assert resp.status_code == 201 and resp.text == "2" and failed.status_code == 500
    orders_tracer.flush()
    pricing_tracer.flush()
    reader = all_in_one.app.storage.trace_reader()
    spans = wait_for(lambda: len(reader.get_trace(root.span.trace_id)) == 11 and reader.get_trace(root.span.trace_id))
    by_id = {s.span_id: s for s in spans}

    def parent_of(span):
        return by_id.get(span.parent_span_id)

    def one(name, service, **attrs):
        found = [s for s in spans if s.name == name and s.service_name == service
                 and all(dict(s.attributes).get(k) == v for k, v in attrs.items())]
        assert len(found) == 1, (name, service, attrs, [(s.name, s.service_name) for s in spans])
        return found[0]

    checkout = one("checkout", "orders")
    orders_host = orders.url.split("//")[1]
    post = one(f"POST {orders_host}", "orders", component="requests")
    wsgi = one("POST /orders", "orders", component="wsgi")
    get_price = one("GET pricing", "orders", component="httpx", **{"peer.service": "pricing"})
    asgi = one("GET /price", "pricing", component="asgi")
    select_price = one("SELECT", "pricing")
    insert = one("INSERT", "orders")
    count = one("SELECT", "orders")
    assert checkout.parent_span_id == 0
    assert parent_of(post) is checkout and parent_of(wsgi) is post
    assert parent_of(get_price) is wsgi and parent_of(asgi) is get_price and parent_of(select_price) is asgi
    assert parent_of(insert) is wsgi and parent_of(count) is wsgi
    assert post.kind is SpanKind.CLIENT and wsgi.kind is SpanKind.SERVER and asgi.kind is SpanKind.SERVER
    assert dict(post.attributes)["http.status_code"] == 201 and dict(post.attributes)["http.url"] == f"{orders.url}/orders?id=7"
    assert dict(wsgi.attributes)["http.status_code"] == 201 and dict(wsgi.attributes)["http.method"] == "POST"
    assert dict(asgi.attributes)["http.status_code"] == 200
    assert asgi.events[0].name == "pricing" and dict(asgi.events[0].attributes) == {"sku": "sku-7"}
    ins = dict(insert.attributes)
    assert ins["db.system"] == "sqlite" and ins["db.name"] == "orders" and ins["db.batch_size"] == 2
    assert ins["db.rows_affected"] == 2 and ins["db.statement"].startswith("INSERT INTO orders")
    assert dict(select_price.attributes)["db.statement"] == "SELECT cents FROM price WHERE sku = ?"
    get_fail = one(f"GET {orders_host}", "orders", component="requests")
    fail = one("GET /fail", "orders")
    assert parent_of(get_fail) is checkout and parent_of(fail) is get_fail
    assert fail.status.code is StatusCode.ERROR and dict(fail.attributes).get("http.status_code") == 500
    assert any(e.name == "error" and dict(e.attributes)["error.kind"] == "RuntimeError" for e in fail.events)
    assert dict(get_fail.attributes)["http.status_code"] == 500 and get_fail.status.code is StatusCode.ERROR
    get_tax = one("GET /rate", "orders", component="requests", **{"peer.service": "tax", "url.template": "/rate"})
    assert parent_of(get_tax) is wsgi
    deps = all_in_one.app.storage.dependency_reader().get_dependencies(time.time_ns() + 60 * 10**9, 3600 * 10**9)
    assert {(d.parent, d.child): d.call_count for d in deps} == {("orders", "pricing"): 1, ("orders", "tax"): 1}
