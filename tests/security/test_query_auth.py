"""The query port's routes (HTTP /api, /api/v3, the UI's data calls; gRPC api_v2 and api_v3)
under each ``--query.auth`` mode, against a running all-in-one: missing, wrong, expired and forged
credentials get 401 (UNAUTHENTICATED) with nothing of the data in the answer, a missing role 403
(PERMISSION_DENIED), the right credentials 200."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests

from conftest import RunningAllInOne
from security.creds import (
    ADMIN_TOKEN, AUDIENCE, ISSUER, PASSWORDS, READ_TOKEN, WRITE_TOKEN, WRONG_TOKEN, Keys, basic, bearer,
    hs256_with_public_key, unsigned_token, write_htpasswd, write_tokens,
)
from spyglass.codecs.proto.jaeger.api_v2 import query_pb2, query_pb2_grpc
from spyglass.codecs.proto.jaeger.api_v3 import query_service_pb2 as v3, query_service_pb2_grpc as v3_grpc

SERVICE = "secret-service-name"
TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"

# Every read route of the query HTTP port, as (method, path).
READ_ROUTES = [
    ("GET", "/api/services"),
    ("GET", f"/api/services/{SERVICE}/operations"),
    ("GET", f"/api/operations?service={SERVICE}"),
    ("GET", f"/api/traces?service={SERVICE}&lookback=1h"),
    ("GET", f"/api/traces/{TRACE_ID}"),
    ("GET", "/api/dependencies?endTs=%d&lookback=3600000" % (time.time() * 1000)),
    ("GET", "/api/v3/services"),
    ("GET", f"/api/v3/operations?service={SERVICE}"),
    ("GET", f"/api/v3/traces/{TRACE_ID}"),
    ("GET", f"/api/sampling?service={SERVICE}"),
]
ARCHIVE = ("POST", f"/api/archive/{TRACE_ID}")


def _seed(aio: RunningAllInOne) -> None:
    """One span of ``SERVICE`` through OTLP/HTTP (the collector has no auth here)."""
    now = time.time_ns()
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": SERVICE}}]},
            "scopeSpans": [{"spans": [{"traceId": TRACE_ID, "spanId": "051581bf3cb55c13", "name": "GET /secret",
                                       "kind": 2, "startTimeUnixNano": str(now - 5_000_000), "endTimeUnixNano": str(now)}]}]}]}
    r = requests.post(aio.url("otlp_http", "/v1/traces"), json=body, timeout=10)
    assert r.status_code == 200, r.text
    deadline = time.time() + 10
    while time.time() < deadline:
        if SERVICE in aio.app.storage.trace_reader().get_services():
            return
        time.sleep(0.05)
    raise AssertionError("seed span not stored")


def _start(tmp_path: Path, **auth: Any) -> RunningAllInOne:
    aio = RunningAllInOne(archive_enabled=True, **auth)
    _seed(aio)
    return aio


def _http(aio: RunningAllInOne, route: tuple[str, str], authorization: str | None) -> requests.Response:
    method, path = route
    headers = {"Authorization": authorization} if authorization is not None else {}
    return requests.request(method, aio.url("query_http", path), headers=headers, timeout=10, allow_redirects=False)


def _assert_refused(r: requests.Response, status: int, challenge: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text[:200])
    assert SERVICE not in r.text and TRACE_ID not in r.text
    assert r.text == ("401 Unauthorized\n" if status == 401 else "403 Forbidden\n")
    if challenge is not None:
        assert r.headers["WWW-Authenticate"] == challenge


def _grpc_calls(aio: RunningAllInOne, authorization: str | None) -> dict[str, grpc.StatusCode]:
    """The status of one call of each query RPC family."""
    md = (("authorization", authorization),) if authorization is not None else None
    out: dict[str, grpc.StatusCode] = {}
    with grpc.insecure_channel(f"127.0.0.1:{aio.ports['query_grpc']}") as ch:
        v2 = query_pb2_grpc.QueryServiceStub(ch)
        v3s = v3_grpc.QueryServiceStub(ch)
        calls = {
            "v2.GetServices": lambda: v2.GetServices(query_pb2.GetServicesRequest(), metadata=md, timeout=10),
            "v2.GetTrace": lambda: list(v2.GetTrace(query_pb2.GetTraceRequest(trace_id=bytes.fromhex(TRACE_ID)),
                                                    metadata=md, timeout=10)),
            "v3.GetServices": lambda: v3s.GetServices(v3.GetServicesRequest(), metadata=md, timeout=10),
            "v3.GetTrace": lambda: list(v3s.GetTrace(v3.GetTraceRequest(trace_id=TRACE_ID), metadata=md, timeout=10)),
            "v2.ArchiveTrace": lambda: v2.ArchiveTrace(query_pb2.ArchiveTraceRequest(trace_id=bytes.fromhex(TRACE_ID)),
                                                       metadata=md, timeout=10),
        }
        for name, call in calls.items():
            try:
                result = call()
                if name == "v2.GetServices":
                    assert SERVICE in result.services
                out[name] = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                assert SERVICE not in (exc.details() or "")
                out[name] = exc.code()
    return out


# -- bearer ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bearer_aio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAllInOne]:
    d = tmp_path_factory.mktemp("bearer")
    aio = _start(d, query_auth="bearer", query_auth_tokens_file=str(write_tokens(d / "tokens")))
    yield aio
    aio.close()


@pytest.mark.parametrize("route", READ_ROUTES + [ARCHIVE], ids=lambda r: f"{r[0]} {r[1].split('?')[0][:40]}")
@pytest.mark.parametrize("authorization", [None, bearer(WRONG_TOKEN), "Bearer", "Basic " + "x" * 20,
                                           bearer(READ_TOKEN + "x"), bearer(READ_TOKEN[:-1])],
                         ids=["none", "wrong", "empty", "basic-scheme", "longer", "prefix"])
def test_bearer_refuses_bad_credentials(bearer_aio, route, authorization):
    _assert_refused(_http(bearer_aio, route, authorization), 401, 'Bearer realm="spyglass"')


@pytest.mark.parametrize("route", READ_ROUTES, ids=lambda r: f"{r[0]} {r[1].split('?')[0][:40]}")
def test_bearer_read_token_reads(bearer_aio, route):
    r = _http(bearer_aio, route, bearer(READ_TOKEN))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")


def test_bearer_roles(bearer_aio):
    _assert_refused(_http(bearer_aio, READ_ROUTES[0], bearer(WRITE_TOKEN)), 403)  # ingest-only token
    _assert_refused(_http(bearer_aio, ARCHIVE, bearer(READ_TOKEN)), 403)  # archive needs admin
    r = _http(bearer_aio, ARCHIVE, bearer(ADMIN_TOKEN))
    assert r.status_code == 200, r.text
    assert "bearer" in json.dumps(requests.get(bearer_aio.url("query_http", "/auth/me"),
                                              headers={"Authorization": bearer(READ_TOKEN)}).json())


def test_bearer_grpc(bearer_aio):
    assert set(_grpc_calls(bearer_aio, None).values()) == {grpc.StatusCode.UNAUTHENTICATED}
    assert set(_grpc_calls(bearer_aio, bearer(WRONG_TOKEN)).values()) == {grpc.StatusCode.UNAUTHENTICATED}
    assert set(_grpc_calls(bearer_aio, bearer(WRITE_TOKEN)).values()) == {grpc.StatusCode.PERMISSION_DENIED}
    read = _grpc_calls(bearer_aio, bearer(READ_TOKEN))
    assert read.pop("v2.ArchiveTrace") == grpc.StatusCode.PERMISSION_DENIED
    assert set(read.values()) == {grpc.StatusCode.OK}
    assert _grpc_calls(bearer_aio, bearer(ADMIN_TOKEN))["v2.ArchiveTrace"] == grpc.StatusCode.OK


def test_health_static_and_login_page_stay_open(bearer_aio):
    with grpc.insecure_channel(f"127.0.0.1:{bearer_aio.ports['query_grpc']}") as ch:
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    assert requests.get(bearer_aio.url("admin", "/"), timeout=10).status_code == 200
    assert requests.get(bearer_aio.url("query_http", "/static/favicon.svg"), timeout=10).status_code == 200
    page = requests.get(bearer_aio.url("query_http", "/login"), timeout=10)
    assert page.status_code == 200 and 'name="token"' in page.text and "<script" not in page.text
    # a UI page without a session: sent to sign in, the UI shell itself is not served
    r = requests.get(bearer_aio.url("query_http", "/search"), headers={"Accept": "text/html"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/login?next=")


def test_refusals_are_counted(bearer_aio):
    _http(bearer_aio, READ_ROUTES[0], None)
    metrics = requests.get(bearer_aio.url("admin", "/metrics"), timeout=10).text
    assert 'spyglass_auth_refused_total{reason="missing",server="query_http"}' in metrics


def test_tokens_file_is_reloaded(tmp_path):
    tokens = write_tokens(tmp_path / "tokens")
    aio = RunningAllInOne(query_auth="bearer", query_auth_tokens_file=str(tokens))
    try:
        assert _http(aio, READ_ROUTES[0], bearer(READ_TOKEN)).status_code == 200
        tokens.write_text(f"{ADMIN_TOKEN} - read,admin\n")  # the read token is revoked
        deadline = time.time() + 10
        while _http(aio, READ_ROUTES[0], bearer(READ_TOKEN)).status_code != 401:
            assert time.time() < deadline, "revoked token still accepted"
            time.sleep(0.2)
        assert _http(aio, READ_ROUTES[0], bearer(ADMIN_TOKEN)).status_code == 200
    finally:
        aio.close()


# -- basic -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_aio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAllInOne]:
    d = tmp_path_factory.mktemp("basic")
    aio = _start(d, query_auth="basic", query_auth_htpasswd_file=str(write_htpasswd(d / "htpasswd")),
                 query_auth_max_failures=0)  # this module tries many wrong passwords on purpose
    yield aio
    aio.close()


@pytest.mark.parametrize("authorization", [
    None, basic("alice", "wrong"), basic("nobody", "alice-secret-pw"), basic("alice", ""),
    "Basic !!!notbase64", bearer(READ_TOKEN), "Basic " + __import__("base64").b64encode(b"alice").decode(),
], ids=["none", "wrong-password", "unknown-user", "empty-password", "garbage", "bearer-scheme", "no-colon"])
def test_basic_refuses_bad_credentials(basic_aio, authorization):
    for route in (READ_ROUTES[0], READ_ROUTES[6], ARCHIVE):
        _assert_refused(_http(basic_aio, route, authorization), 401, 'Basic realm="spyglass"')


def test_basic_users_and_roles(basic_aio):
    alice = basic("alice", PASSWORDS["alice"])
    for route in READ_ROUTES:
        assert _http(basic_aio, route, alice).status_code == 200, route
    _assert_refused(_http(basic_aio, ARCHIVE, alice), 403)
    _assert_refused(_http(basic_aio, READ_ROUTES[0], basic("bob", PASSWORDS["bob"])), 403)
    assert _http(basic_aio, ARCHIVE, basic("root", PASSWORDS["root"])).status_code == 200
    me = requests.get(basic_aio.url("query_http", "/auth/me"), headers={"Authorization": alice}).json()
    assert me == {"mode": "basic", "user": "alice", "tenant": "acme", "roles": ["read"]}


def test_basic_grpc(basic_aio):
    assert set(_grpc_calls(basic_aio, basic("alice", "nope")).values()) == {grpc.StatusCode.UNAUTHENTICATED}
    calls = _grpc_calls(basic_aio, basic("alice", PASSWORDS["alice"]))
    assert calls.pop("v2.ArchiveTrace") == grpc.StatusCode.PERMISSION_DENIED
    assert set(calls.values()) == {grpc.StatusCode.OK}


# -- oidc ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def oidc_aio(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[RunningAllInOne]:
    d = tmp_path_factory.mktemp("oidc")
    aio = _start(d, query_auth="oidc", query_auth_oidc_jwks=str(keys.write_jwks(d / "jwks.json")),
                 query_auth_oidc_issuer=ISSUER, query_auth_oidc_audience=AUDIENCE)
    yield aio
    aio.close()


def _bad_tokens(keys: Keys) -> dict[str, str]:
    now = int(time.time())
    return {
        "expired": keys.token(exp=now - 120),
        "not-yet-valid": keys.token(nbf=now + 600),
        "wrong-issuer": keys.token(iss="https://evil.example.test"),
        "wrong-audience": keys.token(aud="someone-else"),
        "no-exp": keys.token(exp=None),
        "alg-none": unsigned_token(),
        "hs256-with-public-key": hs256_with_public_key(keys),
        "stranger-key": keys.token(key=keys.other),
        "unknown-kid": keys.token(kid="nope"),
        "es256-header-rsa-kid": keys.token(alg="ES256", kid="rsa1"),
        "tampered": keys.token()[:-6] + "AAAAAA",
        "garbage": "not.a.jwt",
    }


def test_oidc_refuses_bad_tokens(oidc_aio, keys):
    for name, token in _bad_tokens(keys).items():
        for route in (READ_ROUTES[0], READ_ROUTES[6]):
            r = _http(oidc_aio, route, bearer(token))
            assert r.status_code == 401, (name, r.status_code)
            _assert_refused(r, 401, 'Bearer realm="spyglass"')
        assert set(_grpc_calls(oidc_aio, bearer(token)).values()) == {grpc.StatusCode.UNAUTHENTICATED}, name


def test_oidc_accepts_rs256_and_es256(oidc_aio, keys):
    for alg in ("RS256", "ES256"):
        token = bearer(keys.token(alg=alg))
        for route in READ_ROUTES:
            assert _http(oidc_aio, route, token).status_code == 200, (alg, route)
        me = requests.get(oidc_aio.url("query_http", "/auth/me"), headers={"Authorization": token}).json()
        assert me == {"mode": "oidc", "user": "carol", "tenant": "acme", "roles": ["read"]}
    # within the leeway, an expiry a few seconds ago still passes (clock skew between hosts)
    assert _http(oidc_aio, READ_ROUTES[0], bearer(keys.token(exp=int(time.time()) - 5))).status_code == 200


def test_oidc_roles_from_claim(oidc_aio, keys):
    _assert_refused(_http(oidc_aio, READ_ROUTES[0], bearer(keys.token(roles=["write"]))), 403)
    _assert_refused(_http(oidc_aio, ARCHIVE, bearer(keys.token())), 403)
    assert _http(oidc_aio, ARCHIVE, bearer(keys.token(roles="read admin"))).status_code == 200
    calls = _grpc_calls(oidc_aio, bearer(keys.token(roles=["write"])))
    assert set(calls.values()) == {grpc.StatusCode.PERMISSION_DENIED}


class _JwksServer:
    """A JWKS document served over HTTP on 127.0.0.1, counting fetches; ``doc`` can be swapped."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.fetches += 1
                body = json.dumps(outer.doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_oidc_jwks_url_cached_and_refetched_on_rotation(monkeypatch, keys):
    from spyglass.security import oidc

    monkeypatch.setattr(oidc, "MIN_REFETCH_S", 0.0)  # let the test rotate without waiting 30 s
    old = Keys()
    jwks = _JwksServer(old.jwks())
    aio = RunningAllInOne(query_auth="oidc", query_auth_oidc_jwks=jwks.url, query_auth_oidc_issuer=ISSUER,
                          query_auth_oidc_audience=AUDIENCE)
    try:
        for _ in range(5):
            assert _http(aio, READ_ROUTES[0], bearer(old.token())).status_code == 200
        assert jwks.fetches == 1  # cached
        # the identity provider rotates to new keys (same kid names): tokens signed with the new
        # keys fail until the set is fetched again, which an unknown signature does not trigger but
        # a new kid does
        jwks.doc = {"keys": [dict(k, kid=k["kid"] + "-v2") for k in keys.jwks()["keys"]]}
        assert _http(aio, READ_ROUTES[0], bearer(keys.token(kid="rsa1-v2"))).status_code == 200
        assert jwks.fetches == 2
        assert _http(aio, READ_ROUTES[0], bearer(old.token())).status_code == 401  # the old key is gone
    finally:
        aio.close()
        jwks.close()


# -- none ------------------------------------------------------------------------------------


def test_none_mode_stays_open(all_in_one):
    assert requests.get(all_in_one.url("query_http", "/api/services"), timeout=10).status_code == 200
    assert requests.get(all_in_one.url("query_http", "/auth/me"), timeout=10).json() == {"mode": "none"}


def test_wrong_passwords_are_throttled_per_address(tmp_path):
    aio = RunningAllInOne(query_auth="basic", query_auth_htpasswd_file=str(write_htpasswd(tmp_path / "h")),
                          query_auth_max_failures=3)
    try:
        alice = basic("alice", PASSWORDS["alice"])
        assert _http(aio, READ_ROUTES[0], alice).status_code == 200  # verified once: cached from now on
        for _ in range(3):
            assert _http(aio, READ_ROUTES[0], basic("root", "guess")).status_code == 401
        r = _http(aio, READ_ROUTES[0], basic("root", PASSWORDS["root"]))  # right, but checked no more
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and SERVICE not in r.text
        form = requests.post(aio.url("query_http", "/auth/login"), data={"username": "root", "password": "guess"},
                             allow_redirects=False, timeout=10)
        assert form.status_code == 429
        assert _grpc_calls(aio, basic("root", "guess"))["v2.GetServices"] == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _http(aio, READ_ROUTES[0], alice).status_code == 200  # a session already proven keeps working
        metrics = requests.get(aio.url("admin", "/metrics"), timeout=10).text
        assert 'spyglass_auth_refused_total{reason="throttled",server="query_http"}' in metrics
    finally:
        aio.close()


def test_throttle_window():
    from spyglass.security.throttle import FailureThrottle

    now = [0.0]
    t = FailureThrottle(max_failures=2, window_s=60, clock=lambda: now[0])
    t.failed("a")
    assert t.retry_after("a") == 0
    now[0] = 10
    t.failed("a")
    assert t.retry_after("a") == 50 and t.retry_after("b") == 0
    now[0] = 59
    assert t.retry_after("a") == 1
    now[0] = 60  # the first failure left the window: one of two allowed is left
    assert t.retry_after("a") == 0
