"""OTLP protobuf over HTTP (``POST /v1/traces``, 4318): to Spyglass, or to any
OpenTelemetry collector, from an OpenTracing code base."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from spyglass.client.constants import DEFAULT_OTLP_HTTP_PORT
from spyglass.client.reporting.senders._http import HttpPoster
from spyglass.client.reporting.senders.base import Sender
from spyglass.codecs.otlp_proto import encode_export_request
from spyglass.model import Span

DEFAULT_ENDPOINT = f"http://localhost:{DEFAULT_OTLP_HTTP_PORT}/v1/traces"


class OTLPHTTPSender(Sender):
    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        max_spans_per_request: int = 1000,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> None:
        """``ca_file``, ``client_cert``, ``client_key``: TLS to an ``https://`` endpoint, as
        the OTel SDK's ``OTEL_EXPORTER_OTLP_CERTIFICATE`` / ``_CLIENT_CERTIFICATE`` / ``_CLIENT_KEY``."""
        self.endpoint = endpoint
        self.max_spans_per_request = max_spans_per_request
        self._poster = HttpPoster(endpoint, "application/x-protobuf", timeout, headers,
                                  ca_file=ca_file, client_cert=client_cert, client_key=client_key)

    def send(self, spans: Sequence[Span]) -> int:
        step = self.max_spans_per_request
        for i in range(0, len(spans), step):
            self._poster.post(encode_export_request(spans[i : i + step]))
        return 0

    def close(self) -> None:
        self._poster.close()

    def after_fork(self) -> None:
        self._poster._conn = None

    def __repr__(self) -> str:
        return f"OTLPHTTPSender({self.endpoint})"
