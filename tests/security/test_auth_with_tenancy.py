"""Authentication and multi-tenancy together, end to end on a running all-in-one: a token bound to a
tenant writes into and reads from that tenant only, with no tenant header at all; a header naming
another tenant is refused; gRPC and HTTP, ingest and query alike."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
import requests

from conftest import RunningAllInOne
from spyglass.codecs.proto.jaeger.api_v3 import query_service_pb2 as v3, query_service_pb2_grpc as v3_grpc

ACME_W, GLOBEX_W = "acme-write-token-0123456789", "globex-write-token-0123456789"
ACME_R, GLOBEX_R = "acme-read-token-0123456789", "globex-read-token-0123456789"


@pytest.fixture(scope="module")
def aio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAllInOne]:
    d = tmp_path_factory.mktemp("tenancy-auth")
    (d / "ingest").write_text(f"{ACME_W} acme\n{GLOBEX_W} globex\n")
    (d / "query").write_text(f"{ACME_R} acme\n{GLOBEX_R} globex\n")
    running = RunningAllInOne(multi_tenancy_enabled=True, multi_tenancy_tenants="acme,globex",
                              collector_auth="bearer", collector_auth_tokens_file=str(d / "ingest"),
                              query_auth="bearer", query_auth_tokens_file=str(d / "query"))
    yield running
    running.close()


def _send(aio: RunningAllInOne, token: str, service: str, headers: dict[str, str] | None = None) -> int:
    now = time.time_ns()
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": [{"traceId": "%032x" % (hash(service) & (2**128 - 1) or 1), "spanId": "1" * 16,
                                       "name": "op", "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000)}]}]}]}
    r = requests.post(aio.url("otlp_http", "/v1/traces"), json=body, timeout=10,
                      headers={"Authorization": f"Bearer {token}", **(headers or {})})
    return r.status_code


def _services(aio: RunningAllInOne, token: str) -> list[str]:
    r = requests.get(aio.url("query_http", "/api/services"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"] or []


def test_token_tenant_scopes_ingest_and_query(aio):
    assert _send(aio, ACME_W, "acme-svc") == 200
    assert _send(aio, GLOBEX_W, "globex-svc") == 200
    assert _send(aio, ACME_W, "sneaky", {"x-tenant": "globex"}) == 403  # header contradicts the token
    deadline = time.time() + 10
    while not ("acme-svc" in _services(aio, ACME_R) and "globex-svc" in _services(aio, GLOBEX_R)):
        assert time.time() < deadline, "spans not stored"
        time.sleep(0.05)
    assert _services(aio, ACME_R) == ["acme-svc"]
    assert _services(aio, GLOBEX_R) == ["globex-svc"]
    r = requests.get(aio.url("query_http", "/api/services"), timeout=10,
                     headers={"Authorization": f"Bearer {ACME_R}", "x-tenant": "globex"})
    assert r.status_code == 403 and "globex-svc" not in r.text
    with grpc.insecure_channel(f"127.0.0.1:{aio.ports['query_grpc']}") as ch:
        stub = v3_grpc.QueryServiceStub(ch)
        got = stub.GetServices(v3.GetServicesRequest(), metadata=(("authorization", f"Bearer {GLOBEX_R}"),), timeout=10)
        assert list(got.services) == ["globex-svc"]
        with pytest.raises(grpc.RpcError) as info:
            stub.GetServices(v3.GetServicesRequest(), metadata=(("x-tenant", "acme"),), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def _tempo_services(aio: RunningAllInOne, port: str, path: str, token: str | None) -> requests.Response:
    now = int(time.time())
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(aio.url(port, path), params={"q": "{}", "start": now - 3600, "end": now + 60, "limit": 50},
                        headers=headers, timeout=10)


@pytest.mark.parametrize("port,path", [("tempo_api", "/api/search"), ("query_http", "/api/tempo/search")])
def test_tempo_api_is_authenticated_and_scoped_to_the_token_tenant(aio, port, path):
    assert _send(aio, ACME_W, "acme-tempo") == 200
    assert _send(aio, GLOBEX_W, "globex-tempo") == 200
    roots: set[str] = set()
    deadline = time.time() + 10
    while "acme-tempo" not in roots:
        assert time.time() < deadline, "acme's trace not found through Tempo's API"
        r = _tempo_services(aio, port, path, ACME_R)
        assert r.status_code == 200, r.text
        roots = {t["rootServiceName"] for t in r.json()["traces"]}
        time.sleep(0.05)
    assert not any(name.startswith("globex") for name in roots), roots
    refused = _tempo_services(aio, port, path, None)
    assert refused.status_code == 401 and "acme" not in refused.text
    assert _tempo_services(aio, port, path, "not-a-token").status_code == 401
