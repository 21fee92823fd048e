"""The query side: the query service (aggregation, archive fallback, adjusters) and the
HTTP APIs built on it (``spyglass.query.http_api``)."""

from spyglass.query.service import ArchiveNotConfiguredError, QueryService, TraceNotFoundError

__all__ = ["ArchiveNotConfiguredError", "QueryService", "TraceNotFoundError"]
