"""Which role each route needs: read (query), write (ingest), admin (archive, sampling config).

``None`` means the route is open: health checking, reflection, the sampling strategies tracers
poll (open in Jaeger too; they hold nothing secret and SDKs send no credentials), and the UI's
static files and sign-in page. Everything not listed needs the listener's default role, so a route
added later is closed until someone decides otherwise.
"""

from __future__ import annotations

from spyglass.security.principal import ADMIN, READ, WRITE

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PAGE = "page"  # a UI page: the signed-in user must have read; a browser without a session is sent to sign in

_OPEN_GRPC_PREFIXES = ("/grpc.health.", "/grpc.reflection.", "/jaeger.api_v2.SamplingManager/")
_ADMIN_GRPC = ("/jaeger.api_v2.QueryService/ArchiveTrace",)


def _collapse(path: str) -> str:
    """``path`` with runs of ``/`` made one, so ``//api/...`` is judged as the ``/api/...`` a
    lenient router might take it for."""
    while "//" in path:
        path = path.replace("//", "/")
    return path


def query_http_role(method: str, path: str) -> str | None:
    """The role a request to the query HTTP port needs; ``path`` is below the base path."""
    path = _collapse(path)
    if path == "/api" or path.startswith("/api/"):
        if method not in SAFE_METHODS and path.startswith(("/api/archive/", "/api/sampling")):
            return ADMIN
        return READ  # every other /api route reads (POST /api/transform only converts the upload)
    if path.startswith("/static/") or path == "/favicon.ico":
        return None
    return PAGE


def ingest_http_role(method: str, path: str) -> str | None:
    """The role a request to a receiver's HTTP port (14268, 4318, 9411) needs."""
    path = _collapse(path)
    if path == "/api/sampling" or path.startswith("/api/sampling/"):
        return None if method in SAFE_METHODS else ADMIN
    return WRITE


def grpc_role(method: str, default: str) -> str | None:
    """The role of a gRPC ``/package.Service/Method``; ``default`` is the listener's (read on the
    query port, write on the receivers')."""
    if method.startswith(_OPEN_GRPC_PREFIXES):
        return None
    if method in _ADMIN_GRPC:
        return ADMIN
    return default
