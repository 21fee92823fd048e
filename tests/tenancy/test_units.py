"""The parts of tenancy on their own: flag parsing, the resolution rule (header, bound
credential), the token buckets, and the buffer encoding that carries tenants."""

from __future__ import annotations

import pytest

from spyglass.collector.buffer import encoding
from spyglass.model import Resource, Span
from spyglass.security.principal import Principal, bind_principal
from spyglass.storage.api.tenants import escape_tenant
from spyglass.tenancy import TenancyConfig, TenantInvalid, TenantMissing, TenantRefused
from spyglass.tenancy.ratelimit import RateLimits
from spyglass.tenancy.resolve import resolve_tenant
from spyglass.tenancy.sampling import qualify, unqualify


def test_flags_parse_and_bad_values_name_the_flag() -> None:
    c = TenancyConfig.parse(True, "X-Tenant", "a, b,c", "a=24h,b=168h", "a=1000,*=50")
    assert c.header == "x-tenant" and c.tenants == {"a", "b", "c"}
    assert c.retention_seconds == {"a": 86_400, "b": 604_800} and c.ingest_rate == {"a": 1000, "*": 50}
    for args, flag in [((True, "x-tenant", "a/b"), "tenants"), ((True, "x tenant", ""), "header"),
                       ((True, "x-tenant", "a", "z=1h"), "retention"), ((True, "x-tenant", "", "a=1 day"), "retention"),
                       ((True, "x-tenant", "", "", "a=0"), "ingest-rate"), ((True, "x-tenant", "", "", "a"), "ingest-rate"),
                       ((True, "x-tenant", "", "a=1h,a=2h"), "retention")]:
        with pytest.raises(ValueError, match=f"--multi-tenancy.{flag}"):
            TenancyConfig.parse(*args)


def test_off_means_tenant_empty_whatever_is_sent() -> None:
    assert resolve_tenant(TenancyConfig(), ["anything"]) == ""
    assert resolve_tenant(TenancyConfig(), []) == ""


def test_header_rules() -> None:
    open_ = TenancyConfig(enabled=True)
    listed = TenancyConfig(enabled=True, tenants=frozenset({"a", "b"}))
    assert resolve_tenant(open_, ["zeta-1"]) == "zeta-1"
    assert resolve_tenant(listed, ["a", "a"]) == "a"
    with pytest.raises(TenantMissing, match="x-tenant"):
        resolve_tenant(listed, [])
    with pytest.raises(TenantMissing):
        resolve_tenant(listed, [" "])
    with pytest.raises(TenantRefused, match="unknown tenant 'c'"):
        resolve_tenant(listed, ["c"])
    with pytest.raises(TenantInvalid):
        resolve_tenant(listed, ["a", "b"])
    for bad in ("../etc", "a b", "_x", "x" * 65, "é"):
        with pytest.raises(TenantInvalid):
            resolve_tenant(open_, [bad])


def test_a_bound_credential_decides_and_a_contradicting_header_is_refused() -> None:
    listed = TenancyConfig(enabled=True, tenants=frozenset({"a", "b"}))
    bind_principal(Principal("svc", "a", frozenset({"write"})))
    try:
        assert resolve_tenant(listed, []) == "a"
        assert resolve_tenant(listed, ["a"]) == "a"
        with pytest.raises(TenantRefused, match="bound to another tenant"):
            resolve_tenant(listed, ["b"])
    finally:
        bind_principal(None)
    bind_principal(Principal("stray", "c", frozenset({"read"})))
    try:
        with pytest.raises(TenantRefused):
            resolve_tenant(listed, [])
    finally:
        bind_principal(None)
    bind_principal(Principal("admin", None, frozenset({"admin"})))
    try:
        assert resolve_tenant(listed, ["b"]) == "b"  # an unbound credential uses the header
    finally:
        bind_principal(None)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_takes_whole_requests_refills_and_gives_back() -> None:
    clock = FakeClock()
    limits = RateLimits({"a": 10, "*": 2}, clock)
    assert limits.take("a", 6) and not limits.take("a", 5)  # 4 left: the 5 are refused whole
    assert limits.take("a", 4) and not limits.take("a", 1)
    clock.now += 0.5
    assert limits.take("a", 5) and not limits.take("a", 1)
    limits.give_back("a", 3)
    assert limits.take("a", 3)
    assert limits.take("other", 2) and not limits.take("other", 1)  # "*"
    assert limits.take("b", 2)  # each tenant under "*" has a bucket of its own
    unlimited = RateLimits({"a": 1})
    assert all(unlimited.take("b", 10_000) for _ in range(10))


def test_a_request_larger_than_the_bucket_passes_only_a_full_bucket_and_leaves_debt() -> None:
    clock = FakeClock()
    limits = RateLimits({"a": 10}, clock)
    assert limits.take("a", 25)  # full bucket: admitted, 15 tokens of debt
    clock.now += 2.0
    assert not limits.take("a", 10)  # 5 tokens now
    clock.now += 0.5
    assert limits.take("a", 10)


def spans(tenant: str, trace: int) -> list[Span]:
    r = Resource("svc")
    return [Span(trace, i, "op", 1_700_000_000_000_000_000 + i, 10, r, tenant=tenant) for i in (1, 2)]


def test_buffer_encoding_carries_tenants_and_reads_the_old_format() -> None:
    plain = spans("", 1)
    old = encoding.encode_batch(plain)
    assert old.startswith(encoding.MAGIC)  # tenancy off: byte for byte the version-1 format
    assert encoding.decode_batch(old) == plain
    mixed = spans("a", 1) + spans("b", 1) + spans("", 2)
    data = encoding.encode_batch(mixed)
    assert data.startswith(encoding.MAGIC_TENANTS)
    back = encoding.decode_batch(data)
    assert sorted((s.tenant, s.trace_id, s.span_id) for s in back) == sorted((s.tenant, s.trace_id, s.span_id) for s in mixed)
    assert back == sorted(mixed, key=lambda s: ["a", "b", ""].index(s.tenant))
    with pytest.raises(encoding.BatchDecodeError):
        encoding.decode_batch(encoding.MAGIC_TENANTS + b"\x91\x92\xa1a\x01")


def test_names_of_tenant_databases_and_sampling_keys_are_one_to_one() -> None:
    assert escape_tenant("a-b") != escape_tenant("a_b") != escape_tenant("a_2d")
    assert escape_tenant("Acme01") == "Acme01"
    assert unqualify(qualify("a", "shop")) == ("a", "shop") and qualify("", "shop") == "shop"
    assert unqualify("shop") == ("", "shop")


def test_an_open_tenant_list_stops_growing_at_the_cap() -> None:
    from spyglass.tenancy.gate import TenancyGate

    gate = TenancyGate(TenancyConfig(enabled=True))
    gate.max_open_tenants = 3
    assert [gate.resolve([t], "test") for t in ("a", "b", "c", "a")] == ["a", "b", "c", "a"]
    with pytest.raises(TenantRefused, match="--multi-tenancy.tenants"):
        gate.resolve(["d"], "test")
    listed = TenancyGate(TenancyConfig(enabled=True, tenants=frozenset({"a", "b"})))
    listed.max_open_tenants = 1
    assert listed.resolve(["a"], "test") == "a" and listed.resolve(["b"], "test") == "b"  # a list is its own cap
