"""The ``--multi-tenancy.*`` flags, parsed once into a checked ``TenancyConfig``.

Tenant names are restricted to ``[A-Za-z0-9][A-Za-z0-9_-]{0,63}``: a tenant names a
directory (sqlite), a database (clickhouse) and a metric label, so anything that could climb
out of a directory, need quoting in SQL or blow up a label set is refused up front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ANY_TENANT = "*"  # in --multi-tenancy.ingest-rate: every tenant not named


def valid_tenant(name: str) -> bool:
    return bool(TENANT_NAME.match(name))


def _pairs(flag: str, text: str) -> dict[str, str]:
    """``a=1,b=2`` -> {"a": "1", "b": "2"}; a bad entry is one line naming the flag."""
    out: dict[str, str] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise ValueError(f"--{flag}: {item!r} is not TENANT=VALUE")
        if name != ANY_TENANT and not valid_tenant(name):
            raise ValueError(f"--{flag}: {name!r} is not a valid tenant name (letters, digits, _ and -, at most 64)")
        if name in out:
            raise ValueError(f"--{flag}: tenant {name!r} given twice")
        out[name] = value
    return out


@dataclass(slots=True)
class TenancyConfig:
    """``enabled`` off: every request is tenant ``""`` and nothing else here applies."""

    enabled: bool = False
    header: str = "x-tenant"
    tenants: frozenset[str] = frozenset()  # empty: any valid tenant name
    retention_seconds: dict[str, float] = field(default_factory=dict)
    ingest_rate: dict[str, float] = field(default_factory=dict)  # spans/s; "*" = the others

    @classmethod
    def parse(cls, enabled: bool, header: str, tenants: str, retention: str = "", ingest_rate: str = "") -> TenancyConfig:
        from spyglass.gocompat.godur import parse_duration

        header = header.strip().lower()
        if enabled and not re.match(r"^[a-z0-9!#$%&'*+.^_`|~-]+$", header):
            raise ValueError(f"--multi-tenancy.header: {header!r} is not an HTTP header name")
        names = [t.strip() for t in tenants.split(",") if t.strip()]
        for name in names:
            if not valid_tenant(name):
                raise ValueError(f"--multi-tenancy.tenants: {name!r} is not a valid tenant name "
                                 "(letters, digits, _ and -, at most 64, not starting with _ or -)")
        known = frozenset(names)
        keep: dict[str, float] = {}
        for name, text in _pairs("multi-tenancy.retention", retention).items():
            if name == ANY_TENANT:
                raise ValueError("--multi-tenancy.retention: name tenants (the backend's retention flag is the default)")
            try:
                seconds = parse_duration(text) / 1e9
            except ValueError as exc:
                raise ValueError(f"--multi-tenancy.retention: {name}: {exc}") from None
            if seconds < 0:
                raise ValueError(f"--multi-tenancy.retention: {name}: must not be negative")
            keep[name] = seconds
        rates: dict[str, float] = {}
        for name, text in _pairs("multi-tenancy.ingest-rate", ingest_rate).items():
            try:
                rate = float(text)
            except ValueError:
                raise ValueError(f"--multi-tenancy.ingest-rate: {name}: {text!r} is not a number of spans per second") from None
            if not rate > 0:
                raise ValueError(f"--multi-tenancy.ingest-rate: {name}: must be above 0")
            rates[name] = rate
        if known:
            for flag, names_given in (("retention", keep), ("ingest-rate", rates)):
                unknown = sorted(set(names_given) - known - {ANY_TENANT})
                if unknown:
                    raise ValueError(f"--multi-tenancy.{flag}: {', '.join(unknown)} not in --multi-tenancy.tenants")
        return cls(enabled=enabled, header=header, tenants=known, retention_seconds=keep, ingest_rate=rates)

    @classmethod
    def from_settings(cls, settings: Any) -> TenancyConfig:
        return cls.parse(settings.multi_tenancy_enabled, settings.multi_tenancy_header, settings.multi_tenancy_tenants,
                         settings.multi_tenancy_retention, settings.multi_tenancy_ingest_rate)
