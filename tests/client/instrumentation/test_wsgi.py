"""WSGI middleware on a real wsgiref server: extraction, streaming bodies, errors."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from support import wait_for

from spyglass.client import ConstSampler, InMemoryReporter, Tracer
from spyglass.client.instrumentation.wsgi import TracingMiddleware, environ_headers


class Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served():
    tracer = Tracer("web", InMemoryReporter(), ConstSampler(True))

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/stream":
            start_response("200 OK", [])

            def body():
                for i in range(3):
                    tracer.start_span(f"chunk{i}").finish()  # a child even while streaming
                    yield b"x"
            return body()
        if environ["PATH_INFO"] == "/boom":
            raise ValueError("bad")
        if environ["PATH_INFO"] == "/late-boom":  # status chosen, nothing sent yet
            start_response("200 OK", [])
            raise ValueError("late")
        if environ["PATH_INFO"] == "/body-boom":  # fails before its first chunk
            start_response("200 OK", [])

            def failing():
                raise ValueError("in body")
                yield b""
            return failing()
        if environ["PATH_INFO"] == "/mid-boom":  # fails after the status went out
            start_response("200 OK", [])

            def half():
                yield b"x"
                raise ValueError("mid")
            return half()
        start_response("503 Service Unavailable", [])
        return [b"busy"]

    httpd = make_server("127.0.0.1", 0, TracingMiddleware(app, tracer, lambda env: env["PATH_INFO"]), handler_class=Quiet)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield tracer, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def test_streaming_children_and_extraction(served):
    tracer, url = served
    assert requests.get(f"{url}/stream", headers={"uber-trace-id": "abc:def:0:1"}).text == "xxx"
    spans = {s.operation_name: s for s in tracer.reporter.spans}
    server = spans["/stream"]
    assert (server.trace_id, server.parent_id) == (0xABC, 0xDEF)
    assert all(spans[f"chunk{i}"].parent_id == server.span_id for i in range(3))
    assert ("span.kind", "server") in server.tags and ("http.status_code", 200) in server.tags


def test_bad_header_new_trace_and_error_statuses(served):
    tracer, url = served
    assert requests.get(f"{url}/busy", headers={"uber-trace-id": "nonsense"}).status_code == 503
    assert requests.get(f"{url}/boom").status_code == 500
    busy, boom = tracer.reporter.spans
    assert busy.parent_id == 0 and ("error", True) in busy.tags and ("http.status_code", 503) in busy.tags
    assert ("error", True) in boom.tags and boom.logs[0][1][0] == ("event", "error")


@pytest.mark.parametrize("path", ["/boom", "/late-boom", "/body-boom"])
def test_raising_app_records_the_500_the_caller_got(served, path):
    tracer, url = served
    assert requests.get(f"{url}{path}").status_code == 500
    (span,) = tracer.reporter.spans
    tags = dict(span.tags)
    assert tags["http.status_code"] == 500 and tags["error"] is True


def test_failure_after_the_status_was_sent_keeps_it(served):
    tracer, url = served
    assert requests.get(f"{url}/mid-boom").status_code == 200  # the body is cut short
    wait_for(lambda: tracer.reporter.spans)
    (span,) = tracer.reporter.spans
    assert dict(span.tags)["http.status_code"] == 200 and ("error", True) in span.tags


def test_environ_headers():
    assert environ_headers({"HTTP_UBER_TRACE_ID": "a", "HTTP_UBERCTX_USER_ID": "b", "CONTENT_TYPE": "t", "PATH_INFO": "/"}) == {
        "uber-trace-id": "a", "uberctx-user-id": "b", "content-type": "t"}
