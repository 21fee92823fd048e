"""Multi-tenancy (Jaeger's ``--multi-tenancy.*``): which tenant a request belongs to, the
per-tenant ingest limits, and the routing of spans and queries to each tenant's store.

* ``config``: the flags, parsed and checked once.
* ``resolve``: the tenant of one request (bound credential, else header) or a clear refusal.
* ``ratelimit``: per-tenant token buckets for ingest.
* ``gate``: what receivers call (resolve, admit, stamp spans); its Prometheus metrics.
* ``web`` / ``rpc``: the same for aiohttp and gRPC, answering 401/403/429 and their codes.
* ``storage``: one store per tenant behind any backend, and the writer that routes to them.
"""

from spyglass.tenancy.config import TenancyConfig
from spyglass.tenancy.resolve import TenantError, TenantInvalid, TenantMissing, TenantRefused

__all__ = ["TenancyConfig", "TenantError", "TenantInvalid", "TenantMissing", "TenantRefused"]
