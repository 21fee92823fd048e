"""Send spans over each protocol Spyglass (and Jaeger) receives, with real clients: grpcio for
gRPC, aiohttp for HTTP, a UDP socket for the agent's port. The wire bytes come from the
project's codecs, so tracegen exercises the same encodings real SDKs produce.

A sender answers each request with an ``Outcome``: acknowledged, or refused (after the
retries a well-behaved client makes on retryable answers: HTTP 429/503, gRPC UNAVAILABLE and
RESOURCE_EXHAUSTED). UDP has no acknowledgement: a datagram the kernel took is counted as
acknowledged, and only ``--verify`` can tell whether it arrived.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from spyglass.model import Span
from spyglass.server.tls import ClientTlsConfig, grpc_channel

PROTOCOLS = ("otlp-grpc", "otlp-http", "jaeger-grpc", "jaeger-http", "jaeger-udp", "zipkin")
DEFAULT_PORTS = {
    "otlp-grpc": 4317, "otlp-http": 4318, "jaeger-grpc": 14250,
    "jaeger-http": 14268, "jaeger-udp": 6831, "zipkin": 9411,
}
UDP_PACKET_LIMIT = 65_000


@dataclass(slots=True)
class Outcome:
    """What became of one request's spans."""

    acknowledged: bool
    retries: int = 0
    error: str = ""
    rejected: int = 0  # spans an acknowledged request refused (OTLP partial success)


def otlp_rejected(body: bytes) -> tuple[int, str]:
    """``partial_success`` of an OTLP ``ExportTraceServiceResponse``: rejected spans, message."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    response = trace_service_pb2.ExportTraceServiceResponse()
    try:
        response.ParseFromString(body)
    except Exception:  # a non-protobuf 2xx body: nothing to learn from it
        return 0, ""
    return response.partial_success.rejected_spans, response.partial_success.error_message


class Sender:
    """Base: ``await send(spans)`` one request's worth of spans, ``await close()`` at the end."""

    max_retries = 5

    async def send(self, spans: Sequence[Span]) -> Outcome:
        raise NotImplementedError

    async def close(self) -> None:
        pass

    async def _backoff(self, attempt: int) -> None:
        await asyncio.sleep(min(1.0, 0.05 * 2**attempt))


class HttpSender(Sender):
    """POST one encoded body per request; 2xx is acknowledged, 429/503 retried."""

    def __init__(self, url: str, content_type: str, encode: Callable[[Sequence[Span]], list[bytes]],
                 otlp: bool = False, tls: ClientTlsConfig | None = None) -> None:
        import aiohttp

        self.otlp = otlp
        self.url = url
        self.content_type = content_type
        self.encode = encode
        connector = aiohttp.TCPConnector(ssl=tls.ssl_context()) if tls is not None and tls.enabled else None
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), connector=connector)
        self._errors = (aiohttp.ClientError, asyncio.TimeoutError, OSError)

    async def send(self, spans: Sequence[Span]) -> Outcome:
        retries = rejected = 0
        for body in self.encode(spans):
            while True:
                try:
                    async with self._session.post(self.url, data=body, headers={"Content-Type": self.content_type}) as resp:
                        answer = await resp.read()
                        status = resp.status
                except self._errors as exc:
                    return Outcome(False, retries, f"{type(exc).__name__}: {exc}")
                if status < 300:
                    if self.otlp:
                        rejected += otlp_rejected(answer)[0]
                    break
                if status in (429, 503) and retries < self.max_retries:
                    await self._backoff(retries)
                    retries += 1
                    continue
                return Outcome(False, retries, f"HTTP {status}")
        return Outcome(True, retries, "partial success: spans rejected" if rejected else "", rejected)

    async def close(self) -> None:
        await self._session.close()


class GrpcSender(Sender):
    """One unary call per request on a grpcio channel; UNAVAILABLE/RESOURCE_EXHAUSTED retried."""

    def __init__(self, target: str, method: str, encode: Callable[[Sequence[Span]], bytes], otlp: bool = False,
                 tls: ClientTlsConfig | None = None) -> None:
        import grpc

        self.otlp = otlp
        self._grpc = grpc
        self._channel = grpc_channel(target, tls, [("grpc.max_send_message_length", 64 << 20)])
        self._call = self._channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        self.encode = encode
        self._retryable = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}

    async def send(self, spans: Sequence[Span]) -> Outcome:
        body = self.encode(spans)
        retries = 0
        while True:
            try:
                answer = await self._call(body, timeout=30)
                rejected, message = otlp_rejected(answer) if self.otlp and answer else (0, "")
                return Outcome(True, retries, message, rejected)
            except self._grpc.aio.AioRpcError as exc:
                if exc.code() in self._retryable and retries < self.max_retries:
                    await self._backoff(retries)
                    retries += 1
                    continue
                return Outcome(False, retries, f"{exc.code().name}: {exc.details()}")

    async def close(self) -> None:
        await self._channel.close()


class UdpSender(Sender):
    """Jaeger Thrift compact ``emitBatch`` datagrams (the agent port, 6831)."""

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.connect((host, port))
        self._seq = 0

    async def send(self, spans: Sequence[Span]) -> Outcome:
        from spyglass.codecs import jaeger_thrift

        packets, too_large = jaeger_thrift.split_agent_messages(spans, "compact", UDP_PACKET_LIMIT, self._seq)
        self._seq += len(packets)
        if too_large:
            return Outcome(False, 0, f"{len(too_large)} spans do not fit in a UDP packet")
        for packet in packets:
            try:
                self._sock.send(packet)
            except OSError as exc:  # ECONNREFUSED from an earlier datagram's ICMP, ENOBUFS
                return Outcome(False, 0, f"{type(exc).__name__}: {exc}")
        return Outcome(True)

    async def close(self) -> None:
        self._sock.close()


def _jaeger_post_spans(spans: Sequence[Span]) -> bytes:
    from spyglass.codecs import jaeger_proto
    from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2

    request = collector_pb2.PostSpansRequest()
    request.batch.CopyFrom(jaeger_proto.batch_from_spans(spans))
    return request.SerializeToString()


def _jaeger_thrift_batches(spans: Sequence[Span]) -> list[bytes]:
    from spyglass.codecs import jaeger_thrift

    return jaeger_thrift.encode_batches(spans, "binary")


def _otlp_proto(spans: Sequence[Span]) -> bytes:
    from spyglass.codecs import otlp_proto

    return otlp_proto.encode_export_request(spans)


def _zipkin_json(spans: Sequence[Span]) -> list[bytes]:
    from spyglass.codecs import zipkin_json_v2

    return [zipkin_json_v2.encode_zipkin_json_v2(spans)]


def endpoint_host_port(protocol: str, endpoint: str) -> tuple[str, int]:
    """``host:port`` (or ``host``, or ``http://host:port/...``) with the protocol's default port."""
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint if "://" in endpoint else "//" + endpoint)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"endpoint {endpoint!r}: the port is not a number from 0 to 65535") from None
    return parts.hostname or "127.0.0.1", port or DEFAULT_PORTS[protocol]


def make_sender(protocol: str, endpoint: str, tls: ClientTlsConfig | None = None) -> Sender:
    """The sender of ``protocol`` (one of ``PROTOCOLS``) to ``endpoint`` (``host[:port]``);
    TLS (``--tls.*``) when ``tls`` is enabled or the endpoint is an ``https://`` URL."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    host, port = endpoint_host_port(protocol, endpoint)
    if endpoint.startswith("https://") and (tls is None or not tls.enabled):
        tls = ClientTlsConfig("", enabled=True)  # the system's CAs
    secure = tls is not None and tls.enabled
    if secure and protocol == "jaeger-udp":
        raise ValueError("--tls.enabled: the jaeger-udp protocol has no TLS")
    base = f"{'https' if secure else 'http'}://{host}:{port}"
    if protocol == "otlp-grpc":
        return GrpcSender(f"{host}:{port}", "/opentelemetry.proto.collector.trace.v1.TraceService/Export", _otlp_proto,
                          otlp=True, tls=tls)
    if protocol == "jaeger-grpc":
        return GrpcSender(f"{host}:{port}", "/jaeger.api_v2.CollectorService/PostSpans", _jaeger_post_spans, tls=tls)
    if protocol == "otlp-http":
        return HttpSender(base + "/v1/traces", "application/x-protobuf", lambda s: [_otlp_proto(s)], otlp=True, tls=tls)
    if protocol == "jaeger-http":
        return HttpSender(base + "/api/traces", "application/x-thrift", _jaeger_thrift_batches, tls=tls)
    if protocol == "zipkin":
        return HttpSender(base + "/api/v2/spans", "application/json", _zipkin_json, tls=tls)
    return UdpSender(host, port)
