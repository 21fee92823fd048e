"""Instrumentation for common libraries; each module is independent and imports its
library only when used: ``wsgi``, ``asgi``, ``http_clients`` (requests, httpx, urllib),
``dbapi``, ``grpc`` (interceptors) and ``logging`` (log correlation)."""
