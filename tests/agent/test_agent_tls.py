"""``--reporter.grpc.tls.*``: the agent forwards to a collector whose gRPC port serves
mutual TLS (``--collector.grpc.tls.*`` with a client CA), and asks it for sampling
strategies over the same channel. With a wrong CA nothing is stored: the batch is retried,
then dropped and counted, and the agent keeps running."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from conftest import RunningAllInOne
from agent.test_agent import dropped, packets, send_udp, start_agent, until
from tls_certs import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def mtls_collector(pki: Pki) -> RunningAllInOne:
    return RunningAllInOne(collector_grpc_tls_enabled=True, collector_grpc_tls_cert=pki.server.cert,
                           collector_grpc_tls_key=pki.server.key, collector_grpc_tls_client_ca=pki.ca,
                           sampling_default_sampling_probability=0.5)


def reporter_tls(pki: Pki, **kw: Any) -> dict[str, Any]:
    return {"reporter_grpc_tls_enabled": True, "reporter_grpc_tls_ca": pki.ca, "reporter_grpc_tls_cert": pki.client.cert,
            "reporter_grpc_tls_key": pki.client.key, **kw}


async def test_agent_forwards_over_mutual_tls(pki: Pki) -> None:
    import aiohttp

    collector = await asyncio.to_thread(mtls_collector, pki)
    agent = await start_agent(f"localhost:{collector.ports['collector_grpc']}", **reporter_tls(pki))
    try:
        send_udp(agent.ports["agent_jaeger_compact"], packets(2, per_packet=3, first_trace=500))
        reader = collector.app.storage.trace_reader()
        await until(lambda: all(len(reader.get_trace(500 + i)) == 3 for i in range(2)))
        async with aiohttp.ClientSession() as http:  # sampling strategies come through the TLS channel too
            async with http.get(f"http://127.0.0.1:{agent.ports['agent_sampling']}/sampling?service=shop") as resp:
                assert resp.status == 200
                assert (await resp.json())["probabilisticSampling"]["samplingRate"] == 0.5
    finally:
        await agent.stop()
        await asyncio.to_thread(collector.close)


async def test_wrong_ca_stores_nothing_and_counts_the_drop(pki: Pki) -> None:
    collector = await asyncio.to_thread(mtls_collector, pki)
    agent = await start_agent(f"127.0.0.1:{collector.ports['collector_grpc']}",
                              **reporter_tls(pki, reporter_grpc_tls_ca=pki.other_ca), reporter_grpc_retry_max=1)
    try:
        send_udp(agent.ports["agent_jaeger_compact"], packets(1, per_packet=2, first_trace=900))
        await until(lambda: dropped(agent, "send_failed") == 2)
        assert collector.app.storage.trace_reader().get_trace(900) == []
    finally:
        await agent.stop()
        await asyncio.to_thread(collector.close)


def test_bad_reporter_tls_flags_are_clear_errors(pki: Pki, tmp_path: Path) -> None:
    from spyglass.cmd.agent import Agent
    from spyglass.config import Settings

    base = {"reporter_grpc_host_port": "127.0.0.1:14250"}
    with pytest.raises(ValueError, match="--reporter.grpc.tls.cert and --reporter.grpc.tls.key go together"):
        Agent(Settings.from_env({}, **base, reporter_grpc_tls_enabled=True, reporter_grpc_tls_cert=pki.client.cert))
    with pytest.raises(ValueError, match=f"--reporter.grpc.tls.ca: cannot read {tmp_path}/missing.crt"):
        Agent(Settings.from_env({}, **base, reporter_grpc_tls_enabled=True, reporter_grpc_tls_ca=str(tmp_path / "missing.crt")))
    with pytest.raises(ValueError, match="skip-host-verify: not available for gRPC"):
        Agent(Settings.from_env({}, **base, reporter_grpc_tls_enabled=True, reporter_grpc_tls_skip_host_verify=True))
