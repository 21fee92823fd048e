"""Hostile bodies on the HTTP receivers (issue 17 items 5 and 8), over real sockets: gzip
bombs, the shared body budget, stalled and abandoned bodies, absurdly nested JSON, URLs
over 8 KiB. Each must end in a clear 4xx/5xx answer (or a closed connection), a counted
rejection and no ERROR traceback in the log."""

from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from collections.abc import AsyncIterator

import pytest

from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers import body as body_mod
from spyglass.collector.receivers import otlp_http, zipkin_http
from spyglass.server import HttpServer
from spyglass.server.limits import ConnectionMetrics
from spyglass.storage.memory import MemoryStore

BOMB = gzip.compress(b"\0" * (200 * 1024 * 1024), 9)  # ~200 KB that inflates to 200 MiB
TRACE = "0102030405060708090a0b0c0d0e0f10"
SPAN = "0102030405060708"


def nested_attribute(levels: int) -> bytes:
    value = '{"stringValue":"x"}'
    for _ in range(levels):
        value = '{"kvlistValue":{"values":[{"key":"k","value":%s}]}}' % value
    span = '{"traceId":"%s","spanId":"%s","name":"n","attributes":[{"key":"a","value":%s}]}' % (TRACE, SPAN, value)
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[%s]}]}]}' % span).encode()


class Receivers:
    def __init__(self, processor: SpanProcessor, max_body: int) -> None:
        self.processor = processor
        self.metrics = ConnectionMetrics(processor.metrics.registry)
        self.otlp = HttpServer("otlp_http", "127.0.0.1", 0, otlp_http.build_app(processor, max_body), metrics=self.metrics)
        self.zipkin = HttpServer("zipkin_http", "127.0.0.1", 0, zipkin_http.build_app(processor, max_body), metrics=self.metrics)

    def rejected(self, receiver: str, fmt: str, reason: str) -> float:
        labels = {"receiver": receiver, "format": fmt, "reason": reason}
        return self.processor.metrics.registry.get_sample_value("spyglass_requests_rejected_total", labels) or 0.0


@pytest.fixture
async def rx() -> AsyncIterator[Receivers]:
    processor = SpanProcessor(MemoryStore(), IngestMetrics(), ProcessorConfig(queue_size=10_000))
    processor.start()
    r = Receivers(processor, 16 * 1024 * 1024)
    await r.otlp.start()
    await r.zipkin.start()
    yield r
    await r.otlp.stop()
    await r.zipkin.stop()
    processor.close()


async def http(port: int, head: str, body: bytes = b"", read: bool = True) -> tuple[int, bytes]:
    """One raw HTTP/1.1 request; (status, body) of the answer, or (0, b"") if the server
    closed the connection without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"\r\n\r\n" + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30) if read else b""
    finally:
        writer.close()
    if not data:
        return 0, b""
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def post(path: str, length: int, ctype: str, encoding: str = "") -> str:
    extra = f"\r\nContent-Encoding: {encoding}" if encoding else ""
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {length}{extra}"


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


# -- inflating ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate"])
def test_inflater_stops_at_the_limit_without_inflating_the_rest(encoding: str) -> None:
    data = zlib.compress(b"\0" * 50_000_000, 9) if encoding == "deflate" else gzip.compress(b"\0" * 50_000_000, 9)
    budget = body_mod.BodyBudget(1 << 40)
    with budget.lease() as lease:
        inflater = body_mod._Inflater(encoding, 1_000_000, lease)
        with pytest.raises(body_mod.BodyTooLarge):
            inflater.feed(data)
        # never more than one output step past the limit was produced
        assert inflater.size <= 1_000_000 + body_mod._OUT_CHUNK
        assert budget.used <= 1_000_000 + body_mod._OUT_CHUNK
    assert budget.used == 0


def test_inflater_multi_member_gzip_raw_deflate_and_garbage() -> None:
    two = gzip.compress(b"hello ") + gzip.compress(b"world")
    inf = body_mod._Inflater("gzip", 100, None)
    for i in range(len(two)):  # one byte at a time, as a slow client would
        inf.feed(two[i : i + 1])
    assert inf.finish() == b"hello world"
    raw = zlib.compressobj(wbits=-15)
    inf = body_mod._Inflater("deflate", 100, None)
    inf.feed(raw.compress(b"raw deflate") + raw.flush())
    assert inf.finish() == b"raw deflate"
    with pytest.raises(body_mod.DecodeError):
        body_mod._Inflater("gzip", 100, None).feed(b"this is not gzip")
    truncated = body_mod._Inflater("gzip", 100, None)
    truncated.feed(gzip.compress(b"12345")[:-6])
    with pytest.raises(body_mod.DecodeError):
        truncated.finish()


async def test_gzip_bomb_is_413_on_both_receivers(rx: Receivers, caplog: pytest.LogCaptureFixture) -> None:
    status, _ = await http(rx.otlp.port, post("/v1/traces", len(BOMB), "application/x-protobuf", "gzip"), BOMB)
    assert status == 413
    status, _ = await http(rx.zipkin.port, post("/api/v2/spans", len(BOMB), "application/json", "gzip"), BOMB)
    assert status == 413
    assert rx.rejected("otlp_http", "otlp_proto", "too_large") == 1
    assert rx.rejected("zipkin_http", "zipkin_v2_json", "too_large") == 1
    assert body_mod.PROCESS_BUDGET.used == 0
    no_errors(caplog)


async def test_shared_budget_refuses_with_503_and_is_returned(rx: Receivers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_mod, "PROCESS_BUDGET", body_mod.BodyBudget(4 * 1024 * 1024))
    status, text = await http(rx.otlp.port, post("/v1/traces", len(BOMB), "application/json", "gzip"), BOMB)
    assert status == 503 and b"retry later" in text
    assert rx.rejected("otlp_http", "otlp_json", "body_memory") == 1
    assert body_mod.PROCESS_BUDGET.used == 0  # the refused request gave its share back
    small = b'{"resourceSpans":[]}'
    status, _ = await http(rx.otlp.port, post("/v1/traces", len(small), "application/json"), small)
    assert status == 200


# -- nesting, stalls, disconnects, long URLs ------------------------------------------------


@pytest.mark.parametrize("levels", [40, 400, 5000])
async def test_deeply_nested_otlp_attribute_is_400(rx: Receivers, caplog: pytest.LogCaptureFixture, levels: int) -> None:
    data = nested_attribute(levels)
    status, text = await http(rx.otlp.port, post("/v1/traces", len(data), "application/json"), data)
    assert status == 400 and b"nested" in text
    assert rx.rejected("otlp_http", "otlp_json", "decode_error") == 1
    no_errors(caplog)


@pytest.mark.parametrize("path", ["/api/v2/spans", "/api/v1/spans"])
async def test_unknown_field_nested_100k_levels_is_400(rx: Receivers, caplog: pytest.LogCaptureFixture, path: str) -> None:
    data = b'[{"junk":' + b"[" * 100_000 + b"]" * 100_000 + b"}]"
    status, text = await http(rx.zipkin.port, post(path, len(data), "application/json"), data)
    assert status == 400 and b"nested too deeply" in text
    otlp = b'{"resourceSpans":[],"junk":' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}"
    status, text = await http(rx.otlp.port, post("/v1/traces", len(otlp), "application/json"), otlp)
    assert status == 400 and b"nested too deeply" in text
    no_errors(caplog)


async def test_stalled_body_is_408(rx: Receivers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_mod, "DEFAULT_STALL_TIMEOUT", 0.3)
    status, _ = await http(rx.otlp.port, post("/v1/traces", 1000, "application/json"), b'{"resou')
    assert status == 408
    assert rx.rejected("otlp_http", "otlp_json", "body_timeout") == 1


async def test_client_gone_mid_body_is_counted_without_traceback(rx: Receivers, caplog: pytest.LogCaptureFixture) -> None:
    for port, path, fmt in [(rx.otlp.port, "/v1/traces", ("otlp_http", "otlp_json")),
                            (rx.zipkin.port, "/api/v2/spans", ("zipkin_http", "zipkin_v2_json"))]:
        await http(port, post(path, 1_000_000, "application/json"), b"[" * 70_000, read=False)
        for _ in range(100):
            if rx.rejected(*fmt, "client_disconnected"):
                break
            await asyncio.sleep(0.05)
        assert rx.rejected(*fmt, "client_disconnected") == 1
    no_errors(caplog)


async def test_url_over_8k_is_400_with_one_warning(rx: Receivers, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(5):
        status, _ = await http(rx.otlp.port, "GET /v1/traces?x=" + "a" * 9000 + " HTTP/1.1\r\nHost: x")
        assert status == 400
    labels = {"listener": "otlp_http", "reason": "LineTooLong"}
    assert rx.processor.metrics.registry.get_sample_value("spyglass_http_bad_requests_total", labels) == 5
    no_errors(caplog)
    warnings = [r for r in caplog.records if "LineTooLong" in r.getMessage()]
    assert len(warnings) == 1  # throttled: one line for the burst
