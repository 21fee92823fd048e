"""Jaeger Thrift binary over HTTP to the collector's ``POST /api/traces`` (14268).

For environments where UDP to an agent is not possible (serverless, other networks):
TCP, so large batches and lost packets are not a concern, at the cost of a request per
flush. One ``Batch`` per request (the collector's endpoint takes one).
"""

from __future__ import annotations

from collections.abc import Sequence

from spyglass.client.constants import DEFAULT_COLLECTOR_HTTP_PORT
from spyglass.client.reporting.senders._http import HttpPoster
from spyglass.client.reporting.senders.base import Sender
from spyglass.codecs.jaeger_thrift import encode_batches
from spyglass.model import Span

DEFAULT_ENDPOINT = f"http://localhost:{DEFAULT_COLLECTOR_HTTP_PORT}/api/traces"


class HTTPSender(Sender):
    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        username: str | None = None,
        password: str | None = None,
        auth_token: str | None = None,
        timeout: float = 10.0,
        max_spans_per_request: int = 1000,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> None:
        """``ca_file``, ``client_cert``, ``client_key``: TLS to an ``https://`` endpoint
        (``--collector.http.tls.*`` on the collector)."""
        self.endpoint = endpoint
        self.max_spans_per_request = max_spans_per_request
        self._poster = HttpPoster(endpoint, "application/x-thrift", timeout, None, username, password, auth_token,
                                  ca_file, client_cert, client_key)

    def send(self, spans: Sequence[Span]) -> int:
        step = self.max_spans_per_request
        for i in range(0, len(spans), step):
            for body in encode_batches(spans[i : i + step], "binary"):
                self._poster.post(body)
        return 0

    def close(self) -> None:
        self._poster.close()

    def after_fork(self) -> None:
        self._poster._conn = None

    def __repr__(self) -> str:
        return f"HTTPSender({self.endpoint})"
