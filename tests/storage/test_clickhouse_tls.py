"""``--clickhouse.tls.*`` against Debian's clickhouse-server 18.16 serving its native
protocol over TLS (``<tcp_port_secure>`` with an ``<openSSL><server>`` section) and
requiring a client certificate (``verificationMode strict``): spans written by a collector
through the secure port are read back by the query API; a wrong CA, no client certificate
or a plain client stop start-up with one clear line."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import clickhouse_servers
from conftest import RunningAllInOne
from tls_certs import Pki, make_pki

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def secure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Pki]]:
    root = tmp_path_factory.mktemp("ch-tls")
    pki = make_pki(root / "pki")
    port = clickhouse_servers._free_port()
    extra = f"""<tcp_port_secure>{port}</tcp_port_secure>
  <openSSL><server>
    <certificateFile>{pki.server.cert}</certificateFile><privateKeyFile>{pki.server.key}</privateKeyFile>
    <caConfig>{pki.ca}</caConfig><verificationMode>strict</verificationMode>
    <loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions>
    <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols><preferServerCiphers>true</preferServerCiphers>
  </server></openSSL>"""
    node = clickhouse_servers._start_with_port(root / "node", clickhouse_servers._free_port(), extra)
    yield port, pki
    node.stop()


def tls_options(port: int, pki: Pki, **kw: Any) -> dict[str, Any]:
    return {
        "storage": "clickhouse", "clickhouse_addresses": f"127.0.0.1:{port}",
        "clickhouse_database": clickhouse_servers.fresh_database(), "clickhouse_timeout": "10s",
        "clickhouse_tls_enabled": True, "clickhouse_tls_ca": pki.ca,
        "clickhouse_tls_cert": pki.client.cert, "clickhouse_tls_key": pki.client.key, **kw,
    }


def test_spans_go_through_the_secure_native_port(secure_server: tuple[int, Pki]) -> None:
    port, pki = secure_server
    running = RunningAllInOne(**tls_options(port, pki))
    try:
        body = json.dumps({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "ch-tls"}}]},
                           "scopeSpans": [{"spans": [{"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "op",
                                                      "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 1000)}]}]}]}).encode()
        request = urllib.request.Request(running.url("otlp_http", "/v1/traces"), body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(running.url("query_http", "/api/traces/" + "ab" * 16), timeout=10) as answer:
                    if json.loads(answer.read())["data"][0]["spans"]:
                        break
            except urllib.error.HTTPError:
                pass
            assert time.monotonic() < deadline, "the span was not stored through TLS"
            time.sleep(0.2)
    finally:
        running.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"clickhouse_tls_ca": "other"}, "certificate verify failed"),
        ({"clickhouse_tls_cert": "", "clickhouse_tls_key": ""}, "clickhouse at 127.0.0.1"),
        ({"clickhouse_tls_enabled": False, "clickhouse_tls_ca": "", "clickhouse_tls_cert": "", "clickhouse_tls_key": ""},
         "clickhouse at 127.0.0.1"),
    ],
    ids=["wrong-ca", "no-client-certificate", "plain-client"],
)
def test_bad_tls_to_clickhouse_stops_start_up_with_one_line(secure_server: tuple[int, Pki], change: dict[str, Any],
                                                           reason: str) -> None:
    from spyglass.cmd.all_in_one import StartupError

    port, pki = secure_server
    if change.get("clickhouse_tls_ca") == "other":
        change = {**change, "clickhouse_tls_ca": pki.other_ca}
    with pytest.raises(StartupError) as err:
        RunningAllInOne(**tls_options(port, pki, **change))
    assert reason in str(err.value)
    assert "\n" not in str(err.value)
