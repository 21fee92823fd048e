"""Listening servers shared by every component: HTTP (aiohttp), gRPC (grpc.aio), and the
``Listener`` contract the process runner starts and stops."""

from spyglass.server.base import Listener
from spyglass.server.grpc_server import GrpcServer
from spyglass.server.http_server import HttpServer

__all__ = ["GrpcServer", "HttpServer", "Listener"]
