"""No password, token, JWT or session id in any log line, at DEBUG, whatever the client sends:
right and wrong credentials on every route family, the sign-in form, a malformed Authorization
header (aiohttp's parser quotes the bad line in its error), and gRPC metadata."""

from __future__ import annotations

import logging
import socket
import time

import grpc
import pytest
import requests

from conftest import RunningAllInOne
from security.creds import (
    AUDIENCE, ISSUER, PASSWORDS, READ_TOKEN, WRITE_TOKEN, WRONG_TOKEN, Keys, basic, bearer, write_htpasswd, write_tokens,
)
from spyglass.codecs.proto.jaeger.api_v2 import query_pb2, query_pb2_grpc


def _raw_request(port: int, header_line: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /api/services HTTP/1.1\r\nHost: x\r\n" + header_line + b"\r\n\r\n")
        try:
            sock.recv(4096)
        except OSError:
            pass


def _grpc(port: int, authorization: str) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        try:
            query_pb2_grpc.QueryServiceStub(ch).GetServices(query_pb2.GetServicesRequest(),
                                                           metadata=(("authorization", authorization),), timeout=5)
        except grpc.RpcError:
            pass


def _exercise(aio: RunningAllInOne, credentials: list[str], form: dict[str, str]) -> list[str]:
    """Every way a credential reaches the server; returns the session ids handed out."""
    q = aio.url("query_http", "")
    for value in credentials:
        for path in ("/api/services", "/api/v3/services", "/api/archive/" + "1" * 32, "/auth/me", "/search"):
            requests.get(q + path, headers={"Authorization": value}, timeout=10, allow_redirects=False)
        requests.post(aio.url("otlp_http", "/v1/traces"), data=b"{}", timeout=10,
                      headers={"Authorization": value, "Content-Type": "application/json"})
        _grpc(aio.ports["query_grpc"], value)
        _grpc(aio.ports["otlp_grpc"], value)
        _raw_request(aio.ports["query_http"], b"Authorization: " + value.encode() + b"\x01bad")
    s = requests.Session()
    s.post(q + "/auth/login", data=form, allow_redirects=False, timeout=10)
    s.post(q + "/auth/login", data={**form, "password": "wrong-" + form.get("password", ""), "token": WRONG_TOKEN},
           allow_redirects=False, timeout=10)
    sessions = [c.value for c in s.cookies if c.name == "spyglass_session"]
    s.get(q + "/api/services", timeout=10)
    s.post(q + "/auth/logout", timeout=10, allow_redirects=False)
    return sessions


@pytest.mark.parametrize("mode", ["basic", "bearer", "oidc"])
def test_no_credential_is_ever_logged(mode, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    keys = Keys()
    jwt_ok, jwt_expired = keys.token(), keys.token(exp=int(time.time()) - 3600)
    tokens_file = write_tokens(tmp_path / "tokens")
    settings = {
        "basic": {"query_auth_htpasswd_file": str(write_htpasswd(tmp_path / "htpasswd"))},
        "bearer": {"query_auth_tokens_file": str(tokens_file)},
        "oidc": {"query_auth_oidc_jwks": str(keys.write_jwks(tmp_path / "jwks.json")),
                 "query_auth_oidc_issuer": ISSUER, "query_auth_oidc_audience": AUDIENCE},
    }[mode]
    aio = RunningAllInOne(query_auth=mode, collector_auth="bearer", collector_auth_tokens_file=str(tokens_file),
                          log_level="debug", **settings)
    try:
        credentials = [basic("alice", PASSWORDS["alice"]), basic("alice", "wrong-guess-pw"), bearer(READ_TOKEN),
                       bearer(WRITE_TOKEN), bearer(WRONG_TOKEN), bearer(jwt_ok), bearer(jwt_expired)]
        form = ({"username": "alice", "password": PASSWORDS["alice"]} if mode == "basic"
                else {"token": jwt_ok if mode == "oidc" else READ_TOKEN})
        sessions = _exercise(aio, credentials, form)
    finally:
        aio.close()
    assert sessions, "the sign-in did not hand out a session"
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "refused" in logged  # the refusals were logged, so the check below looks at real lines
    secrets = [*PASSWORDS.values(), "wrong-guess-pw", READ_TOKEN, WRITE_TOKEN, WRONG_TOKEN, jwt_ok, jwt_expired,
               *sessions, basic("alice", PASSWORDS["alice"]).split()[1]]
    for secret in secrets:
        assert secret not in logged, f"a credential reached the log ({secret[:6]}...)"
        assert secret[:12] not in logged


def test_redacting_formatter_scrubs_what_a_library_might_log():
    from spyglass.security.redact import RedactingFormatter

    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad request %s: %s", (
        "Authorization: Bearer " + READ_TOKEN, {"password": "hunter2hunter2"}), None)
    text = RedactingFormatter().format(record)
    assert READ_TOKEN not in text and "hunter2hunter2" not in text and "***" in text
