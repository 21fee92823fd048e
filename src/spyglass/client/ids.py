"""Trace and span ID generators.

The tracer asks its generator for a trace ID per new trace and a span ID per child span
(a root span's ID is the low half of its trace ID, as Jaeger's Go client does, which saves
one random draw per trace).

``RandomIdGenerator`` is the default: 64- or 128-bit random trace IDs. ``random`` (not
``secrets``) is used because IDs must be unique, not unpredictable, and ``getrandbits`` is
~20x cheaper; the module re-seeds itself in forked children, so pre-fork servers do not
repeat IDs.

``SnowflakeIdGenerator`` makes trace IDs that sort by creation time: the high 64 bits are a
Snowflake number (41 bits of milliseconds since an epoch, 10 bits of worker ID, 12 bits of
sequence) and the low 64 bits are random. The low half stays random on purpose: Jaeger's
probabilistic samplers decide on the low 63 bits of the trace ID, and a time-ordered low
half would sample whole stretches of time or none of them. So time-ordered trace IDs are
always 128-bit.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import weakref

_U64 = (1 << 64) - 1
_getrandbits = random.getrandbits


class IdGenerator:
    """Makes IDs; both methods must return non-zero unsigned ints."""

    def new_trace_id(self) -> int:
        raise NotImplementedError

    def new_span_id(self) -> int:
        raise NotImplementedError


class RandomIdGenerator(IdGenerator):
    """Random 64-bit (default) or 128-bit trace IDs and random 64-bit span IDs."""

    def __init__(self, generate_128bit_trace_id: bool = False) -> None:
        self.bits = 128 if generate_128bit_trace_id else 64

    def new_trace_id(self) -> int:
        while True:
            value = _getrandbits(self.bits)
            if value & _U64:  # the low half doubles as the root span ID
                return value

    def new_span_id(self) -> int:
        return _getrandbits(64) or 1


# Snowflake layout of the high half: 1 zero bit | 41 bits ms | 10 bits worker | 12 bits seq.
_WORKER_BITS = 10
_SEQUENCE_BITS = 12
_MAX_WORKER = (1 << _WORKER_BITS) - 1
_MAX_SEQUENCE = (1 << _SEQUENCE_BITS) - 1
_MAX_MILLIS = (1 << 41) - 1
DEFAULT_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z; 41 bits of ms last ~69 years


def default_worker_id() -> int:
    """A worker ID from the host name and process ID, so that processes on one host and
    hosts in one fleet rarely collide (a collision only costs ordering ties, since the low
    half is random)."""
    return hash((socket.gethostname(), os.getpid())) & _MAX_WORKER


class SnowflakeIdGenerator(IdGenerator):
    """128-bit trace IDs whose high half is a Snowflake number (see the module docstring).

    When more than 4,096 IDs are needed within one millisecond, or the clock steps back,
    the generator moves its own notion of time forward instead of waiting, so it never
    blocks the application; ordering stays strictly increasing per generator.
    """

    def __init__(self, worker_id: int | None = None, epoch_ms: int = DEFAULT_EPOCH_MS) -> None:
        self._auto_worker = worker_id is None
        if worker_id is None:
            worker_id = default_worker_id()
        if not 0 <= worker_id <= _MAX_WORKER:
            raise ValueError(f"worker_id must be in [0, {_MAX_WORKER}], got {worker_id}")
        self.worker_id = worker_id
        self.epoch_ms = epoch_ms
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def next_snowflake(self) -> int:
        """The next 63-bit time-ordered number."""
        now = time.time_ns() // 1_000_000 - self.epoch_ms
        with self._lock:
            if now > self._last_ms:
                self._last_ms = now
                self._sequence = 0
            else:
                self._sequence += 1
                if self._sequence > _MAX_SEQUENCE:
                    self._last_ms += 1
                    self._sequence = 0
            ms, seq = self._last_ms, self._sequence
        return ((ms & _MAX_MILLIS) << (_WORKER_BITS + _SEQUENCE_BITS)) | (self.worker_id << _SEQUENCE_BITS) | seq

    def new_trace_id(self) -> int:
        return (self.next_snowflake() << 64) | (_getrandbits(64) or 1)

    def new_span_id(self) -> int:
        return _getrandbits(64) or 1

    def timestamp_ms(self, trace_id: int) -> int:
        """Unix milliseconds encoded in a trace ID made by this generator's layout."""
        return ((trace_id >> 64) >> (_WORKER_BITS + _SEQUENCE_BITS)) + self.epoch_ms


def _after_fork(ref: weakref.ref[SnowflakeIdGenerator]) -> None:
    """A forked child gets a new lock (the parent's may have been held) and, unless the
    worker ID was given explicitly, its own worker ID."""
    gen = ref()
    if gen is not None:
        gen._lock = threading.Lock()
        if gen._auto_worker:
            gen.worker_id = default_worker_id()
