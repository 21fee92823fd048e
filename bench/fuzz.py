"""Fuzzing every decoder and every HTTP parameter parser (issue 15, part 5).

A *target* is one function that reads bytes a client (or a disk, or NATS) controls. It
passes when every input either decodes or raises the error the code documents for bad
input (``DecodeError``, ``ParamError``, ``DurationError``...): anything else is a crash,
an input running longer than ``--timeout`` is a hang, and the process's RSS must stay
under ``--rss-limit-mb``.

Two engines run the same targets:

* ``atheris`` (default when installed): coverage-guided, libFuzzer under CPython with the
  ``spyglass`` package's bytecode instrumented. One worker process per target, so a crash,
  a hang or an RSS blow-up of one cannot hide another's figures; libFuzzer enforces the
  time and RSS limits itself and writes a failing input to ``tests/fuzz/corpus/<target>/``.
* ``random``: a seeded mutation fuzzer in this process (no coverage feedback); what the
  smoke test (``tests/fuzz/test_smoke.py``) runs in ``make test``.

Seeds are valid encodings of varied spans made by the codecs' own encoders (and valid
query strings, durations, timestamps...), so mutations reach deep into the decoders rather
than dying at the first byte. Every failing input ever found stays in
``tests/fuzz/corpus/<target>/`` and ``tests/fuzz/test_regressions.py`` replays them.

    .venv/bin/python bench/fuzz.py                      # every target, 1,000,000 inputs each
    .venv/bin/python bench/fuzz.py --target otlp_proto --inputs 200000
    .venv/bin/python bench/fuzz.py --engine random --inputs 5000 --jobs 2
    .venv/bin/python bench/fuzz.py --list

Results go to docs/benchmarks.md (``fuzz`` section) with ``--record``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import logging
import os
import random
import re
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
WORK = ROOT / "build" / "fuzz"  # libFuzzer's growing corpora (coverage kept between runs)
DEFAULT_INPUTS = 1_000_000
MAX_LEN = 16384  # longest input the mutators make (seeds may be longer and are kept whole)


@dataclass(frozen=True, slots=True)
class Target:
    """One fuzzed entry point: ``run(data)`` must return or raise one of ``expected``."""

    name: str
    run: Callable[[bytes], object]
    expected: tuple[type[BaseException], ...]
    seeds: Callable[[], list[bytes]]
    what: str
    # Longest input libFuzzer makes (longer seeds are cut). Short for the text parsers: every
    # character costs atheris's comparison hooks, and a 10 KB "duration" finds nothing new.
    max_len: int = MAX_LEN


class Hang(BaseException):
    """An input ran past the time limit (BaseException: no target's ``except`` eats it)."""


# -- seed spans --------------------------------------------------------------------------------


def seed_spans() -> list[list[Any]]:
    """A few batches of spans using every part of the model the encoders carry: every
    attribute type, events, links, kinds, statuses, scopes, flags, 64- and 128-bit IDs."""
    from spyglass.model import Event, KeyValue, Link, RefType, Resource, Scope, Span, SpanKind, Status, StatusCode
    from spyglass.tracegen.generator import TraceGenerator, TraceShape

    rng = random.Random(15)
    res = Resource("frontend", [KeyValue("hostname", "h1"), KeyValue("ip", "10.0.0.7"), KeyValue("n", 3),
                                KeyValue("client-uuid", "abc")])
    res2 = Resource("db", [KeyValue("ip", "2001:db8::1"), KeyValue("ok", True)])
    scope = Scope("lib", "1.2", [KeyValue("s", "x")])
    attrs = [KeyValue("s", "text é 🙂"), KeyValue("b", True), KeyValue("i", -(1 << 63)), KeyValue("u", (1 << 63) - 1),
             KeyValue("f", 1.5e300), KeyValue("nan", float("nan")), KeyValue("by", b"\x00\xff"),
             KeyValue("l", [1, "a", 2.5]), KeyValue("d", {"k": "v"}), KeyValue("none", None),
             KeyValue("span.kind", "server"), KeyValue("error", True), KeyValue("http.status_code", 500),
             KeyValue("otel.status_code", "ERROR"), KeyValue("peer.service", "db"), KeyValue("", "empty key")]
    t = 1_700_000_000_123_456_789
    hand = [
        Span(trace_id=(0xABCDEF << 64) | 0x1234, span_id=0xFFFF_FFFF_FFFF_FFFF, name="GET /x", start_time_ns=t,
             duration_ns=1_234_567, resource=res, kind=SpanKind.SERVER, status=Status(StatusCode.ERROR, "boom"),
             attributes=list(attrs), flags=1, trace_state="a=b", scope=scope,
             events=[Event(t + 1000, "exception", [KeyValue("exception.message", "bad"), KeyValue("x", 1)]),
                     Event(t + 2000, "", [KeyValue("event", "cs")])],
             links=[Link(0x1234, 7, RefType.CHILD_OF), Link(99, 8, RefType.FOLLOWS_FROM, "k=v", [KeyValue("a", 1)])],
             warnings=["w1"], dropped_attributes_count=2, dropped_events_count=1, dropped_links_count=3),
        Span(trace_id=0x1234, span_id=7, name="child", start_time_ns=t + 10, duration_ns=0, resource=res2,
             parent_span_id=0xFFFF_FFFF_FFFF_FFFF, kind=SpanKind.CLIENT, attributes=[KeyValue("sr", "x")],
             events=[Event(t + 10, "cs"), Event(t + 20, "cr")]),
        Span(trace_id=1, span_id=1, name="", start_time_ns=0, duration_ns=1, resource=Resource("")),
        Span(trace_id=(1 << 128) - 1, span_id=1 << 63, name="producer", start_time_ns=t, duration_ns=5,
             resource=res, kind=SpanKind.PRODUCER, status=Status(StatusCode.OK)),
        Span(trace_id=5, span_id=6, name="consumer", start_time_ns=t, duration_ns=5, resource=res2,
             kind=SpanKind.CONSUMER, parent_span_id=1),
    ]
    gen = TraceGenerator(TraceShape(services=3, depth=2, fan_out=2, attributes=8, events=2, error_ratio=0.5,
                                    links=1), seed=rng.randrange(1 << 30))
    return [hand, hand[:1], hand[1:3], gen.trace(t), gen.trace(t) + gen.trace(t)]


def _each(encode: Callable[[list[Any]], bytes | list[bytes]]) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        out: list[bytes] = []
        for batch in seed_spans():
            made = encode(batch)
            out.extend(made if isinstance(made, list) else [made])
        return out
    return seeds


# -- the targets -------------------------------------------------------------------------------


def _json_target(parse: Callable[[Any], object]) -> Callable[[bytes], object]:
    """A decoder of already-parsed JSON; parsed with orjson as the receivers do (it rejects
    lone surrogates and nesting past 1024), its failure being a clean ``ValueError``."""
    import orjson

    def run(data: bytes) -> object:
        try:
            obj = orjson.loads(data)
        except ValueError:
            return None
        return parse(obj)
    return run


def _query(text: str) -> Any:
    """A query string as aiohttp's ``request.query`` holds it (a MultiDict of str)."""
    from urllib.parse import parse_qsl

    from multidict import MultiDict

    return MultiDict(parse_qsl(text, keep_blank_values=True))


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _v1_params(data: bytes) -> object:
    """First byte: which parser; then ``<path trace id>\\n<query string>``."""
    from spyglass.query import http_params as hp

    if not data:
        return None
    which, rest = data[0] % 6, _text(data[1:])
    path, _, qs = rest.partition("\n")
    q = _query(qs)
    now = 1_700_000_000_000_000_000
    if which == 5:  # /api/deep-dependencies
        from spyglass.query.deep_dependencies import parse_limit

        return hp.parse_dependencies(q, now), parse_limit(q)
    if which == 0:
        return hp.parse_search(q, now, allow_cross_service=bool(data[0] & 8))
    if which == 1:
        return hp.parse_get_trace(path, q)
    if which == 2:
        return hp.parse_dependencies(q, now)
    return hp.parse_metrics(q, now, latencies=which == 3)


def _v3_params(data: bytes) -> object:
    from spyglass.query import http_params as hp

    if not data:
        return None
    which, rest = data[0] % 3, _text(data[1:])
    path, _, qs = rest.partition("\n")
    q = _query(qs)
    if which == 0:
        return hp.parse_v3_search(q)
    if which == 1:
        return hp.parse_v3_get_trace(path, q)
    return hp.parse_v3_operations(q)


def _strconv(data: bytes) -> object:
    from spyglass.query import gostrconv

    if not data:
        return None
    which, text = data[0] % 6, _text(data[1:])
    if which == 0:
        return gostrconv.parse_int(text, 64 if data[0] & 8 else 32)
    if which == 1:
        return gostrconv.parse_uint(text, 16 if data[0] & 8 else 10, 64 if data[0] & 16 else 32)
    if which == 2:
        return gostrconv.parse_bool(text)
    if which == 3:
        return gostrconv.parse_float(text)
    return gostrconv.quote(text)


_INFLATE_LIMIT = 64 << 10


def _inflate(data: bytes) -> object:
    """First byte: gzip or deflate and the size of the pieces the body arrives in."""
    from spyglass.collector.receivers.body import _Inflater

    if not data:
        return None
    encoding = ("gzip", "deflate", "x-gzip", "deflate")[data[0] & 3]
    step = 1 + (data[0] >> 2) * 37
    inflater = _Inflater(encoding, _INFLATE_LIMIT, None)
    body = data[1:]
    for i in range(0, len(body), step):
        inflater.feed(body[i:i + step])
    return inflater.finish()


def _fix_crcs(data: bytes) -> bytes:
    """``data`` with each record's CRC made right, so mutated payloads reach the decoder."""
    out = bytearray(data)
    pos = 0
    while pos + 8 <= len(out):
        length = struct.unpack_from("<I", out, pos)[0]
        start = pos + 8
        if start + length > len(out):
            break
        struct.pack_into("<I", out, pos + 4, zlib.crc32(out[start:start + length]))
        pos = start + length
    return bytes(out)


def _wal(data: bytes) -> object:
    """A segment file's bytes as replay reads them: records, then each payload decoded.
    An odd first byte re-frames the rest with right CRCs (else mutations never pass them)."""
    from spyglass.collector.buffer.encoding import decode_batch
    from spyglass.collector.wal import read_records

    if not data:
        return None
    body = _fix_crcs(data[1:]) if data[0] & 1 else data[1:]
    return [decode_batch(p) for p in read_records(body)]


def _wal_seeds() -> list[bytes]:
    from spyglass.collector.buffer.encoding import encode_batch

    out = []
    for batch in seed_spans():
        payloads = [encode_batch(batch), encode_batch(batch[:1])]
        seg = b"".join(struct.pack("<II", len(p), zlib.crc32(p)) + p for p in payloads)
        out += [b"\x00" + seg, b"\x01" + seg, b"\x01" + seg[:-3]]
    return out


def _inflate_seeds() -> list[bytes]:
    from spyglass.codecs import otlp_proto

    out = []
    for batch in seed_spans()[:3]:
        raw = otlp_proto.encode_export_request(batch)
        out.append(b"\x00" + gzip.compress(raw))
        out.append(b"\x04" + gzip.compress(raw) + gzip.compress(raw))  # two members
        out.append(b"\x01" + zlib.compress(raw))
        co = zlib.compressobj(wbits=-15)
        out.append(b"\x05" + co.compress(raw) + co.flush())  # raw deflate
    out.append(b"\x00" + gzip.compress(b"\0" * (256 << 10)))  # a bomb past the limit
    return out


def _query_seeds_v1() -> list[bytes]:
    tid = "463ac35c9f6413ad48485a3953bb6124"
    rows = [
        (0, "", "service=frontend&operation=GET%20%2Fx&start=1700000000000000&end=1700000100000000&limit=20"
                "&minDuration=1.5ms&maxDuration=2h&tag=error:true&tags=%7B%22http.status_code%22%3A%22500%22%7D"),
        (8, "", "tags=%7B%22a%22%3A%22b%22%7D&lookback=1h"),
        (0, "", "service=a&limit=" + "1" * 4400),
        (0, "", f"traceID={tid}&traceID=abc&raw=true"),
        (1, tid, "start=1&end=2&raw=1"),
        (1, "RjqsXJ9kE61ISFpZU7thJA", "raw=false"),
        (2, "", "endTs=1700000000000&lookback=86400000"),
        (3, "", "service=a&service=b&quantile=0.95&groupByOperation=true&spanKind=server&spanKind=client"
                "&endTs=1700000000000&lookback=3600000&step=5000&ratePer=600000"),
        (4, "", "service=a&spanKind=producer&prettyPrint=1"),
        (5, "", "service=a&operation=b&endTs=1700000000000&lookback=3600000&limit=50"),
    ]
    return [bytes([w]) + f"{p}\n{q}".encode() for w, p, q in rows]


def _query_seeds_v3() -> list[bytes]:
    rows = [
        (0, "", "query.serviceName=frontend&query.operationName=op&query.startTimeMin=2023-11-14T22:13:20Z"
                "&query.startTimeMax=2023-11-14T23:13:20.123456789%2B01:00&query.durationMin=1ms"
                "&query.durationMax=1h30m&query.searchDepth=20&query.rawTraces=true"
                "&query.attributes=%7B%22k%22%3A%22v%22%7D"),
        (0, "", "query.service_name=a&query.start_time_min=2023-01-01T00:00:00Z&query.start_time_max=2023-01-02T00:00:00Z"
                "&query.num_traces=5&query.duration_min=10us"),
        (1, "463ac35c9f6413ad48485a3953bb6124", "startTime=2023-11-14T22:13:20Z&endTime=2023-11-14T22:13:21Z&rawTraces=1"),
        (1, "RjqsXJ9kE61ISFpZU7thJA==", "start_time=2023-11-14T22:13:20.5-07:00"),
        (2, "", "service=frontend&spanKind=server"),
    ]
    return [bytes([w]) + f"{p}\n{q}".encode() for w, p, q in rows]


def _strategies_seeds() -> list[bytes]:
    docs = [
        {"default_strategy": {"type": "probabilistic", "param": 0.5,
                              "operation_strategies": [{"operation": "op", "type": "probabilistic", "param": 0.1}]},
         "service_strategies": [
             {"service": "a", "type": "ratelimiting", "param": 5},
             {"service": "b", "type": "probabilistic", "param": 0.8,
              "operation_strategies": [{"operation": "/health", "type": "probabilistic", "param": 0.0},
                                       {"operation": "x", "type": "ratelimiting", "param": 1}]}]},
        {"service_strategies": [{"service": "c", "type": "probabilistic", "param": 1}]},
        {},
    ]
    return [json.dumps(d).encode() for d in docs]


def build_targets() -> dict[str, Target]:
    """Every target, by name (imports the decoders: call it inside atheris's instrumentation)."""
    from spyglass.agent.encode import transcode_agent_message
    from spyglass.codecs import (jaeger_proto, jaeger_thrift, jaeger_ui_json, otlp_json, otlp_proto, zipkin_json_v1,
                                 zipkin_json_v2, zipkin_proto, zipkin_thrift)
    from spyglass.codecs.errors import DecodeError
    from spyglass.collector.buffer.encoding import BatchDecodeError
    from spyglass.collector.buffer.encoding import decode_batch as decode_buffer
    from spyglass.collector.buffer.encoding import encode_batch as encode_buffer
    from spyglass.collector.receivers.body import BodyTooLarge
    from spyglass.collector.sampling.strategies import StrategiesError, load_strategies
    from spyglass.gocompat.godur import DurationError, parse_duration
    from spyglass.gocompat.gotime import TimeParseError, parse_rfc3339_nano
    from spyglass.model import Trace
    from spyglass.query.gojsonmap import GoJSONError, unmarshal_string_map
    from spyglass.query.gostrconv import GoSyntaxError
    from spyglass.query.http_params import ParamError

    def post_spans(batch: list[Any]) -> bytes:
        from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2

        req = collector_pb2.PostSpansRequest()
        req.batch.CopyFrom(jaeger_proto.batch_from_spans(batch))
        return req.SerializeToString()

    def agent_messages(batch: list[Any], protocol: str) -> list[bytes]:
        return [jaeger_thrift.encode_agent_message(g, protocol) for g in jaeger_thrift.group_by_resource(batch)]

    def ui_json(batch: list[Any]) -> bytes:
        traces: dict[int, Trace] = {}
        for s in batch:
            traces.setdefault(s.trace_id, Trace(s.trace_id)).spans.append(s)
        return json.dumps({"data": jaeger_ui_json.traces_to_ui(traces.values())}).encode()

    D = (DecodeError,)
    targets = [
        Target("jaeger_thrift_binary", _spans(lambda d: jaeger_thrift.decode_batch(d, "binary")), D,
               _each(lambda b: jaeger_thrift.encode_batches(b, "binary")), "Jaeger Thrift Batch, binary (POST /api/traces)"),
        Target("jaeger_thrift_compact", _spans(lambda d: jaeger_thrift.decode_batch(d, "compact")), D,
               _each(lambda b: jaeger_thrift.encode_batches(b, "compact")), "Jaeger Thrift Batch, compact"),
        Target("udp_jaeger_compact", _spans(lambda d: jaeger_thrift.decode_agent_message(d, "compact")), D,
               _each(lambda b: agent_messages(b, "compact")),
               "collector's UDP port 6831: emitBatch, compact"),
        Target("udp_jaeger_binary", _spans(lambda d: jaeger_thrift.decode_agent_message(d, "binary")), D,
               _each(lambda b: agent_messages(b, "binary")),
               "collector's UDP port 6832: emitBatch, binary"),
        Target("agent_jaeger_compact", lambda d: transcode_agent_message(d, "compact"), D,
               _each(lambda b: agent_messages(b, "compact")),
               "agent's UDP 6831: emitBatch transcoded to protobuf"),
        Target("agent_jaeger_binary", lambda d: transcode_agent_message(d, "binary"), D,
               _each(lambda b: agent_messages(b, "binary")),
               "agent's UDP 6832: emitBatch transcoded to protobuf"),
        Target("udp_zipkin_compact", _spans(zipkin_thrift.decode_agent_zipkin_batch), D,
               _each(zipkin_thrift.encode_agent_zipkin_batch), "UDP 5775: emitZipkinBatch, compact"),
        Target("jaeger_proto", _spans(jaeger_proto.decode_post_spans), D, _each(post_spans), "Jaeger gRPC PostSpans"),
        Target("jaeger_proto_json", _spans(_json_target(jaeger_proto.spans_from_json)), D,
               _each(lambda b: json.dumps(jaeger_proto.spans_to_json(b)).encode()), "Jaeger api_v2 protobuf-JSON spans"),
        Target("otlp_proto", _spans(otlp_proto.decode_export_request_partial), D, _each(otlp_proto.encode_export_request),
               "OTLP ExportTraceServiceRequest, protobuf"),
        Target("otlp_json", _spans(otlp_json.decode_export_request_partial), D, _each(otlp_json.encode_json),
               "OTLP ExportTraceServiceRequest, JSON"),
        Target("zipkin_json_v1", _spans(zipkin_json_v1.decode_zipkin_json_v1), D, _each(zipkin_json_v1.encode_zipkin_json_v1),
               "Zipkin JSON v1"),
        Target("zipkin_json_v2", _spans(zipkin_json_v2.decode_zipkin_json_v2), D, _each(zipkin_json_v2.encode_zipkin_json_v2),
               "Zipkin JSON v2"),
        Target("zipkin_proto", _spans(zipkin_proto.decode_zipkin_proto), D, _each(zipkin_proto.encode_zipkin_proto),
               "Zipkin proto3 ListOfSpans"),
        Target("zipkin_thrift", _spans(zipkin_thrift.decode_zipkin_thrift), D, _each(zipkin_thrift.encode_zipkin_thrift),
               "Zipkin Thrift list of spans (binary)"),
        Target("jaeger_ui_json", _spans(_json_target(jaeger_ui_json.traces_from_ui)), D, _each(ui_json),
               "Jaeger UI trace JSON (a downloaded trace)"),
        Target("buffer_batch", _spans(decode_buffer), (BatchDecodeError,), _each(encode_buffer),
               "span batches in NATS and the WAL (msgpack)"),
        Target("wal_segment", _wal, (BatchDecodeError,), _wal_seeds, "write-ahead log segment replay"),
        Target("body_inflate", _inflate, (DecodeError, BodyTooLarge), _inflate_seeds,
               "gzip/deflate request bodies, inflated as they arrive"),
        Target("query_params_v1", _v1_params, (ParamError,), _query_seeds_v1,
               "/api/traces, /api/traces/{id}, /api/dependencies, /api/deep-dependencies, /api/metrics parameters",
               max_len=1024),
        Target("query_params_v3", _v3_params, (ParamError,), _query_seeds_v3,
               "/api/v3/traces, /api/v3/traces/{id}, /api/v3/operations parameters", max_len=1024),
        Target("go_duration", lambda d: parse_duration(_text(d)), (DurationError,),
               lambda: [s.encode() for s in ("1h2m3.5s", "-1.5ms", "300us", "7µs", "0", "1ns", ".5h", "9223372036s")],
               "Go time.ParseDuration (query and flags)", max_len=128),
        Target("go_time", lambda d: parse_rfc3339_nano(_text(d)), (TimeParseError,),
               lambda: [s.encode() for s in ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123456789+05:30",
                                             "0001-01-01T00:00:00-23:59", "9999-12-31t23:59:59.9z")],
               "Go time.Parse(RFC3339Nano) (api_v3 times)", max_len=128),
        Target("go_strconv", _strconv, (GoSyntaxError,),
               lambda: [b"\x00-123", b"\x09+9223372036854775807", b"\x00" + b"7" * 4400, b"\x01" + b"0" * 4400 + b"1", b"\x01ff", b"\x11FFFFFFFFFFFFFFFF", b"\x02true",
                        b"\x03-1.5e10", b"\x03NaN", b"\x03inf", b"\x040x1p-2", b"\x05a\x01\xff"],
               "Go strconv ParseInt/ParseUint/ParseBool/ParseFloat", max_len=128),
        Target("go_json_map", lambda d: unmarshal_string_map(_text(d)), (GoJSONError,),
               lambda: [b'{"a":"b","c":"d\\u00e9\\n"}', b'{"a":' + b"9" * 4400 + b'}', b' { } ', b'{"k":"v","k":"w"}', b'null', b'{"x":1}'],
               "Go json.Unmarshal into map[string]string (tags, query.attributes)", max_len=512),
        Target("sampling_strategies", load_strategies, (StrategiesError,), _strategies_seeds,
               "--sampling.strategies-file", max_len=2048),
    ]
    return {t.name: t for t in targets}


class BadOutput(Exception):
    """A decoder accepted the input but returned what the rest of Spyglass cannot handle."""


def _check_output(value: Any, depth: int = 0) -> None:
    """Every string a decoder returns must be encodable as UTF-8 (a lone surrogate from a
    ``\\ud800`` JSON escape would fail later, in storage or in the answer to a query)."""
    if depth > 64:
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadOutput(f"string not encodable as UTF-8: {value[:80]!r} ({exc.reason})") from None
    elif isinstance(value, (bytes, int, float, type(None))):
        return
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_output(k, depth + 1)
            _check_output(v, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_output(v, depth + 1)
    elif dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            _check_output(getattr(value, f.name), depth + 1)


def _storable(decoded: Any) -> Any:
    """What a receiver does next with decoded spans: ``validate`` (refusing what no storage
    can hold), then the buffer/WAL encoding, which must not fail for a span that passed: an
    acknowledged span that cannot be stored is lost."""
    from spyglass.collector.buffer.encoding import encode_batch
    from spyglass.collector.validation import validate
    from spyglass.model import Span, Trace

    if decoded is None:  # not JSON at all: refused before the decoder
        return None
    items = decoded[0] if isinstance(decoded, tuple) else decoded  # OTLP: (spans, rejected, error)
    spans = [s for t in items for s in t.spans] if items and isinstance(items[0], Trace) else items
    assert all(isinstance(s, Span) for s in spans)
    good = validate(spans).good
    try:
        encode_batch(good)
    except (ValueError, OverflowError, TypeError) as exc:
        raise BadOutput(f"decoded spans pass validation but cannot be stored: {type(exc).__name__}: {exc}") from None
    return decoded


def _spans(decode: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    return lambda data: _storable(decode(data))


def check(target: Target, data: bytes) -> BaseException | None:
    """Run one input; the unexpected exception it raised, if any."""
    try:
        _check_output(target.run(data))
    except target.expected:
        return None
    except Hang:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything else is the bug we look for
        return exc
    return None


def save_failure(target: str, data: bytes, kind: str = "crash", root: Path = CORPUS) -> Path:
    d = root / target
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{kind}-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    return path


# -- the random engine -------------------------------------------------------------------------

_INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x0F, 0x10, 0x20, 0x40, 0x3F, 0xC0, 0xFE)
_TOKENS = (b"\x00" * 8, b"\xff" * 8, b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00", b"-", b"e308", b"\"", b"{", b"}",
           b"[", b"]", b"null", b"true", b"1e999", b"-9223372036854775809", b"18446744073709551616", b"\\u0000",
           b"\\ud800", b"%", b"&", b"=", b"\n", b":", b"T", b"Z", b"+", b".", b"\xc3", b"\xf0\x9f")


class Mutator:
    """Byte mutations of a corpus: flips, interesting bytes, inserts, deletes, copies,
    tokens, splices, truncations (a deterministic stream for a given seed)."""

    def __init__(self, corpus: list[bytes], seed: int) -> None:
        self.corpus = corpus or [b""]
        self.rng = random.Random(seed)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        rng = self.rng
        data = bytearray(rng.choice(self.corpus))
        for _ in range(1 + min(rng.getrandbits(3), rng.getrandbits(3))):
            self._mutate(data, rng)
        return bytes(data[:MAX_LEN * 4])

    def _mutate(self, data: bytearray, rng: random.Random) -> None:
        op = rng.randrange(10)
        n = len(data)
        if n == 0 or op == 9:
            data[rng.randrange(n + 1):rng.randrange(n + 1)] = rng.randbytes(rng.randrange(1, 9))
        elif op == 0:
            i = rng.randrange(n)
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[rng.randrange(n)] = rng.choice(_INTERESTING)
        elif op == 2:
            data[rng.randrange(n)] = rng.getrandbits(8)
        elif op == 3:  # delete a range
            i = rng.randrange(n)
            del data[i:i + rng.randrange(1, 17)]
        elif op == 4:  # duplicate a range somewhere
            i = rng.randrange(n)
            chunk = data[i:i + rng.randrange(1, 33)]
            j = rng.randrange(n + 1)
            data[j:j] = chunk
        elif op == 5:
            j = rng.randrange(n + 1)
            data[j:j] = rng.choice(_TOKENS)
        elif op == 6:  # splice with another corpus entry
            other = rng.choice(self.corpus)
            i, j = rng.randrange(n + 1), rng.randrange(len(other) + 1)
            data[i:] = other[j:]
        elif op == 7:
            del data[rng.randrange(n):]
        else:  # overwrite a 1/2/4/8-byte little or big endian integer with an edge value
            width = rng.choice((1, 2, 4, 8))
            i = rng.randrange(n)
            value = rng.choice((0, 1, (1 << (8 * width - 1)) - 1, 1 << (8 * width - 1), (1 << (8 * width)) - 1))
            data[i:i + width] = value.to_bytes(width, rng.choice(("little", "big")))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(slots=True)
class Result:
    target: str
    inputs: int = 0
    crashes: int = 0
    hangs: int = 0
    peak_rss_mb: float = 0.0
    seconds: float = 0.0
    engine: str = "random"
    failures: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not (self.crashes or self.hangs or self.error)


def _on_alarm(signum: int, frame: Any) -> None:
    raise Hang


def fuzz_random(target: Target, inputs: int, seconds: float | None = None, *, seed: int = 0,
                timeout: float = 10.0, save_root: Path | None = CORPUS, stop_after: int = 10,
                corpus: list[bytes] | None = None) -> Result:
    """The corpus (the target's seeds unless given) first, then mutations, ``inputs`` in
    total (or until ``seconds``); each input under a ``timeout`` alarm. Failing inputs are
    saved under ``save_root`` when given."""
    result = Result(target.name)
    # decoders log what they drop (millions of lines that say nothing); put back after, since
    # the smoke test runs this inside the test process, whose later tests read their logs
    previous_disable = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    corpus = target.seeds() if corpus is None else corpus
    old = signal.signal(signal.SIGALRM, _on_alarm)
    outer = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's alarm, put back after
    started = time.monotonic()
    deadline = started + seconds if seconds else None
    try:
        stream = Mutator(corpus, seed)
        for i in range(inputs):
            data = corpus[i] if i < len(corpus) else next(stream)
            signal.setitimer(signal.ITIMER_REAL, timeout)
            kind = "crash"
            try:
                exc = check(target, data)
            except Hang:
                exc, kind = Hang(f"ran past {timeout}s"), "timeout"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            result.inputs += 1
            if exc is not None:
                if kind == "timeout":
                    result.hangs += 1
                else:
                    result.crashes += 1
                where = save_failure(target.name, data, kind, save_root) if save_root else None
                result.failures.append(f"{kind}: {type(exc).__name__}: {exc}"[:300] + (f" ({where})" if where else "")
                                       + f" input={data[:200]!r}")
                if len(result.failures) >= stop_after:
                    break
            if deadline is not None and (i & 63) == 0 and time.monotonic() > deadline:
                break
    finally:
        logging.disable(previous_disable)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))
    result.seconds = time.monotonic() - started
    result.peak_rss_mb = _rss_mb()
    return result


# -- the atheris engine (one worker process per target) ----------------------------------------


def atheris_worker(name: str, inputs: int, seconds: float, timeout: float, rss_limit_mb: int) -> None:
    """Runs in the child: libFuzzer over one target; exits when done (atheris never returns)."""
    import atheris

    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports(include=["spyglass"]):
        targets = build_targets()
    target = targets[name]
    seeds_dir = Path(tempfile.mkdtemp(prefix=f"fuzz-seeds-{name}-"))
    for i, seed in enumerate(target.seeds()):
        (seeds_dir / f"seed-{i:03d}").write_bytes(seed)
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    artifacts = CORPUS / name
    artifacts.mkdir(parents=True, exist_ok=True)
    old_failures = sorted(p for p in artifacts.iterdir() if p.is_file())

    def one_input(data: bytes) -> None:
        exc = check(target, data)
        if exc is not None:
            raise exc

    args = [sys.argv[0], f"-runs={inputs}", f"-timeout={int(timeout)}", f"-rss_limit_mb={rss_limit_mb}",
            f"-max_len={target.max_len}", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
            str(work), str(seeds_dir)]
    if seconds:
        args.insert(2, f"-max_total_time={int(seconds)}")
    # Replay the failures kept so far first: a regression stops the run before any new search.
    for path in old_failures:
        one_input(path.read_bytes())
    atheris.Setup(args, one_input)
    atheris.Fuzz()


_STAT = re.compile(r"stat::(\w+):\s*(\d+)")


def fuzz_atheris(name: str, inputs: int, seconds: float | None, timeout: float, rss_limit_mb: int) -> Result:
    """One target in a child process; its figures from libFuzzer's final stats."""
    artifacts = CORPUS / name
    before = set(artifacts.iterdir()) if artifacts.exists() else set()
    started = time.monotonic()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--inputs", str(inputs),
           "--timeout", str(timeout), "--rss-limit-mb", str(rss_limit_mb), "--seconds", str(seconds or 0)]
    log_path = WORK / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    text = log_path.read_text(errors="replace")
    stats = {k: int(v) for k, v in _STAT.findall(text)}
    result = Result(name, engine="atheris", seconds=time.monotonic() - started)
    result.inputs = stats.get("number_of_executed_units", 0)
    result.peak_rss_mb = float(stats.get("peak_rss_mb", 0))
    new = sorted(set(artifacts.iterdir()) - before) if artifacts.exists() else []
    for path in new:
        kind = path.name.split("-")[0]
        if kind == "timeout" or kind == "slow":
            result.hangs += 1
        else:
            result.crashes += 1
        result.failures.append(f"{path.relative_to(ROOT)}")
    if proc.returncode != 0 and not new:
        tail = "\n".join(text.splitlines()[-15:])
        result.error = f"worker exited {proc.returncode} (log {log_path.relative_to(ROOT)}):\n{tail}"
    if proc.returncode != 0 and new:
        m = re.search(r"=== Uncaught Python exception: ===\n(.*?)\n(?:==|INFO|MS:)", text, re.S)
        if m:
            result.failures.append(m.group(1).strip()[-1500:])
    return result


# -- command line ------------------------------------------------------------------------------


RESULTS = WORK / "results.json"  # the last full figures of each target, for --record


def _store(results: list[Result], command: str, engine: str) -> None:
    """Keep each target's latest figures, so a run split by target records one table."""
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    load = os.getloadavg()
    for r in results:
        stored[r.target] = {"inputs": r.inputs, "crashes": r.crashes, "hangs": r.hangs,
                            "peak_rss_mb": r.peak_rss_mb, "seconds": round(r.seconds, 1), "engine": engine,
                            "command": command, "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
                            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(stored, indent=1))


def _record() -> None:
    """docs/benchmarks.md's ``fuzz`` section from every target's stored figures."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_section

    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    targets = build_targets()
    commands = sorted({r["command"] for r in stored.values()}, key=lambda c: min(
        r["date"] for r in stored.values() if r["command"] == c))
    rows = ["| target | what | inputs | crashes | hangs | peak RSS MB | seconds | run | load avg at the end | finished |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, t in targets.items():
        r = stored.get(name)
        if r is None:
            rows.append(f"| `{name}` | {t.what} | not run | | | | | | | |")
            continue
        rows.append(f"| `{name}` | {t.what} | {r['inputs']:,} | {r['crashes']} | {r['hangs']} | "
                    f"{r['peak_rss_mb']:.0f} | {r['seconds']:.0f} | {commands.index(r['command']) + 1} | "
                    f"{r['load']} | {r['date']} |")
    done = [r for r in stored.values()]
    short = [n for n in targets if n not in stored or stored[n]["inputs"] < DEFAULT_INPUTS]
    engines = sorted({r["engine"] for r in done})
    body = "\n".join([
        "## Fuzzing (bench/fuzz.py)",
        "",
        f"Engine: {', '.join(engines)} (coverage-guided); {machine()}; each target in its own process, two at a time, "
        "under `flock /work/bench.lock nice -n 10`. A crash is any exception but the target's documented one, or "
        "decoded spans that pass validation and still cannot be encoded for storage ([fuzzing.md](fuzzing.md)); "
        "limits: 10 s per input (else a hang) and 1024 MB RSS. Peak RSS is each worker's (libFuzzer's "
        "`peak_rss_mb`). The crashes found while building the fuzzer were fixed before this run (fuzzing.md lists "
        "them; their inputs are in tests/fuzz/corpus/).",
        "",
        f"Totals: {sum(r['inputs'] for r in done):,} inputs over {len(done)} of {len(targets)} targets, "
        f"{sum(r['crashes'] for r in done)} crashes, {sum(r['hangs'] for r in done)} hangs, peak RSS at most "
        f"{max((r['peak_rss_mb'] for r in done), default=0):.0f} MB."
        + (f" Short of 1,000,000 inputs: {', '.join(short)}." if short else " Every target ran 1,000,000 inputs."),
        "",
        "Runs (a target's figures are from its latest run; `--seconds 200` stops a target at 200 s, and an "
        "uncapped run then replaced the figures of those that had stopped short of 1,000,000):",
        "",
        *[f"{i}. `{c}`" for i, c in enumerate(commands, 1)],
        "",
        *rows,
    ])
    write_section("fuzz", body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", action="append", help="a target name (repeatable); default: all")
    ap.add_argument("--inputs", type=int, default=DEFAULT_INPUTS, help="inputs per target")
    ap.add_argument("--seconds", type=float, default=0, help="time budget per target (0: none)")
    ap.add_argument("--engine", choices=("atheris", "random"), default=None)
    ap.add_argument("--jobs", type=int, default=1, help="targets fuzzed at once (the machine has 2 cores)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take before it is a hang")
    ap.add_argument("--rss-limit-mb", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0, help="random engine's seed")
    ap.add_argument("--record", action="store_true",
                    help="write every target's latest figures (build/fuzz/results.json) to docs/benchmarks.md")
    ap.add_argument("--record-only", action="store_true",
                    help="only write the stored figures to docs/benchmarks.md (after a run split by target)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        atheris_worker(args.worker, args.inputs, args.seconds, args.timeout, args.rss_limit_mb)
        return 0
    if args.record_only:
        _record()
        return 0
    targets = build_targets()
    if args.list:
        for t in targets.values():
            print(f"{t.name:24} {t.what}")
        return 0
    names = args.target or list(targets)
    unknown = [n for n in names if n not in targets]
    if unknown:
        ap.error(f"unknown target(s) {', '.join(unknown)}; --list shows them")
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "random"

    command = "bench/fuzz.py " + " ".join(argv if argv is not None else sys.argv[1:])
    store_lock = threading.Lock()

    def run(name: str) -> Result:
        if engine == "atheris":
            r = fuzz_atheris(name, args.inputs, args.seconds, args.timeout, args.rss_limit_mb)
        else:
            r = fuzz_random(targets[name], args.inputs, args.seconds, seed=args.seed, timeout=args.timeout)
        if engine == "atheris":  # the figures docs/benchmarks.md reports (random runs are exploration)
            with store_lock:
                _store([r], command, engine)
        status = "ok" if r.ok else "FAIL"
        print(f"{name:24} {status:4} inputs={r.inputs:>9,} crashes={r.crashes} hangs={r.hangs} "
              f"peak_rss={r.peak_rss_mb:.0f}MB {r.seconds:.0f}s ({r.inputs / max(r.seconds, 1e-9):,.0f}/s)", flush=True)
        for f in r.failures[:5]:
            print("    " + f.replace("\n", "\n    "), flush=True)
        if r.error:
            print("    " + r.error.replace("\n", "\n    "), flush=True)
        return r

    if engine == "random" and args.jobs > 1:
        ap.error("--jobs needs the atheris engine (the random engine runs in this process)")
    if engine == "random":  # in this process: SIGALRM needs the main thread
        results = [run(name) for name in names]
    else:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(run, names))
    if args.record:
        _record()
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
