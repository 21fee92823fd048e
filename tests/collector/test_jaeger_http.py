"""POST /api/traces (Jaeger Thrift binary over HTTP) on a real HttpServer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import requests

from spyglass.codecs import jaeger_thrift as jt
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers.jaeger_http import build_app
from spyglass.model import Event, KeyValue, Link, RefType, Resource, Span, SpanKind
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryStore

RECEIVER, FMT = "jaeger_http", "jaeger_thrift_binary"


async def until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)
    return value


def counter(metric: Any, *labels: str) -> float:
    return metric.labels(*labels)._value.get()


def spans(n: int = 3, trace: int = 0xABC) -> list[Span]:
    resource = Resource("web", [KeyValue("hostname", "h1")])
    return [
        Span(
            trace_id=(1 << 127) | trace,
            span_id=(1 << 63) + i + 1,
            name=f"op{i}",
            start_time_ns=1_700_000_000_000_000_000 + i * 1000,
            duration_ns=2_000,
            resource=resource,
            parent_span_id=0 if i == 0 else (1 << 63) + 1,
            kind=SpanKind.SERVER,
            attributes=[KeyValue("n", i), KeyValue("f", 1.5), KeyValue("ok", True)],
            events=[Event(1_700_000_000_000_001_000, "hit", [KeyValue("k", "v")])],
            links=[Link(77, 88, RefType.FOLLOWS_FROM)],
            flags=1,
        )
        for i in range(n)
    ]


class Collector:
    def __init__(self, processor: SpanProcessor, store: MemoryStore, server: HttpServer) -> None:
        self.processor, self.store, self.server = processor, store, server
        self.url = f"http://127.0.0.1:{server.port}/api/traces"


async def _start(processor: SpanProcessor, **kwargs: Any) -> HttpServer:
    server = HttpServer("jaeger_http", "127.0.0.1", 0, build_app(processor, **kwargs))
    await server.start()
    return server


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=1000))
    processor.start()
    server = await _start(processor, max_body_bytes=100_000)
    yield Collector(processor, store, server)
    await server.stop()
    processor.close()


async def post(url: str, data: Any, content_type: str | None = "application/x-thrift") -> tuple[int, str, Any]:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as session:
        async with session.post(url, data=data, headers=headers) as resp:
            return resp.status, await resp.text(), resp.headers


@pytest.mark.parametrize(
    "content_type",
    ["application/x-thrift", "application/vnd.apache.thrift.binary", "application/x-thrift; charset=utf-8",
     "Application/X-Thrift"],
)
async def test_accepts_a_batch(collector: Collector, content_type: str) -> None:
    sent = spans()
    status, body, _ = await post(collector.url, jt.encode_batch(sent), content_type)
    assert (status, body) == (202, "")
    got = await until(lambda: len(collector.store.get_trace(sent[0].trace_id)) == 3
                      and collector.store.get_trace(sent[0].trace_id))
    assert sorted(got, key=lambda s: s.span_id) == sent
    m = collector.processor.metrics
    assert counter(m.spans_accepted, RECEIVER, FMT) == 3
    assert counter(m.bytes_received, RECEIVER, FMT) == len(jt.encode_batch(sent))


async def test_chunked_body(collector: Collector) -> None:
    payload = jt.encode_batch(spans(50))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 1000):
            yield payload[i : i + 1000]
            await asyncio.sleep(0)

    status, body, _ = await post(collector.url, chunks())
    assert (status, body) == (202, "")
    await until(lambda: counter(collector.processor.metrics.spans_accepted, RECEIVER, FMT) == 50)


async def test_chunked_body_with_requests(collector: Collector) -> None:
    """A second, blocking client library; a generator body makes requests send chunks."""
    payload = jt.encode_batch(spans(5))
    gen = (payload[i : i + 100] for i in range(0, len(payload), 100))
    resp = await asyncio.to_thread(
        requests.post, collector.url, data=gen, headers={"Content-Type": "application/x-thrift"}, timeout=10
    )
    assert resp.request.headers.get("Transfer-Encoding") == "chunked"
    assert (resp.status_code, resp.text) == (202, "")


async def test_unsupported_content_type(collector: Collector) -> None:
    status, body, _ = await post(collector.url, jt.encode_batch(spans()), "application/json")
    assert (status, body.strip()) == (400, "Unsupported content type: application/json")
    status, body, _ = await post(collector.url, jt.encode_batch(spans()), None)
    assert status == 400 and "content type" in body
    m = collector.processor.metrics
    assert counter(m.requests_rejected, RECEIVER, FMT, "unsupported_content_type") == 2
    assert counter(m.spans_accepted, RECEIVER, FMT) == 0


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (b"\xff\x00garbage", "Unable to process request body: "),
        (jt.encode_batch(spans())[:40], "truncated"),
        (jt.encode_agent_message(spans(), "binary"), "Unable to process request body: "),  # a message, not a Batch
        (b"", "truncated"),
    ],
)
async def test_undecodable_payload(collector: Collector, payload: bytes, text: str) -> None:
    status, body, _ = await post(collector.url, payload)
    assert status == 400 and text in body
    assert counter(collector.processor.metrics.requests_rejected, RECEIVER, FMT, "decode_error") == 1


async def test_body_over_the_limit(collector: Collector) -> None:
    big = jt.encode_batch(spans(400))
    assert len(big) > 100_000
    status, _, _ = await post(collector.url, big)
    assert status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: found while reading
        for i in range(0, len(big), 10_000):
            yield big[i : i + 10_000]

    status, _, _ = await post(collector.url, chunks())
    assert status == 413
    m = collector.processor.metrics
    assert counter(m.requests_rejected, RECEIVER, FMT, "too_large") == 2
    # and the server still serves
    status, _, _ = await post(collector.url, jt.encode_batch(spans()))
    assert status == 202


async def test_other_methods(collector: Collector) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(collector.url) as resp:
            assert resp.status == 405
        async with session.put(collector.url, data=b"") as resp:
            assert resp.status == 405


async def test_queue_full_is_503_with_retry_after() -> None:
    processor = SpanProcessor(MemoryStore(), IngestMetrics(), ProcessorConfig(queue_size=4))  # never started
    server = await _start(processor)
    url = f"http://127.0.0.1:{server.port}/api/traces"
    try:
        status, _, _ = await post(url, jt.encode_batch(spans(3)))
        assert status == 202
        status, body, headers = await post(url, jt.encode_batch(spans(3)))
        assert status == 503 and headers["Retry-After"] == "1" and body
        m = processor.metrics
        assert counter(m.spans_rejected, RECEIVER, FMT, "queue_full") == 3
        assert m.spans_dropped.labels("queue_full")._value.get() == 3
    finally:
        await server.stop()


async def test_large_body_is_decoded_off_the_loop() -> None:
    """Bodies above the threading threshold take the worker-thread path."""
    payload = jt.encode_batch(spans(150))
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=1000))
    processor.start()
    server = await _start(processor, thread_decode_bytes=1000)
    url = f"http://127.0.0.1:{server.port}/api/traces"
    try:
        assert (await post(url, payload))[0] == 202
        await until(lambda: len(store.get_trace(spans()[0].trace_id)) == 150)
        assert (await post(url, payload[:-10]))[0] == 400  # errors from the thread too
    finally:
        await server.stop()
        processor.close()
