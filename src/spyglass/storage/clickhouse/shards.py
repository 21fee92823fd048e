"""Which shard holds a trace, so a trace by ID is read from that shard alone.

Through a ``Distributed`` table every lookup goes to every shard: ClickHouse 18.16 has no
``optimize_skip_unused_shards``, so the server the reader talks to asks each shard and
merges their answers, and on a busy cluster the slowest shard sets the time. The spans'
sharding key is ``cityHash64(trace_hi, trace_lo)`` (``schema.py``), which this module
computes the way ClickHouse does, and ``Distributed`` maps a key to a shard by its weight
(``key % total weight``, each shard owning a run of that many slots in the cluster's order).
The reader then sends the two statements of a trace lookup to the owning shard's local
tables, on its replicas in the cluster's order (the first one that answers).

The map is used only when it was checked against the servers when the store opened
(``discover_shards``): the servers compute the same key, and at least one replica of every shard
answered at the address the cluster names and said it is that shard. Otherwise, whenever a
shard does not answer a direct read, and when the trace is not on its shard (spans written
before the cluster's shards or weights changed live where the old map put them), the reader
goes through the ``Distributed`` tables. A trace written partly before and partly after such
a change is split over two shards; its direct read sees only the part on the new one.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from spyglass.storage.clickhouse.config import ClickHouseConfig
from spyglass.storage.clickhouse.connection import ClickHouseUnavailable, Connector

log = logging.getLogger(__name__)

_U64 = (1 << 64) - 1
_INT_HASH_SALT = 0x4CF2D2BAAE6DA887  # ClickHouse's IntHash64Impl: intHash64(x ^ salt)
_MURMUR_1, _MURMUR_2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53  # intHash64: the murmur3 finalizer
_CITY_MUL = 0x9DDFEA08EB382D69  # CityHash v1.0.2 Hash128to64
_PROBE_TIMEOUT_S = 2.0


def _int_hash64(x: int) -> int:
    """``cityHash64`` of one UInt64 argument: ClickHouse hashes a number, not its bytes."""
    x ^= _INT_HASH_SALT
    x ^= x >> 33
    x = (x * _MURMUR_1) & _U64
    x ^= x >> 33
    x = (x * _MURMUR_2) & _U64
    return x ^ (x >> 33)


def _combine(low: int, high: int) -> int:
    """CityHash's ``Hash128to64``: how ``cityHash64`` folds each further argument in."""
    a = ((low ^ high) * _CITY_MUL) & _U64
    a ^= a >> 47
    b = ((high ^ a) * _CITY_MUL) & _U64
    b ^= b >> 47
    return (b * _CITY_MUL) & _U64


def sharding_key(trace_hi: int, trace_lo: int) -> int:
    """``cityHash64(trace_hi, trace_lo)`` for two UInt64 columns, as the servers compute it."""
    return _combine(_int_hash64(trace_hi), _int_hash64(trace_lo))


@dataclass(frozen=True, slots=True)
class Shard:
    number: int  # shard_num in system.clusters (from 1)
    weight: int
    replicas: tuple[tuple[str, int], ...]  # (host, native port), in the cluster's order


class ShardMap:
    """The shards of one cluster, in order, with their slots of the sharding key."""

    def __init__(self, cluster: str, shards: list[Shard]) -> None:
        self.cluster = cluster
        self.shards = shards
        self._slots = [shard for shard in shards for _ in range(shard.weight)]

    def shard_of(self, trace_hi: int, trace_lo: int) -> Shard:
        return self._slots[sharding_key(trace_hi, trace_lo) % len(self._slots)]


# (trace_hi, trace_lo) pairs whose key the servers must agree on: zero, the extremes, and
# values with high bits set (the unsigned arithmetic a port gets wrong first).
_KEY_SAMPLES = ((0, 0), (1, 2), (_U64, _U64), (0x8000000000000000, 1), (0x0123456789ABCDEF, 0xFEDCBA9876543210))


def _keys_agree(connector: Connector) -> bool:
    client = connector.client()
    try:
        for hi, lo in _KEY_SAMPLES:
            rows = connector.execute(client, "SELECT cityHash64(toUInt64(%(hi)s), toUInt64(%(lo)s))",
                                     {"hi": hi, "lo": lo})
            if rows[0][0] != sharding_key(hi, lo):
                return False
        return True
    finally:
        client.disconnect()


def _is_shard(config: ClickHouseConfig, address: tuple[str, int], shard: int) -> bool:
    """The server at ``address`` answers and is a replica of ``shard`` with our tables (not
    another server that the name happens to reach from here)."""
    host, port = address
    replica = Connector(dataclasses.replace(config, addresses=f"[{host}]:{port}", timeout=f"{_PROBE_TIMEOUT_S}s"))
    client = replica.client(database=config.database)
    try:
        rows = replica.execute(client, "SELECT shard_num FROM system.clusters WHERE cluster = %(c)s AND is_local = 1",
                               {"c": config.cluster})
        tables = replica.execute(client, "SELECT count() FROM system.tables WHERE database = %(d)s AND name = 'spans_local'",
                                 {"d": config.database})
    except ClickHouseUnavailable as exc:
        log.info("clickhouse: replica %s:%d of shard %d did not answer (%s)", host, port, shard, exc)
        return False
    finally:
        client.disconnect()
    return [r[0] for r in rows] == [shard] and tables[0][0] == 1


def discover_shards(connector: Connector) -> ShardMap | None:
    """The checked shard map of ``--clickhouse.cluster``, or None (reads go through the
    ``Distributed`` tables): without a cluster, with one shard (nothing to skip), or when a
    check fails (logged, so an operator sees why)."""
    config = connector.config
    if not config.cluster:
        return None
    client = connector.client()
    try:
        rows = connector.execute(
            client, "SELECT shard_num, shard_weight, host_name, port FROM system.clusters "
            "WHERE cluster = %(c)s ORDER BY shard_num, replica_num", {"c": config.cluster})
    finally:
        client.disconnect()
    replicas: dict[int, list[tuple[str, int]]] = {}
    weights: dict[int, int] = {}
    for number, weight, host, port in rows:
        replicas.setdefault(number, []).append((host, port))
        weights[number] = weight
    if len(replicas) < 2:
        return None
    if not _keys_agree(connector):
        log.warning("clickhouse: the servers compute another sharding key than this release; "
                    "traces by ID are read through the Distributed tables")
        return None
    shards = []
    for number, addresses in replicas.items():
        if not any(_is_shard(config, address, number) for address in addresses):
            log.warning("clickhouse: no replica of shard %d of cluster %s answered as that shard at the address "
                        "the cluster names; traces by ID are read through the Distributed tables",
                        number, config.cluster)
            return None
        shards.append(Shard(number, weights[number], tuple(addresses)))
    if not any(s.weight for s in shards):
        return None
    return ShardMap(config.cluster, shards)
