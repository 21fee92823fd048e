"""A minimal keep-alive HTTP POST client for the HTTP senders (stdlib ``http.client``:
one connection reused across flushes, reopened once when the server closed it).

``https://`` endpoints are verified against ``ca_file`` (the system's CAs when None), and
``client_cert``/``client_key`` are presented when the collector wants mutual TLS."""

from __future__ import annotations

import base64
import http.client
import ssl
import urllib.parse
from collections.abc import Mapping

from spyglass.client.reporting.senders.base import SenderError


class HttpPoster:
    def __init__(
        self,
        url: str,
        content_type: str,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        username: str | None = None,
        password: str | None = None,
        auth_token: str | None = None,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self.headers = {"Content-Type": content_type, **(headers or {})}
        if auth_token:
            self.headers["Authorization"] = f"Bearer {auth_token}"
        elif username is not None:
            creds = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {creds}"
        self._conn: http.client.HTTPConnection | None = None
        self._ssl: ssl.SSLContext | None = None
        if (ca_file or client_cert) and not self.https:
            raise ValueError(f"a CA file or client certificate needs an https:// endpoint, not {url!r}")
        if self.https:
            self._ssl = ssl.create_default_context(cafile=ca_file or None)
            self._ssl.minimum_version = ssl.TLSVersion.TLSv1_2
            if client_cert:
                self._ssl.load_cert_chain(client_cert, client_key or None)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ssl)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def post(self, body: bytes) -> None:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", self.path, body=body, headers=self.headers)
                resp = conn.getresponse()
                text = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()  # a kept-alive connection the server closed; try a fresh one
                if attempt == 2:
                    raise SenderError(f"POST {self.url} failed: {exc}") from exc
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise SenderError(f"POST {self.url} failed: {exc}") from exc
            if resp.status >= 300:
                raise SenderError(f"POST {self.url}: HTTP {resp.status} {text[:200]!r}")
            return

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
