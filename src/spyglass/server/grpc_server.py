"""A grpc.aio server on one host and port, with health checking and reflection."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from spyglass.server.base import Listener
from spyglass.server.limits import ConnectionLimits, grpc_options
from spyglass.server.tls import ServerTls

# Jaeger's collector accepts gRPC messages up to 4 MiB; we allow more for large batches.
DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024

Registration = Callable[[grpc.aio.Server], None]


class GrpcServer(Listener):
    """``registrations`` add servicers to the server; ``service_names`` are the full names
    announced by reflection and reported SERVING by the health service; with ``tls`` the
    port serves TLS only (certificates reloaded when their files change)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        registrations: Iterable[Registration],
        service_names: Iterable[str] = (),
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
        interceptors: Iterable[grpc.aio.ServerInterceptor] = (),
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.registrations = list(registrations)
        self.service_names = list(service_names)
        self.max_message_bytes = max_message_bytes
        self.interceptors = list(interceptors)
        self.limits = limits or ConnectionLimits()
        self.tls: ServerTls | None = None
        self._server: grpc.aio.Server | None = None
        self.reuse_port = False  # collector workers share the port (SO_REUSEPORT); else a clash is an error

    async def start(self) -> None:
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.so_reuseport", 1 if self.reuse_port else 0),
            *grpc_options(self.limits),
        ]
        server = grpc.aio.server(
            options=options,
            interceptors=self.interceptors or None,
            maximum_concurrent_rpcs=self.limits.max_concurrent_rpcs,
        )
        for register in self.registrations:
            register(server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for service in ["", *self.service_names]:
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            [*self.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            server,
        )
        address = f"{self.host}:{self.port}"
        if self.tls is not None:
            bound = server.add_secure_port(address, self.tls.grpc_credentials())
        else:
            bound = server.add_insecure_port(address)
        if bound == 0:
            raise OSError(f"{self.name}: cannot bind {self.host}:{self.port}")
        self.port = bound
        await server.start()
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=5)
            self._server = None
