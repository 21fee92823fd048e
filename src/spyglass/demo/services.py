"""The demo's services. Each listens on its own 127.0.0.1 port (chosen by the OS) and is traced
by its own tracer, so the backend sees separate services, a dependency graph and real network
hops. Handlers run on the servers' threads; the only shared state is the queue and the cache."""

from __future__ import annotations

import json
import queue
import random
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import opentracing
import orjson
from opentelemetry import baggage, context as otel_context, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from spyglass.client import ContextExecutor
from spyglass.client.instrumentation.grpc import ClientInterceptor, ServerInterceptor
from spyglass.demo.tracing import Tracing

W3C = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
Route = Callable[[dict[str, str], Mapping[str, str]], tuple[int, dict[str, Any]]]

CUSTOMERS = {"123": ("Rachel's Floral Designs", "115,277"), "392": ("Trom Chocolatier", "577,322"),
             "731": ("Japanese Desserts", "728,326"), "567": ("Amazing Coffee Roasters", "211,653")}
SLOW_CUSTOMER = "731"      # its row lock is held for a while: the database's slow path
MISSING_CUSTOMER = "999"   # not in the database: an error answer through frontend


class HttpService:
    """A threaded HTTP/1.1 server answering JSON for ``GET path?query`` routes."""

    def __init__(self, routes: dict[str, Route]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                url = urllib.parse.urlsplit(self.path)
                route = routes.get(url.path)
                args = dict(urllib.parse.parse_qsl(url.query))
                # header names are case-insensitive: urllib sends ``Traceparent``, the
                # OpenTelemetry propagators look up ``traceparent`` in a dict
                status, body = route(args, {k.lower(): v for k, v in self.headers.items()}) if route else (404, {"error": "no route"})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the traces are the log

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def http_get(url: str, headers: Mapping[str, str], timeout: float = 5) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Customer:
    """OpenTelemetry SDK; reads a sqlite database (traced as the ``sqlite`` service)."""

    def __init__(self, tracing: Tracing, db_path: Path) -> None:
        self.tracer = tracing.otel("customer")
        self.db_tracer = tracing.otel("sqlite")
        self.db_path = str(db_path)
        self.row_lock = threading.Lock()
        with sqlite3.connect(self.db_path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS customer (id TEXT PRIMARY KEY, name TEXT, location TEXT)")
            db.executemany("INSERT OR REPLACE INTO customer VALUES (?, ?, ?)", [(k, *v) for k, v in CUSTOMERS.items()])
        self.http = HttpService({"/customer": self.get})

    def get(self, args: dict[str, str], headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        ctx = W3C.extract(headers)
        with self.tracer.start_as_current_span("HTTP GET /customer", context=ctx, kind=SpanKind.SERVER) as span:
            span.set_attribute("http.method", "GET")
            span.set_attribute("customer.id", args.get("id", ""))
            span.set_attribute("session", str(baggage.get_baggage("session", ctx) or ""))
            row = self._select(args.get("id", ""))
            if row is None:
                span.set_status(Status(StatusCode.ERROR, "customer not found"))
                span.set_attribute("http.status_code", 404)
                return 404, {"error": f"customer {args.get('id')} not found"}
            span.set_attribute("http.status_code", 200)
            return 200, {"id": args["id"], "name": row[0], "location": row[1]}

    def _select(self, customer_id: str) -> tuple[str, str] | None:
        statement = "SELECT name, location FROM customer WHERE id = ?"
        with self.db_tracer.start_as_current_span("SELECT customer", kind=SpanKind.SERVER) as span:
            span.set_attribute("db.system", "sqlite")
            span.set_attribute("db.statement", statement)
            with self.row_lock:  # one connection at a time, as a small pool would
                if customer_id == SLOW_CUSTOMER:
                    span.add_event("row lock held", {"wait.ms": 300})
                    time.sleep(0.3)
                with sqlite3.connect(self.db_path) as db:
                    return db.execute(statement, (customer_id,)).fetchone()


class Driver:
    """spyglass.client over gRPC (JSON messages on a generic handler); a ``redis`` cache."""

    METHOD = "/demo.DriverService/FindNearest"

    def __init__(self, tracing: Tracing) -> None:
        self.tracer = tracing.opentracing("driver")
        self.redis = tracing.opentracing("redis")
        self.cache = {f"T7{n:05d}C": f"{random.randint(0, 999)},{random.randint(0, 999)}" for n in range(40)}
        handler = grpc.method_handlers_generic_handler("demo.DriverService", {
            "FindNearest": grpc.unary_unary_rpc_method_handler(
                self.find_nearest, request_deserializer=orjson.loads, response_serializer=orjson.dumps),
        })
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=[ServerInterceptor(self.tracer)])
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def find_nearest(self, request: dict[str, Any], context: grpc.ServicerContext) -> dict[str, Any]:
        span = self.tracer.active_span
        if span is not None:
            span.set_tag("location", request.get("location", ""))
        drivers = []
        for driver_id in random.sample(sorted(self.cache), 6):
            location = self._cache_get(driver_id, span)
            if location is not None:
                drivers.append({"id": driver_id, "location": location})
        return {"drivers": drivers[:3]}

    def _cache_get(self, key: str, parent: opentracing.Span | None) -> str | None:
        """``GET`` on the cache; 5% of them time out and are retried once (an error span each)."""
        for attempt in range(2):
            tags = {"span.kind": "server", "db.type": "redis", "db.statement": f"GET {key}", "attempt": attempt}
            with self.redis.start_active_span("GetDriver", child_of=parent, tags=tags) as scope:
                time.sleep(random.uniform(0.005, 0.02))
                if random.random() < 0.05:
                    time.sleep(0.05)
                    scope.span.set_tag("error", True)
                    scope.span.log_kv({"event": "error", "message": "redis timeout"})
                    continue
                return self.cache[key]
        return None

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=1).wait(2)


class RouteService:
    """OpenTelemetry SDK over HTTP; one route in ten takes the slow path."""

    def __init__(self, tracing: Tracing) -> None:
        self.tracer = tracing.otel("route")
        self.http = HttpService({"/route": self.route})

    def route(self, args: dict[str, str], headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        ctx = W3C.extract(headers)
        with self.tracer.start_as_current_span("HTTP GET /route", context=ctx, kind=SpanKind.SERVER) as span:
            span.set_attribute("pickup", args.get("pickup", ""))
            span.set_attribute("dropoff", args.get("dropoff", ""))
            span.set_attribute("customer", str(baggage.get_baggage("customer", ctx) or ""))
            with self.tracer.start_as_current_span("compute route") as compute:
                slow = random.random() < 0.1
                compute.set_attribute("slow", slow)
                time.sleep(random.uniform(0.25, 0.35) if slow else random.uniform(0.01, 0.05))
            return 200, {"eta_minutes": random.randint(2, 30)}


class Notifier:
    """Consumes the ``dispatch-events`` queue: a new trace per message, linked to the producer."""

    def __init__(self, tracing: Tracing, messages: queue.Queue[dict[str, Any]]) -> None:
        self.tracer = tracing.otel("notifier")
        self.messages = messages
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.messages.get(timeout=0.2)
            except queue.Empty:
                continue
            producer = trace.get_current_span(W3C.extract(message["headers"])).get_span_context()
            links = [Link(producer, {"messaging.operation": "publish"})] if producer.is_valid else []
            with self.tracer.start_as_current_span(
                "process dispatch-events", context=otel_context.Context(), kind=SpanKind.CONSUMER, links=links
            ) as span:
                span.set_attribute("messaging.system", "in-process")
                span.set_attribute("messaging.destination", "dispatch-events")
                span.set_attribute("customer", message["body"]["customer"])
                with self.tracer.start_as_current_span("send sms", kind=SpanKind.CLIENT):
                    time.sleep(random.uniform(0.005, 0.02))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


class Frontend:
    """spyglass.client over HTTP: the ride dispatch that calls every other service."""

    def __init__(self, tracing: Tracing, customer: int, driver: int, route: int, messages: queue.Queue[dict[str, Any]]) -> None:
        self.tracer = tracing.opentracing("frontend")
        self.customer_url = f"http://127.0.0.1:{customer}/customer"
        self.route_url = f"http://127.0.0.1:{route}/route"
        self.channel = grpc.intercept_channel(grpc.insecure_channel(f"127.0.0.1:{driver}"), ClientInterceptor(self.tracer))
        self.find_nearest = self.channel.unary_unary(
            Driver.METHOD, request_serializer=orjson.dumps, response_deserializer=orjson.loads)
        self.messages = messages
        self.pool = ContextExecutor(max_workers=6)
        self.http = HttpService({"/dispatch": self.dispatch})

    def dispatch(self, args: dict[str, str], headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        parent = self.tracer.extract(opentracing.Format.HTTP_HEADERS, headers)
        tags = {"span.kind": "server", "http.method": "GET", "http.url": "/dispatch"}
        with self.tracer.start_active_span("HTTP GET /dispatch", child_of=parent, tags=tags) as scope:
            span = scope.span
            customer_id = args.get("customer", "")
            span.set_baggage_item("customer", customer_id)
            if not span.get_baggage_item("session"):
                span.set_baggage_item("session", f"{random.getrandbits(32):08x}")
            status, customer = self._get("customer", self.customer_url, {"id": customer_id})
            if status != 200:
                span.set_tag("error", True)
                span.set_tag("http.status_code", status)
                span.log_kv({"event": "error", "message": customer.get("error", "customer lookup failed")})
                return status, customer
            try:
                drivers = self.find_nearest({"location": customer["location"]}, timeout=5)["drivers"]
            except grpc.RpcError as exc:
                span.set_tag("error", True)
                return 502, {"error": f"driver: {exc.code().name}"}
            routes = list(self.pool.map(
                lambda d: self._get("route", self.route_url, {"pickup": d["location"], "dropoff": customer["location"]}),
                drivers))
            best = min(((r[1].get("eta_minutes", 99), d) for r, d in zip(routes, drivers)), default=(None, None), key=lambda x: x[0])
            self._publish({"customer": customer_id, "driver": best[1]["id"] if best[1] else None})
            span.set_tag("http.status_code", 200)
            return 200, {"driver": best[1], "eta_minutes": best[0]}

    def _get(self, peer: str, url: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        tags = {"span.kind": "client", "http.method": "GET", "http.url": url, "peer.service": peer}
        with self.tracer.start_active_span(f"HTTP GET {urllib.parse.urlsplit(url).path}", tags=tags) as scope:
            headers: dict[str, str] = {}
            self.tracer.inject(scope.span.context, opentracing.Format.HTTP_HEADERS, headers)
            status, body = http_get(f"{url}?{urllib.parse.urlencode(params)}", headers)
            scope.span.set_tag("http.status_code", status)
            if status >= 400:
                scope.span.set_tag("error", True)
            return status, body

    def _publish(self, body: dict[str, Any]) -> None:
        tags = {"span.kind": "producer", "message_bus.destination": "dispatch-events"}
        with self.tracer.start_active_span("publish dispatch-events", tags=tags) as scope:
            headers: dict[str, str] = {}
            self.tracer.inject(scope.span.context, opentracing.Format.TEXT_MAP, headers)
            try:
                self.messages.put_nowait({"headers": headers, "body": body})
            except queue.Full:  # bounded: a slow consumer costs messages, never the request
                scope.span.set_tag("error", True)
                scope.span.log_kv({"event": "dropped", "message": "dispatch-events queue full"})

    def stop(self) -> None:
        self.http.stop()
        self.pool.shutdown(wait=False)
        self.channel.close()
