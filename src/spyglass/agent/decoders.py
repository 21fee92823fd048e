"""Transcoding in worker processes (``--agent.decoder-processes``), so the agent uses more
than one core.

Transcoding a Jaeger Thrift packet to api_v2 bytes is nearly all of the agent's CPU per
span (``bench/agent.py``), and under the GIL one process gets at most one core: at 50,000
spans/s that is most of a core, more than a shared machine gives one process. The agent's
process keeps the socket, the queues and the gRPC senders; its UDP receivers hand batches
of datagrams to a pool of worker processes, which transcode them with the same function
(``agent.encode.transcode_agent_message``) and send back, per datagram, the ``Packet``'s
parts or the text of its ``DecodeError``. A batch is one pickled list of byte strings each
way, so the agent's own cost is a memory copy per datagram. Workers are started with
``spawn`` (forking a process that runs gRPC threads is unsafe).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from spyglass.agent.encode import transcode_agent_message
from spyglass.agent.packet import Packet
from spyglass.codecs.errors import DecodeError
from spyglass.server.parent import die_with_parent

log = logging.getLogger(__name__)

Result = tuple[bytes, bytes, int] | str  # a Packet's parts, or why the datagram was refused


def transcode_many(datagrams: list[bytes], protocol: str) -> list[Result]:
    """Runs in a worker: each datagram transcoded, or the text of its DecodeError."""
    out: list[Result] = []
    for data in datagrams:
        try:
            p = transcode_agent_message(data, protocol)
        except DecodeError as exc:
            out.append(str(exc) or "undecodable")
            continue
        except Exception as exc:  # a transcoder bug: refuse the datagram, keep the worker
            out.append(f"transcoder failed: {type(exc).__name__}: {exc}")
            continue
        out.append((p.process, p.spans, p.count))
    return out


def _warm_up() -> None:
    """Imports done at start, not on the first batch."""


def _start_worker(agent: int) -> None:
    """Ctrl-C and SIGTERM reach the whole process group; the agent stops its workers itself
    after decoding what it had read, so a worker must not die first. An agent killed
    (SIGKILL) cannot stop them: they die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent(agent)


class DecoderPool:
    """``processes`` workers; ``decode_many(datagrams, protocol)`` transcodes a batch in one."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("--agent.decoder-processes must be at least 1 for a pool")
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        # start every worker now (each imports the codecs), so the first packets do not wait
        await asyncio.gather(*[loop.run_in_executor(self._executor, _warm_up) for _ in range(self.processes)])

    async def decode_many(self, datagrams: list[bytes], protocol: str) -> list[Packet | DecodeError]:
        """The datagrams' packets, in order; a refused datagram is its DecodeError."""
        if self._executor is None:
            raise RuntimeError("decoder pool not started")
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, transcode_many, datagrams, protocol)
        except BrokenProcessPool:  # a worker died (killed, out of memory): start them again
            log.error("an agent decoder process died; starting the pool again")
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            results = await loop.run_in_executor(self._executor, transcode_many, datagrams, protocol)
        return [Packet(*r) if type(r) is tuple else DecodeError(r) for r in results]

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(os.getpid(),))

    @property
    def in_flight_limit(self) -> int:
        """Batches worth keeping in flight: one working and one waiting per process."""
        return 2 * self.processes

    async def close(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
