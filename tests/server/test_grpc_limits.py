"""gRPC listeners get the same bounds as HTTP ones (issue 17 item 1), as grpc-core channel
arguments: a connection cap, an idle timeout and a cap on calls in progress."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from spyglass.server import GrpcServer
from spyglass.server.limits import ConnectionLimits


async def check(channel: grpc.aio.Channel) -> grpc.StatusCode:
    try:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        return exc.code()


def channel(port: int) -> grpc.aio.Channel:
    # a subchannel pool of its own, so each channel is its own connection
    return grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])


async def test_connections_over_the_cap_are_refused_and_idle_ones_closed() -> None:
    server = GrpcServer("g", "127.0.0.1", 0, [], limits=ConnectionLimits(max_connections=2, idle_timeout=1.0))
    await server.start()
    channels = [channel(server.port) for _ in range(3)]
    try:
        assert [await check(c) for c in channels] == [grpc.StatusCode.OK, grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE]
        # the idle timeout closes the two open connections (GOAWAY), freeing room
        for _ in range(100):
            if channels[0].get_state() == grpc.ChannelConnectivity.IDLE:
                break
            await asyncio.sleep(0.05)
        assert channels[0].get_state() == grpc.ChannelConnectivity.IDLE
        channels.append(channel(server.port))
        assert await check(channels[-1]) == grpc.StatusCode.OK
    finally:
        for c in channels:
            await c.close()
        await server.stop()
